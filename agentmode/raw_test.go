package agentmode_test

import (
	"encoding/json"
	"testing"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/transcribe"
)

// An OpenAI verbose_json transcript carries its words at the top level and
// its tokens as bare ids: raw mode must hand out those words, each with
// its own times, not one "word" per segment rebuilt from tokens.
func TestRawUsesResultWords(t *testing.T) {
	const verbose = `{"task":"transcribe","language":"english","duration":4.2,"text":"Hello there. Book a table.",
	"segments":[{"id":0,"seek":0,"start":0,"end":1.6,"text":" Hello there.","tokens":[50364,2425,456,13],"temperature":0,"avg_logprob":-0.2,"compression_ratio":1,"no_speech_prob":0.01},
	            {"id":1,"seek":0,"start":1.6,"end":4.2,"text":" Book a table.","tokens":[50444,9476,257,3199,13],"temperature":0,"avg_logprob":-0.3,"compression_ratio":1,"no_speech_prob":0.02}],
	"words":[{"word":"Hello","start":0.1,"end":0.6},{"word":"there","start":0.7,"end":1.5},
	         {"word":"Book","start":1.7,"end":2.1},{"word":"a","start":2.2,"end":2.4},{"word":"table","start":2.5,"end":4.0}]}`
	res, err := transcribe.DecodeJSON([]byte(verbose))
	if err != nil {
		t.Fatal(err)
	}
	out, err := shared(t).Format(res, agentmode.Options{Mode: agentmode.Raw, Words: true})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Text  string            `json:"text"`
		Words []transcribe.Word `json:"words"`
	}
	if err := json.Unmarshal(out.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Words) != len(res.Words) {
		t.Fatalf("got %d words %+v, want the transcript's %d", len(doc.Words), doc.Words, len(res.Words))
	}
	for i, w := range doc.Words {
		if want := res.Words[i]; w.Word != want.Word || w.Start != want.Start || w.End != want.End {
			t.Errorf("word %d: got %+v, want %+v", i, w, want)
		}
	}
	if doc.Text != "Hello there. Book a table." {
		t.Errorf("text: got %q", doc.Text)
	}
}
