package live

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

// clientEvent is every client event earshot reads, in one shape.
type clientEvent struct {
	Type    string          `json:"type"`
	EventID string          `json:"event_id"`
	Audio   *string         `json:"audio"`
	Session json.RawMessage `json:"session"`
}

// settings is a session's configuration.
type settings struct {
	format   Format
	model    string
	language string
	prompt   string
	// turn is nil for manual commits (turn_detection: null).
	turn           *turnDetection
	noiseReduction string // "", near_field or far_field
	logprobs       bool
	// mode is the earshot extension: "agent" (or "clean") follows every
	// completed turn with an earshot.turn.agent event.
	mode string
}

type turnDetection struct {
	Type              string  `json:"type"`
	Threshold         float64 `json:"threshold"`
	PrefixPaddingMS   int     `json:"prefix_padding_ms"`
	SilenceDurationMS int     `json:"silence_duration_ms"`
	IdleTimeoutMS     *int    `json:"idle_timeout_ms"`
	Eagerness         string  `json:"eagerness,omitempty"`
	CreateResponse    *bool   `json:"create_response,omitempty"`
	InterruptResponse *bool   `json:"interrupt_response,omitempty"`
}

// defaultSettings are OpenAI's defaults for a transcription session.
func defaultSettings(model string) settings {
	return settings{format: PCM24k, model: model, turn: &turnDetection{Type: "server_vad", Threshold: 0.5, PrefixPaddingMS: 300, SilenceDurationMS: 500}}
}

// The GA session object (session.update's session, type "transcription").
type gaSession struct {
	Type  string `json:"type"`
	Audio *struct {
		Input *struct {
			Format         json.RawMessage `json:"format"`
			Transcription  json.RawMessage `json:"transcription"`
			NoiseReduction json.RawMessage `json:"noise_reduction"`
			TurnDetection  json.RawMessage `json:"turn_detection"`
		} `json:"input"`
		Output json.RawMessage `json:"output"`
	} `json:"audio"`
	Include []string        `json:"include"`
	Earshot json.RawMessage `json:"earshot"`
}

// The beta transcription session (transcription_session.update).
type betaSession struct {
	InputAudioFormat         *string         `json:"input_audio_format"`
	InputAudioTranscription  json.RawMessage `json:"input_audio_transcription"`
	InputAudioNoiseReduction json.RawMessage `json:"input_audio_noise_reduction"`
	TurnDetection            json.RawMessage `json:"turn_detection"`
	Include                  []string        `json:"include"`
	Earshot                  json.RawMessage `json:"earshot"`
}

type transcriptionConfig struct {
	Model    *string `json:"model"`
	Language *string `json:"language"`
	Prompt   *string `json:"prompt"`
}

func invalid(param, format string, args ...any) *pipeline.Error {
	return pipeline.InvalidParam(param, format, args...)
}

// present is whether a JSON field was sent (null counts: it turns a
// setting off).
func present(m json.RawMessage) bool { return len(m) > 0 }
func isNull(m json.RawMessage) bool  { return strings.TrimSpace(string(m)) == "null" }

// applyGA and applyBeta are s updated by a GA session.update or a beta
// transcription_session.update: s itself on error.
func (s settings) applyGA(raw json.RawMessage, models func(string) error) (settings, error) {
	return orig(s)(s.ga(raw, models))
}

func (s settings) applyBeta(raw json.RawMessage, models func(string) error) (settings, error) {
	return orig(s)(s.betaUpdate(raw, models))
}

func orig(s settings) func(settings, error) (settings, error) {
	return func(n settings, err error) (settings, error) {
		if err != nil {
			return s, err
		}
		return n, nil
	}
}

