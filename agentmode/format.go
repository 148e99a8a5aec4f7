package agentmode

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/earshot-dev/earshot/agentmode/boundary"
	"github.com/earshot-dev/earshot/agentmode/repair"
	"github.com/earshot-dev/earshot/agentmode/tokens"
	"github.com/earshot-dev/earshot/transcribe"
)

// Mode is how a transcript is shaped.
type Mode string

// The three modes.
const (
	Raw   Mode = "raw"   // everything whisper produced, verbatim
	Clean Mode = "clean" // readable: fillers and repetitions out, paragraphs
	Agent Mode = "agent" // for an LLM: clean, repairs resolved, intents
)

// ParseMode reads a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case Raw, Clean, Agent:
		return m, nil
	}
	return "", invalidf("mode", "mode %q is not one of raw, clean, agent", s)
}

// optionError is an ErrInvalid that names the option it is about, for the
// surfaces' errors (HTTP's "param").
type optionError struct{ param, reason string }

func (e *optionError) Error() string     { return ErrInvalid.Error() + ": " + e.reason }
func (e *optionError) Unwrap() error     { return ErrInvalid }
func (e *optionError) Parameter() string { return e.param }

func invalidf(param, format string, args ...any) error {
	return &optionError{param, fmt.Sprintf(format, args...)}
}

// Errors. Each is wrapped with details; test with errors.Is.
var (
	// ErrInvalid is a bad option: an unknown mode or encoding, a negative
	// budget, a cursor that does not belong to this transcript.
	ErrInvalid = errors.New("agentmode: invalid options")
	// ErrBudget means max_tokens is too small for even the smallest answer
	// (the JSON skeleton and one word).
	ErrBudget = errors.New("agentmode: token budget too small")
)

// Options say how to format.
type Options struct {
	Mode Mode
	// MaxTokens bounds the size of the JSON, counted with Encoding
	// (0: no bound). What does not fit is left for the next page: see
	// Output.Next and Cursor.
	MaxTokens int
	// Encoding is the tiktoken encoding tokens are counted with
	// (default tokens.Default, o200k_base).
	Encoding string
	// Cursor continues a truncated output where it stopped: pass the
	// "next" of the page before. Empty starts at the beginning.
	Cursor string
	// Words adds each word with its time and probability to clean and
	// agent output (raw output always has them when whisper computed them).
	Words bool
	// Language is the transcript's language code when the input does not
	// say ("" for text: English).
	Language string
	// TranscriptID, when set, is included as "transcript_id" (and counted).
	TranscriptID string
	// MinConfidence is the least confidence, between 0 and 1, that agent
	// and clean mode need to remove words or (agent) to split one request
	// from the next; 0 means DefaultMinConfidence. Higher keeps more words
	// and more requests together (precision over recall), lower edits and
	// splits more. Every removal and boundary made states its confidence.
	// On HTTP and MCP it is the request option "min_confidence".
	MinConfidence float64
}

// DefaultMinConfidence is the line edits and boundaries must pass when
// Options.MinConfidence is 0: an edit is made when the models think it
// more likely right than wrong.
const DefaultMinConfidence = 0.5

// Output is a formatted transcript.
type Output struct {
	// JSON is the document to hand over, exactly as counted: Tokens is
	// the number of tokens of these bytes.
	JSON      []byte
	Tokens    int
	Truncated bool
	// Next is the cursor of the following page when Truncated.
	Next string
}

// Formatter formats transcripts. It is safe for concurrent use and holds
// nothing to close. Token encodings are loaded on first use and kept.
type Formatter struct {
	repair *repair.Model
	split  *boundary.Model

	mu   sync.Mutex
	encs map[string]*tokens.Encoding
}

// New loads the repair and boundary models built into earshot.
func New() (*Formatter, error) {
	m, err := repair.Load()
	if err != nil {
		return nil, err
	}
	b, err := boundary.Load()
	if err != nil {
		return nil, err
	}
	return NewWith(m, b), nil
}

// NewWith makes a Formatter with other models (earshot-eval uses it to
// measure models on data they were not trained on).
func NewWith(m *repair.Model, b *boundary.Model) *Formatter {
	return &Formatter{repair: m, split: b, encs: map[string]*tokens.Encoding{}}
}

