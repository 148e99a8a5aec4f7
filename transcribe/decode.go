package transcribe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// ErrNotTranscript is returned by DecodeJSON for JSON that holds no
// segments (plain {"text": ...} included: that is text, not a transcription).
var ErrNotTranscript = errors.New("transcribe: not a transcription with segments")

// DecodeJSON reads a transcription written as JSON by earshot or by
// OpenAI: a Result (earshot's raw mode, /v1/transcriptions mode=raw), or
// OpenAI's verbose_json (segments whose tokens are ids, words, a language
// name). Segment and word times must be finite and not negative.
func DecodeJSON(b []byte) (*Result, error) {
	var doc struct {
		Language     string  `json:"language"`
		LanguageProb float32 `json:"language_probability"`
		Duration     float64 `json:"duration"`
		Segments     []struct {
			ID           int             `json:"id"`
			Start        float64         `json:"start"`
			End          float64         `json:"end"`
			Text         string          `json:"text"`
			Tokens       json.RawMessage `json:"tokens"`
			AvgLogprob   float64         `json:"avg_logprob"`
			NoSpeechProb float64         `json:"no_speech_prob"`
			Temperature  float64         `json:"temperature"`
		} `json:"segments"`
		Words []Word `json:"words"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotTranscript, err)
	}
	if len(doc.Segments) == 0 {
		return nil, ErrNotTranscript
	}
	res := &Result{LanguageProb: doc.LanguageProb, Duration: doc.Duration, Words: doc.Words}
	if doc.Language != "" {
		code, ok := LanguageCode(doc.Language)
		if !ok {
			return nil, fmt.Errorf("%w: unknown language %q", ErrNotTranscript, doc.Language)
		}
		res.Language = code
	}
	bad := func(v ...float64) bool {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
				return true
			}
		}
		return false
	}
	for i, s := range doc.Segments {
		if bad(s.Start, s.End) {
			return nil, fmt.Errorf("%w: segment %d has times %v..%v", ErrNotTranscript, i, s.Start, s.End)
		}
		seg := Segment{ID: s.ID, Start: s.Start, End: s.End, Text: s.Text, AvgLogprob: s.AvgLogprob,
			NoSpeechProb: s.NoSpeechProb, Temperature: s.Temperature}
		// earshot's tokens are objects; OpenAI's are ids, which carry no
		// text: such a segment is rebuilt as one token with its text and no
		// probability (0: unknown).
		var toks []Token
		if err := json.Unmarshal(s.Tokens, &toks); err != nil || len(toks) == 0 {
			toks = []Token{{Text: s.Text, Start: s.Start, End: s.End}}
		}
		seg.Tokens = toks
		res.Segments = append(res.Segments, seg)
		res.Duration = max(res.Duration, s.End)
	}
	for i, w := range res.Words {
		if bad(w.Start, w.End, w.Probability) {
			return nil, fmt.Errorf("%w: word %d has times %v..%v", ErrNotTranscript, i, w.Start, w.End)
		}
	}
	return res, nil
}
