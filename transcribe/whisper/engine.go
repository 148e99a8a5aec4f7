package whisper

import "github.com/earshot-dev/earshot/transcribe"

// NewEngine loads the model at path and starts an engine on it: the one
// load-then-engine sequence that earshot serve, earshot mcp, earshot
// transcribe, the benchmark and the tests all use. The engine owns the
// model and closes it; on failure nothing is left open.
func NewEngine(path string, lo LoadOptions, eo transcribe.EngineOptions) (*transcribe.Engine, error) {
	m, err := Load(path, lo)
	if err != nil {
		return nil, err
	}
	e, err := transcribe.NewEngine(m, eo)
	if err != nil {
		m.Close()
		return nil, err
	}
	return e, nil
}