func (s settings) ga(raw json.RawMessage, models func(string) error) (settings, error) {
	var g gaSession
	if err := json.Unmarshal(raw, &g); err != nil {
		return s, invalid("session", "session is not a transcription session object: %s.", jsonReason(err))
	}
	switch g.Type {
	case "transcription", "":
	case "realtime":
		return s, invalid("session.type", "earshot serves transcription sessions only: send session.type \"transcription\" (speech-to-speech \"realtime\" sessions need a model earshot does not run).")
	default:
		return s, invalid("session.type", "session.type %q is not one earshot knows; use \"transcription\".", g.Type)
	}
	if g.Audio != nil && len(g.Audio.Output) > 0 && !isNull(g.Audio.Output) {
		return s, invalid("session.audio.output", "A transcription session has no audio output; leave session.audio.output out.")
	}
	if g.Audio != nil && g.Audio.Input != nil {
		in := g.Audio.Input
		if present(in.Format) {
			var f struct {
				Type string `json:"type"`
				Rate int    `json:"rate"`
			}
			if err := json.Unmarshal(in.Format, &f); err != nil {
				return s, invalid("session.audio.input.format", "session.audio.input.format must be an object such as {\"type\":\"audio/pcm\",\"rate\":24000}.")
			}
			switch {
			case f.Type == "audio/pcm" && (f.Rate == 24000 || f.Rate == 0):
				s.format = PCM24k
			case f.Type == "audio/pcm" && f.Rate == 16000:
				s.format = PCM16k
			case f.Type == "audio/pcm":
				return s, invalid("session.audio.input.format.rate", "audio/pcm is taken at 24000 Hz (OpenAI's rate) or 16000 Hz (earshot's extension), not %d.", f.Rate)
			case f.Type == "audio/pcmu" && (f.Rate == 0 || f.Rate == 8000):
				s.format = PCMU
			case f.Type == "audio/pcma" && (f.Rate == 0 || f.Rate == 8000):
				s.format = PCMA
			default:
				return s, invalid("session.audio.input.format.type", "Audio format %q at %d Hz is not one earshot takes: use audio/pcm (24 kHz, or 16 kHz), audio/pcmu or audio/pcma (8 kHz).", f.Type, f.Rate)
			}
		}
		var err error
		if s, err = s.applyTranscription(in.Transcription, "session.audio.input.transcription", models); err != nil {
			return s, err
		}
		if s, err = s.applyNoise(in.NoiseReduction, "session.audio.input.noise_reduction"); err != nil {
			return s, err
		}
		if s, err = s.applyTurn(in.TurnDetection, "session.audio.input.turn_detection", true); err != nil {
			return s, err
		}
	}
	return s.applyCommon(g.Include, g.Earshot)
}

func (s settings) betaUpdate(raw json.RawMessage, models func(string) error) (settings, error) {
	var b betaSession
	if err := json.Unmarshal(raw, &b); err != nil {
		return s, invalid("session", "session is not a transcription session object: %s.", jsonReason(err))
	}
	if b.InputAudioFormat != nil {
		f, ok := betaFormat(*b.InputAudioFormat)
		if !ok {
			return s, invalid("session.input_audio_format", "input_audio_format %q is not one earshot takes: use pcm16 (24 kHz), g711_ulaw or g711_alaw (8 kHz), or pcm16_16000.", *b.InputAudioFormat)
		}
		s.format = f
	}
	var err error
	if s, err = s.applyTranscription(b.InputAudioTranscription, "session.input_audio_transcription", models); err != nil {
		return s, err
	}
	if s, err = s.applyNoise(b.InputAudioNoiseReduction, "session.input_audio_noise_reduction"); err != nil {
		return s, err
	}
	if s, err = s.applyTurn(b.TurnDetection, "session.turn_detection", false); err != nil {
		return s, err
	}
	return s.applyCommon(b.Include, b.Earshot)
}

func (s settings) applyTranscription(raw json.RawMessage, param string, models func(string) error) (settings, error) {
	if !present(raw) || isNull(raw) {
		return s, nil
	}
	var t transcriptionConfig
	if err := json.Unmarshal(raw, &t); err != nil {
		return s, invalid(param, "%s must be an object with model, language and prompt: %s.", param, jsonReason(err))
	}
	if t.Model != nil && *t.Model != "" {
		if err := models(*t.Model); err != nil {
			e := *pipeline.Classify(err)
			e.Param = param + ".model"
			return s, &e
		}
		s.model = *t.Model
	}
	if t.Language != nil {
		o := transcribe.Options{Language: *t.Language}
		if err := o.Validate(); err != nil {
			e := *pipeline.Classify(err)
			e.Param = param + ".language"
			return s, &e
		}
		s.language = o.Language
	}
	if t.Prompt != nil {
		s.prompt = *t.Prompt
	}
	return s, nil
}