// Encoding returns a loaded token encoding ("" is the default).
func (f *Formatter) Encoding(name string) (*tokens.Encoding, error) {
	if name == "" {
		name = tokens.Default
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.encs[name]; ok {
		return e, nil
	}
	e, err := tokens.Load(name)
	if err != nil {
		if errors.Is(err, tokens.ErrUnknownEncoding) {
			return nil, invalidf("encoding", "%v", err)
		}
		return nil, err
	}
	f.encs[name] = e
	return e, nil
}

// Format shapes a transcription.
func (f *Formatter) Format(res *transcribe.Result, opts Options) (*Output, error) {
	if opts.Language == "" {
		opts.Language = res.Language
	}
	in := input{res: res, language: opts.Language, duration: res.Duration, hasDuration: true}
	in.words, in.wordTimed = resultWords(res)
	in.timing = "segment"
	if in.wordTimed {
		in.timing = "word"
	}
	return f.format(in, opts)
}

// FormatText shapes plain text (a transcript from elsewhere) in clean or
// agent mode; raw mode needs a transcription and is an ErrInvalid here.
func (f *Formatter) FormatText(text string, opts Options) (*Output, error) {
	return f.format(input{words: textWords(text), language: opts.Language}, opts)
}

// input is what is being formatted, whichever way it came.
type input struct {
	res         *transcribe.Result // nil for text
	words       []word
	wordTimed   bool
	timing      string // "word", "segment" or "" (text)
	language    string
	duration    float64
	hasDuration bool
}

func (in input) english() bool {
	l := strings.ToLower(in.language)
	return l == "" || l == "en" || l == "english"
}

func (f *Formatter) format(in input, opts Options) (*Output, error) {
	if opts.Mode == "" {
		opts.Mode = Agent
	}
	if _, err := ParseMode(string(opts.Mode)); err != nil {
		return nil, err
	}
	if opts.MaxTokens < 0 {
		return nil, invalidf("max_tokens", "max_tokens %d is negative", opts.MaxTokens)
	}
	if !(opts.MinConfidence >= 0 && opts.MinConfidence <= 1) {
		return nil, invalidf("min_confidence", "min_confidence %v is not between 0 and 1", opts.MinConfidence)
	}
	enc, err := f.Encoding(opts.Encoding)
	if err != nil {
		return nil, err
	}
	var p pager
	switch opts.Mode {
	case Raw:
		if in.res == nil {
			return nil, invalidf("mode", "raw mode is whisper's own output and needs a transcription, not text; use clean or agent")
		}
		p = rawPager(in, opts)
	default:
		d := f.edit(in.words, opts, in.english())
		p = textPager(in, d, opts)
	}
	return fit(p, enc, opts)
}

// edit runs the edits of a mode until they change nothing: removing words
// can bring new repetitions or repairs together, and running the result
// again must give the same result (agent(agent(x)) == agent(x)).
func (f *Formatter) edit(ws []word, opts Options, english bool) *doc {
	mode := opts.Mode
	d := newDoc(ws)
	d.split = f.split
	if opts.MinConfidence > 0 {
		d.minConf = opts.MinConfidence
	}
	// Mend casing and the final mark first: then a transcript with nothing
	// to remove settles in one round instead of two.
	d.render(english)
	for round := 0; round < 8; round++ {
		d.changed = false
		d.repetitions(english)
		if english {
			if mode == Agent {
				d.repairs(f.repair)
			}
			d.fillers()
			d.discourse()
		}
		d.render(english)
		if mode == Agent {
			d.segment()
			d.render(english)
		}
		if !d.changed {
			break
		}
	}
	return d
}

//go:embed schema.json
var schema []byte

// Schema is the JSON Schema of every mode's output.
func Schema() []byte { return append([]byte(nil), schema...) }

// compiledSchema is schema.json compiled, once, for Validate.
var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("schema.json")
})

// Validate checks a document against the output's JSON Schema (for tests
// and for clients that want to be sure of what they got).
func Validate(doc []byte) error {
	s, err := compiledSchema()
	if err != nil {
		return fmt.Errorf("agentmode: compiling schema.json: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("agentmode: not JSON: %w", err)
	}
	return s.Validate(v)
}
