package openai_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/earshot-dev/earshot/httpapi/openai"
	"github.com/earshot-dev/earshot/transcribe"
)

func sample() *transcribe.Result {
	return &transcribe.Result{
		Language: "en", LanguageProb: 0.9, Duration: 3661.5,
		Segments: []transcribe.Segment{
			{ID: 0, Start: 0, End: 1.5, Text: " Hello there.", Tokens: []transcribe.Token{
				{ID: 50364, Text: "[_BEG_]", Special: true},
				{ID: 15947, Text: " Hello", P: 0.9, Start: 0, End: 0.7},
				{ID: 456, Text: " there", P: 0.8, Start: 0.7, End: 1.2},
				{ID: 13, Text: ".", P: 0.7, Start: 1.2, End: 1.5},
			}},
			{ID: 1, Start: 3600, End: 3661.5, Text: " Bye.", Tokens: []transcribe.Token{
				{ID: 1, Text: " By", P: 0.5, Start: 3600, End: 3601},
				{ID: 2, Text: "e", P: 0.7, Start: 3601, End: 3602},
				{ID: 3, Text: ".", P: 0.9, Start: 3602, End: 3661.5},
			}},
		},
	}
}

func TestWrite(t *testing.T) {
	tests := []struct {
		format string
		want   string
	}{
		{"text", "Hello there. Bye.\n"},
		{"json", `{"text":"Hello there. Bye.","usage":{"type":"duration","seconds":3662}}` + "\n"},
		{"srt", "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n01:00:00,000 --> 01:01:01,500\nBye.\n\n"},
		{"vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n01:00:00.000 --> 01:01:01.500\nBye.\n\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := openai.Write(&b, sample(), tt.format); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.format, got, tt.want)
		}
	}
	if err := openai.Write(&bytes.Buffer{}, sample(), "xml"); !errors.Is(err, openai.ErrFormat) {
		t.Errorf("xml: err = %v, want ErrFormat", err)
	}
}

func TestVerboseShape(t *testing.T) {
	r := sample()
	r.Words = transcribe.Words(r.Segments)
	var b bytes.Buffer
	if err := openai.Write(&b, r, "verbose_json"); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v["language"] != "english" || v["task"] != "transcribe" || v["text"] != "Hello there. Bye." {
		t.Errorf("top level: %v", v)
	}
	segs := v["segments"].([]any)
	seg := segs[1].(map[string]any)
	for _, k := range []string{"id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob"} {
		if _, ok := seg[k]; !ok {
			t.Errorf("segment lacks %q", k)
		}
	}
	if seek := seg["seek"].(float64); seek != 360000 {
		t.Errorf("seek = %v, want 360000 (window start in centiseconds)", seek)
	}
	if toks := segs[0].(map[string]any)["tokens"].([]any); len(toks) != 3 {
		t.Errorf("tokens %v: special tokens must not be listed", toks)
	}
	words := v["words"].([]any)
	if len(words) != 3 {
		t.Fatalf("words = %v", words)
	}
	if w := words[2].(map[string]any); w["word"] != "Bye." || w["start"] != 3600.0 || w["end"] != 3661.5 {
		t.Errorf("last word %v", w)
	}
	if u := v["usage"].(map[string]any); u["type"] != "duration" || u["seconds"] != 3662.0 {
		t.Errorf("usage %v", u)
	}
}