func (s settings) applyNoise(raw json.RawMessage, param string) (settings, error) {
	if !present(raw) {
		return s, nil
	}
	if isNull(raw) {
		s.noiseReduction = ""
		return s, nil
	}
	var n struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &n); err != nil || (n.Type != "near_field" && n.Type != "far_field") {
		return s, invalid(param+".type", "%s.type must be \"near_field\" or \"far_field\" (or the whole field null).", param)
	}
	s.noiseReduction = n.Type
	return s, nil
}

func (s settings) applyTurn(raw json.RawMessage, param string, semantic bool) (settings, error) {
	if !present(raw) {
		return s, nil
	}
	if isNull(raw) {
		s.turn = nil
		return s, nil
	}
	var t turnDetection
	if err := json.Unmarshal(raw, &t); err != nil {
		return s, invalid(param, "%s must be an object or null: %s.", param, jsonReason(err))
	}
	switch t.Type {
	case "server_vad", "":
		t.Type = "server_vad"
		if t.Threshold == 0 {
			t.Threshold = 0.5
		}
		if t.PrefixPaddingMS == 0 {
			t.PrefixPaddingMS = 300
		}
		if t.SilenceDurationMS == 0 {
			t.SilenceDurationMS = 500
		}
	case "semantic_vad":
		if !semantic {
			return s, invalid(param+".type", "The beta transcription session takes only server_vad; send semantic_vad in a GA session.update.")
		}
		switch t.Eagerness {
		case "":
			t.Eagerness = "auto"
		case "low", "medium", "high", "auto":
		default:
			return s, invalid(param+".eagerness", "eagerness %q is not low, medium, high or auto.", t.Eagerness)
		}
		t.Threshold, t.PrefixPaddingMS, t.SilenceDurationMS = 0.5, 300, 0
	default:
		return s, invalid(param+".type", "turn_detection.type %q is not server_vad or semantic_vad.", t.Type)
	}
	switch {
	case t.Threshold < 0 || t.Threshold > 1:
		return s, invalid(param+".threshold", "threshold %v is outside 0..1.", t.Threshold)
	case t.PrefixPaddingMS < 0 || t.PrefixPaddingMS > 5000:
		return s, invalid(param+".prefix_padding_ms", "prefix_padding_ms %d is outside 0..5000.", t.PrefixPaddingMS)
	case t.SilenceDurationMS < 0 || t.SilenceDurationMS > 10000:
		return s, invalid(param+".silence_duration_ms", "silence_duration_ms %d is outside 0..10000.", t.SilenceDurationMS)
	case t.IdleTimeoutMS != nil && (*t.IdleTimeoutMS < 5000 || *t.IdleTimeoutMS > 30000):
		return s, invalid(param+".idle_timeout_ms", "idle_timeout_ms %d is outside 5000..30000.", *t.IdleTimeoutMS)
	}
	s.turn = &t
	return s, nil
}

func (s settings) applyCommon(include []string, earshot json.RawMessage) (settings, error) {
	if include != nil {
		s.logprobs = false
		for _, v := range include {
			if v != "item.input_audio_transcription.logprobs" {
				return s, invalid("session.include", "include %q is not one earshot knows; the one it takes is item.input_audio_transcription.logprobs.", v)
			}
			s.logprobs = true
		}
	}
	if present(earshot) && !isNull(earshot) {
		var e struct {
			Mode *string `json:"mode"`
		}
		if err := json.Unmarshal(earshot, &e); err != nil {
			return s, invalid("session.earshot", "session.earshot must be an object such as {\"mode\":\"agent\"}.")
		}
		if e.Mode != nil {
			switch *e.Mode {
			case "", "raw":
				s.mode = ""
			case "agent", "clean":
				s.mode = *e.Mode
			default:
				return s, invalid("session.earshot.mode", "session.earshot.mode %q is not agent, clean or raw.", *e.Mode)
			}
		}
	} else if present(earshot) {
		s.mode = ""
	}
	return s, nil
}

// jsonReason is a JSON decoding error without Go's type names.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s should be a %s, not a %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "number"
	case k == "struct", k == "map", k == "ptr":
		return "object"
	case k == "slice":
		return "array"
	case k == "bool":
		return "boolean"
	}
	return k
}
