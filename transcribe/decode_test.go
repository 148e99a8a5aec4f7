package transcribe_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/earshot-dev/earshot/httpapi/openai"
	"github.com/earshot-dev/earshot/transcribe"
)

func decodeSample() *transcribe.Result {
	segs := []transcribe.Segment{
		{ID: 0, Start: 0, End: 2, Text: " Book a table.", Tokens: []transcribe.Token{
			{ID: 50364, Text: "[_BEG_]", Special: true}, {ID: 5, Text: " Book", P: 0.9, Start: 0, End: 0.5},
			{ID: 6, Text: " a", P: 0.8, Start: 0.5, End: 0.7}, {ID: 7, Text: " table.", P: 0.7, Start: 0.7, End: 2}}},
	}
	return &transcribe.Result{Language: "en", LanguageProb: 1, Duration: 2, Segments: segs, Words: transcribe.Words(segs)}
}

func TestDecodeJSON(t *testing.T) {
	res := decodeSample()
	raw, _ := json.Marshal(res)
	verbose, _ := json.Marshal(openai.VerboseOf(res))
	for _, tc := range []struct {
		name  string
		in    []byte
		words int
		err   error
	}{
		{"earshot raw", raw, 3, nil},
		{"openai verbose_json", verbose, 3, nil},
		{"text only", []byte(`{"text":"Book a table."}`), 0, transcribe.ErrNotTranscript},
		{"not json", []byte(`Book a table.`), 0, transcribe.ErrNotTranscript},
		{"bad language", []byte(`{"language":"klingon","segments":[{"start":0,"end":1,"text":"x"}]}`), 0, transcribe.ErrNotTranscript},
		{"negative time", []byte(`{"segments":[{"start":-1,"end":1,"text":"x"}]}`), 0, transcribe.ErrNotTranscript},
	} {
		got, err := transcribe.DecodeJSON(tc.in)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if got.Text() != res.Text() || got.Language != "en" || len(got.Words) != tc.words {
			t.Errorf("%s: text %q, language %q, %d words", tc.name, got.Text(), got.Language, len(got.Words))
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	raw, _ := json.Marshal(decodeSample())
	f.Add(raw)
	f.Add([]byte(`{"segments":[{"start":0,"end":1,"text":"x","tokens":[1,2]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := transcribe.DecodeJSON(b)
		if err != nil {
			if !errors.Is(err, transcribe.ErrNotTranscript) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(res.Segments) == 0 {
			t.Fatal("no segments without an error")
		}
		_ = res.Text()
	})
}
