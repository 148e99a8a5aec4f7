package transcribe

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// SampleRate is the only sample rate the engine accepts: 16 kHz mono float32
// in [-1, 1], as whisper expects. transcribe/audio converts everything else.
const SampleRate = 16000

// Limits on request options; they keep C away from values it cannot handle.
const (
	MaxBeamSize  = 16
	MaxBestOf    = 16
	MaxThreads   = 256
	MaxPromptLen = 8192 // bytes; whisper keeps at most n_text_ctx/2 prompt tokens anyway
)

// Options says how to transcribe. The zero value is greedy decoding at
// temperature 0 with whisper's fallback, auto-detected language and segment
// timestamps.
type Options struct {
	// Language is a code ("en") or full name ("english"); empty or "auto"
	// detects it from the first 30 seconds.
	Language string `json:"language,omitempty"`
	// Translate produces English text from speech in any language.
	Translate bool `json:"translate,omitempty"`
	// Prompt is text that conditions the decoder (spelling of names, style).
	Prompt string `json:"prompt,omitempty"`
	// Languages, when Language is empty, are the candidates detection may
	// choose from (codes, names or tags, as Language).
	Languages []string `json:"languages,omitempty"`
	// Keywords are words and phrases to bias decoding towards. They go
	// before the prompt in whisper's initial prompt, as many as fit in its
	// budget (n_text_ctx/2 tokens); Result.DroppedKeywords lists the rest.
	Keywords []string `json:"keywords,omitempty"`
	// Temperature is the first decoding temperature, 0..1.
	Temperature float32 `json:"temperature,omitempty"`
	// NoContext decodes each 30 s window without the text of the one
	// before as its prompt: slower to converge on names, but a repetition
	// loop cannot carry over.
	NoContext bool `json:"no_context,omitempty"`
	// NoFallback disables whisper's temperature fallback (retrying a window
	// at higher temperature when its output looks unreliable).
	NoFallback bool `json:"no_fallback,omitempty"`
	// BeamSize > 1 selects beam search with that many beams; 0 or 1 is greedy.
	BeamSize int `json:"beam_size,omitempty"`
	// BestOf is the number of candidates sampled when temperature > 0 (default 5).
	BestOf int `json:"best_of,omitempty"`
	// TokenTimestamps computes a start and end time for every token, and so
	// for every word. It costs a little decode time.
	TokenTimestamps bool `json:"token_timestamps,omitempty"`
	// Offset and Duration select part of the audio (Duration 0 = to the end).
	Offset   time.Duration `json:"offset,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	// MaxSegmentLen limits a segment to that many characters (0 = no limit);
	// SplitOnWord makes such splits fall between words, not inside them.
	// Both need token timestamps, which they turn on.
	MaxSegmentLen int  `json:"max_segment_len,omitempty"`
	SplitOnWord   bool `json:"split_on_word,omitempty"`
	// Threads used by this request (0 = the engine's default).
	Threads int `json:"threads,omitempty"`
	// ShortWindow is for a few seconds of audio decoded again and again as
	// it grows (live turns). whisper.cpp encodes a whole 30 s window
	// however short the audio; with ShortWindow it encodes only the part
	// the audio fills (whisper's audio_ctx, with a margin), writes one
	// segment and stops after a number of tokens bounded by the audio's
	// length, so a 3 s window costs a fraction of a 30 s one. Accuracy
	// near the end of the window may drop a little; audio of 30 s or more
	// is decoded as usual.
	ShortWindow bool `json:"short_window,omitempty"`
}

// Validate checks the options without touching the model. It normalizes
// Language to a code, so call it on the copy you will use. A bad option is
// an *OptionError naming it (errors.Is(err, ErrInvalidOptions) holds).
func (o *Options) Validate() error {
	code, err := ParseLanguage(o.Language)
	if err != nil {
		return err
	}
	o.Language = code
	for i, l := range o.Languages {
		code, err := ParseLanguage(l)
		if err != nil {
			return &OptionError{Param: "languages[]", Reason: err.Error()}
		}
		if code == "" {
			return optionErrorf("languages[]", "languages[] lists a language to choose from, not %q", l)
		}
		o.Languages[i] = code
	}
	keywordBytes := 0
	for _, k := range o.Keywords {
		keywordBytes += len(k)
		if strings.IndexByte(k, 0) >= 0 {
			return optionErrorf("keywords[]", "a keyword contains a NUL byte")
		}
	}
	if keywordBytes > MaxPromptLen {
		return optionErrorf("keywords[]", "keywords are %d bytes, more than %d", keywordBytes, MaxPromptLen)
	}
	switch {
	case math.IsNaN(float64(o.Temperature)) || o.Temperature < 0 || o.Temperature > 1:
		return optionErrorf("temperature", "temperature %v is outside 0..1", o.Temperature)
	case o.BeamSize < 0 || o.BeamSize > MaxBeamSize:
		return optionErrorf("beam_size", "beam size %d is outside 0..%d", o.BeamSize, MaxBeamSize)
	case o.BestOf < 0 || o.BestOf > MaxBestOf:
		return optionErrorf("best_of", "best-of %d is outside 0..%d", o.BestOf, MaxBestOf)
	case o.Offset < 0:
		return optionErrorf("offset", "offset must not be negative")
	case o.Duration < 0:
		return optionErrorf("duration", "duration must not be negative")
	case o.MaxSegmentLen < 0:
		return optionErrorf("max_segment_len", "max segment length %d is negative", o.MaxSegmentLen)
	case o.Threads < 0 || o.Threads > MaxThreads:
		return optionErrorf("threads", "threads %d is outside 0..%d", o.Threads, MaxThreads)
	case len(o.Prompt) > MaxPromptLen:
		return optionErrorf("prompt", "prompt is %d bytes, more than %d", len(o.Prompt), MaxPromptLen)
	case strings.IndexByte(o.Prompt, 0) >= 0:
		return optionErrorf("prompt", "prompt contains a NUL byte")
	}
	return nil
}

// OptionError is an invalid option: which one (Param, in the snake_case
// names OpenAI's API and earshot's surfaces use) and why, in a sentence
// fragment without a package prefix.
type OptionError struct {
	Param  string
	Reason string
}

func (e *OptionError) Error() string { return ErrInvalidOptions.Error() + ": " + e.Reason }

// Parameter is the option's name; the pipeline reads it from any error
// that has this method.
func (e *OptionError) Parameter() string { return e.Param }

// Unwrap makes errors.Is(err, ErrInvalidOptions) hold.
func (e *OptionError) Unwrap() error { return ErrInvalidOptions }

func optionErrorf(param, format string, args ...any) error {
	return &OptionError{Param: param, Reason: fmt.Sprintf(format, args...)}
}

// Request is one transcription: audio and how to handle it.
type Request struct {
	// Samples is 16 kHz mono audio in [-1, 1]. The engine does not keep or
	// change it after Transcribe returns.
	Samples []float32
	Options Options
	// OnSegment, if set, is called with each segment as soon as whisper has
	// decoded it, in order. Returning an error stops the transcription, and
	// Transcribe returns that error.
	OnSegment func(Segment) error
	// OnProgress, if set, is called with the percentage of the audio done
	// (0..100), never decreasing.
	OnProgress func(percent int)
}

// Result is a finished transcription.
type Result struct {
	// Language is the code of the language spoken (given or detected) and
	// LanguageProb whisper's probability for it (1 when it was given).
	Language     string  `json:"language"`
	LanguageProb float32 `json:"language_probability"`
	// Duration is the length of the audio in seconds.
	Duration float64   `json:"duration"`
	Segments []Segment `json:"segments"`
	// Words are derived from token timestamps; empty unless
	// Options.TokenTimestamps was set.
	Words []Word `json:"words,omitempty"`
	// PromptTokens is the length of the initial prompt whisper was given
	// (keywords and prompt), in whisper's tokens.
	PromptTokens int `json:"prompt_tokens,omitempty"`
	// DroppedKeywords are Options.Keywords that did not fit in whisper's
	// prompt budget and were not used.
	DroppedKeywords []string `json:"dropped_keywords,omitempty"`
	// VAD names the voice activity detector that chose what whisper heard
	// ("" when none ran), and Speech are the regions it found, in the
	// audio's time. No regions: whisper did not run, the text is empty.
	VAD    string   `json:"vad,omitempty"`
	Speech []Speech `json:"speech,omitempty"`
	// Chunks is how many pieces, cut at pauses, the audio was decoded in
	// (0 or 1: one piece).
	Chunks int `json:"chunks,omitempty"`
	// Dropped are segments left out of the transcript, with why: whisper's
	// own no-speech test (no_speech_prob over 0.6 with avg_logprob under
	// -1), as whisper's reference implementation drops them.
	Dropped []DroppedSegment `json:"dropped,omitempty"`
	Timings Timings          `json:"timings"`
}

// Text is the transcript as one string, segments joined as whisper spoke
// them (each segment's text keeps its own leading space), trimmed.
func (r *Result) Text() string {
	var b strings.Builder
	for _, s := range r.Segments {
		b.WriteString(s.Text)
	}
	return strings.TrimSpace(b.String())
}

// Segment is a stretch of speech whisper decoded as one unit.
type Segment struct {
	ID    int     `json:"id"`
	Start float64 `json:"start"` // seconds from the start of the audio
	End   float64 `json:"end"`
	Text  string  `json:"text"`
	// Tokens are every token whisper emitted for the segment, special
	// tokens (timestamps, end of text) included and marked.
	Tokens       []Token `json:"tokens"`
	AvgLogprob   float64 `json:"avg_logprob"`
	NoSpeechProb float64 `json:"no_speech_prob"`
	// Temperature is the request's first decoding temperature; whisper.cpp
	// does not report which fallback temperature a window finally used.
	Temperature float64 `json:"temperature"`
	// Repetition is set when the segment's text looks like a decoding
	// loop even after a retry without context; the text is kept.
	Repetition *Repetition `json:"repetition,omitempty"`
}

// DroppedSegment is a segment whisper decoded that the transcript leaves out.
type DroppedSegment struct {
	Segment Segment `json:"segment"`
	Reason  string  `json:"reason"`
}

// Token is one decoded token.
type Token struct {
	ID      int     `json:"id"`
	Text    string  `json:"text"`
	P       float64 `json:"p"`
	Logprob float64 `json:"logprob"`
	// Start and End are seconds; they are meaningful only with token
	// timestamps, and equal to the segment's bounds otherwise.
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Special bool    `json:"special,omitempty"`
}

// Word is a word assembled from the tokens that spell it.
type Word struct {
	Word        string  `json:"word"`
	Start       float64 `json:"start"`
	End         float64 `json:"end"`
	Probability float64 `json:"probability"`
}

// Timings says where a request's time went, in milliseconds.
type Timings struct {
	// Queue is the wait for a free worker.
	QueueMS float64 `json:"queue_ms"`
	// Encode is the audio encoder (and language detection), Decode the text
	// decoder and everything else inside whisper, Total the whole request
	// after the queue.
	EncodeMS float64 `json:"encode_ms"`
	DecodeMS float64 `json:"decode_ms"`
	TotalMS  float64 `json:"total_ms"`
}
