// Package openai holds OpenAI's transcription wire shapes, as its published
// OpenAPI description defines them: json, text, srt, vtt and verbose_json
// responses, the usage object, and each error kind's HTTP status and error
// type. The HTTP API and live sessions answer in them, and so does the
// CLI's --format. It is pure Go and holds no state.
package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/earshot-dev/earshot/transcribe"
)

// ResponseFormats are the output formats of OpenAI's transcription API, which
// earshot's CLI and HTTP API both speak.
var ResponseFormats = []string{"json", "text", "srt", "vtt", "verbose_json"}

// ErrFormat is returned for a response format that is not one of ResponseFormats.
var ErrFormat = errors.New("openai: unknown response format")

// ContentType is the MIME type OpenAI's API sends for a response format:
// text/plain for text, srt and vtt, JSON otherwise.
func ContentType(format string) string {
	switch format {
	case "text", "srt", "vtt":
		return "text/plain; charset=utf-8"
	}
	return "application/json"
}

// Write writes r in one of ResponseFormats, as OpenAI's API shapes it:
// json is {"text": ...}; verbose_json adds the language's full name, the
// duration, segments, words (when computed) and usage.
func Write(w io.Writer, r *transcribe.Result, format string) error {
	switch format {
	case "json":
		return json.NewEncoder(w).Encode(JSON{Text: r.Text(), Usage: UsageOf(r)})
	case "verbose_json":
		return json.NewEncoder(w).Encode(VerboseOf(r))
	case "text":
		_, err := io.WriteString(w, r.Text()+"\n")
		return err
	case "srt", "vtt":
		_, err := io.WriteString(w, Subtitles(r, format))
		return err
	}
	return fmt.Errorf("%w %q (want one of %s)", ErrFormat, format, strings.Join(ResponseFormats, ", "))
}

// JSON is OpenAI's json transcription: the text, with the token log
// probabilities when include[]=logprobs asked for them and the detected
// language when languages[] restricted it.
type JSON struct {
	Text      string     `json:"text"`
	Languages []Language `json:"languages,omitempty"`
	Logprobs  []Logprob  `json:"logprobs,omitempty"`
	Usage     Usage      `json:"usage"`
}

// Language is a detected language, as OpenAI reports it.
type Language struct {
	Code string `json:"code"`
}

// Logprob is one token's log probability, with the token's bytes.
type Logprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// Logprobs are the text tokens of segs (special tokens left out).
func Logprobs(segs ...transcribe.Segment) []Logprob {
	out := []Logprob{}
	for _, s := range segs {
		for _, t := range s.Tokens {
			if t.Special {
				continue
			}
			b := make([]int, len(t.Text))
			for i := range len(t.Text) {
				b[i] = int(t.Text[i])
			}
			out = append(out, Logprob{Token: t.Text, Logprob: t.Logprob, Bytes: b})
		}
	}
	return out
}

