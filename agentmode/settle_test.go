package agentmode

import (
	"encoding/json"
	"os"
	"testing"
)

// TestEditSettles checks that editing comes to rest well before its
// round limit: an edit that undoes itself each round (writing a mark and
// taking it back) runs every round, which costs agent mode its speed and
// shows only in make eval's timings.
func TestEditSettles(t *testing.T) {
	f, err := New()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../testdata/disfluency/dev.json")
	if err != nil {
		t.Fatal(err)
	}
	var pairs map[string]struct{ Disfluent, Original string }
	if err := json.Unmarshal(raw, &pairs); err != nil {
		t.Fatal(err)
	}
	texts := []string{"what is the weather in Paris and book a table", "Book a table, and on Friday will it rain",
		"Tomorrow at noon, remind me to call Bob", "Cancel it, um!", "is it raining um?"}
	for _, p := range pairs {
		texts = append(texts, p.Disfluent, p.Original)
		if len(texts) > 1000 {
			break
		}
	}
	for _, text := range texts {
		for _, mode := range []Mode{Clean, Agent} {
			if d := f.edit(textWords(text), Options{Mode: mode}, true); d.changed {
				t.Errorf("%s(%q) still changes after the last round", mode, text)
			}
		}
	}
}