// TokenUsage is OpenAI's usage object for models billed by tokens, which
// its stream's done event carries: whisper's encoder turns every 30 s of
// audio into 1500 audio tokens (50 a second), the prompt is text tokens,
// and the output is the text tokens decoded.
type TokenUsage struct {
	Type         string `json:"type"`
	InputTokens  int    `json:"input_tokens"`
	InputDetails struct {
		TextTokens  int `json:"text_tokens"`
		AudioTokens int `json:"audio_tokens"`
	} `json:"input_token_details"`
	OutputTokens int `json:"output_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// TokenUsageOf counts r's tokens.
func TokenUsageOf(r *transcribe.Result) TokenUsage {
	u := TokenUsage{Type: "tokens"}
	u.InputDetails.TextTokens = r.PromptTokens
	u.InputDetails.AudioTokens = int(math.Ceil(r.Duration * 50))
	u.InputTokens = u.InputDetails.TextTokens + u.InputDetails.AudioTokens
	u.OutputTokens = len(Logprobs(r.Segments...))
	u.TotalTokens = u.InputTokens + u.OutputTokens
	return u
}

// Usage is OpenAI's usage object for audio billed by duration.
type Usage struct {
	Type    string  `json:"type"`
	Seconds float64 `json:"seconds"`
}

// UsageOf reports the audio's duration, rounded up to whole seconds as OpenAI does.
func UsageOf(r *transcribe.Result) Usage {
	return Usage{Type: "duration", Seconds: math.Ceil(r.Duration)}
}

// Verbose is OpenAI's verbose_json transcription.
type Verbose struct {
	Task     string            `json:"task"`
	Language string            `json:"language"` // full name: "english"
	Duration float64           `json:"duration"`
	Text     string            `json:"text"`
	Segments []VerboseSegment  `json:"segments"`
	Words    []transcribe.Word `json:"words,omitempty"`
	Usage    Usage             `json:"usage"`
}

// VerboseSegment is a segment in OpenAI's shape.
type VerboseSegment struct {
	ID               int     `json:"id"`
	Seek             int     `json:"seek"`
	Start            float64 `json:"start"`
	End              float64 `json:"end"`
	Text             string  `json:"text"`
	Tokens           []int   `json:"tokens"`
	Temperature      float64 `json:"temperature"`
	AvgLogprob       float64 `json:"avg_logprob"`
	CompressionRatio float64 `json:"compression_ratio"`
	NoSpeechProb     float64 `json:"no_speech_prob"`
}

// VerboseOf converts r to OpenAI's verbose_json shape. Words are included
// only when token timestamps were computed.
func VerboseOf(r *transcribe.Result) Verbose {
	name, ok := transcribe.LanguageName(r.Language)
	if !ok {
		name = r.Language
	}
	v := Verbose{
		Task:     "transcribe",
		Language: name,
		Duration: r.Duration,
		Text:     r.Text(),
		Segments: make([]VerboseSegment, 0, len(r.Segments)),
		Words:    r.Words,
		Usage:    UsageOf(r),
	}
	for _, s := range r.Segments {
		ids := make([]int, 0, len(s.Tokens))
		for _, t := range s.Tokens {
			if !t.Special {
				ids = append(ids, t.ID)
			}
		}
		v.Segments = append(v.Segments, VerboseSegment{
			ID:               s.ID,
			Seek:             int(s.Start*100) / 3000 * 3000, // start of the 30 s window, in centiseconds
			Start:            s.Start,
			End:              s.End,
			Text:             s.Text,
			Tokens:           ids,
			Temperature:      s.Temperature,
			AvgLogprob:       s.AvgLogprob,
			CompressionRatio: math.Round(transcribe.CompressionRatio(s.Text)*1000) / 1000,
			NoSpeechProb:     s.NoSpeechProb,
		})
	}
	return v
}

// Subtitles renders the segments as SubRip ("srt") or WebVTT ("vtt").
func Subtitles(r *transcribe.Result, format string) string {
	var b strings.Builder
	vtt := format == "vtt"
	if vtt {
		b.WriteString("WEBVTT\n\n")
	}
	n := 0
	for _, s := range r.Segments {
		text := strings.TrimSpace(s.Text)
		if text == "" {
			continue
		}
		n++
		if !vtt {
			fmt.Fprintf(&b, "%d\n", n)
		}
		fmt.Fprintf(&b, "%s --> %s\n%s\n\n", timestamp(s.Start, vtt), timestamp(s.End, vtt), text)
	}
	return b.String()
}

func timestamp(sec float64, vtt bool) string {
	ms := int64(math.Round(sec * 1000))
	h, m, s := ms/3600000, ms/60000%60, ms/1000%60
	sep := ","
	if vtt {
		sep = "."
	}
	return fmt.Sprintf("%02d:%02d:%02d%s%03d", h, m, s, sep, ms%1000)
}
