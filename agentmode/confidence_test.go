package agentmode_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/internal/corpus"
)

// confDoc is the part of an agent document with confidences.
type confDoc struct {
	Text    string `json:"text"`
	Intents []struct {
		Text     string   `json:"text"`
		Boundary *float64 `json:"boundary_confidence"`
	} `json:"intents"`
	Removed []struct {
		Kind       string   `json:"kind"`
		Text       string   `json:"text"`
		Confidence *float64 `json:"confidence"`
	} `json:"removed"`
}

func formatConf(t *testing.T, text string, minConf float64) confDoc {
	t.Helper()
	out, err := shared(t).FormatText(text, agentmode.Options{Mode: agentmode.Agent, MinConfidence: minConf})
	if err != nil {
		t.Fatal(err)
	}
	var d confDoc
	if err := json.Unmarshal(out.JSON, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// Every removal and every boundary the model made states a confidence of
// at least the line asked for, and a higher line removes and splits less.
func TestMinConfidence(t *testing.T) {
	const text = "Book a table for two, no, for four at 8pm and play some jazz and then remind me to um call mom"
	prevRemoved, prevIntents := 1<<30, 1<<30
	for _, line := range []float64{0, 0.3, 0.5, 0.8, 0.95, 0.999} {
		d := formatConf(t, text, line)
		want := line
		if want == 0 {
			want = agentmode.DefaultMinConfidence
		}
		words := 0
		for _, r := range d.Removed {
			if r.Confidence == nil || *r.Confidence < want-0.0005 || *r.Confidence > 1 {
				t.Errorf("line %v: removal %q has confidence %v", line, r.Text, r.Confidence)
			}
			words += len(strings.Fields(r.Text))
		}
		for i, it := range d.Intents {
			if i > 0 && it.Boundary != nil && *it.Boundary < want-0.0005 {
				t.Errorf("line %v: boundary before %q has confidence %v", line, it.Text, *it.Boundary)
			}
		}
		if words > prevRemoved || len(d.Intents) > prevIntents {
			t.Errorf("line %v: %d words removed, %d intents; a lower line gave %d and %d", line, words, len(d.Intents), prevRemoved, prevIntents)
		}
		prevRemoved, prevIntents = words, len(d.Intents)
		if line == 0.5 {
			if len(d.Intents) != 3 || d.Intents[1].Boundary == nil || d.Intents[2].Boundary == nil {
				t.Errorf("default line: want 3 intents split by the model, got %+v", d.Intents)
			}
		}
	}
	if d := formatConf(t, text, 0.999); len(d.Removed) >= prevRemovedAt(t, text) {
		t.Errorf("line 0.999 removed as much as the default: %+v", d.Removed)
	}
}

// contentWord reports whether a word carries meaning of its own (not an
// article, a preposition, a connector, a pronoun).
func contentWord(w string) bool {
	switch w {
	case "the", "a", "an", "and", "or", "but", "to", "of", "in", "on", "at", "for", "with", "by", "from", "is", "are",
		"was", "were", "be", "it", "this", "that", "i", "me", "my", "you", "your", "we", "our", "please", "then", "also", "so", "now", "just":
		return false
	}
	return true
}

// Fluent voice commands, never seen in training (SNIPS validation), lose
// no content word in agent mode, alone or joined as people join them.
func TestFluentCommandsKeepContentWords(t *testing.T) {
	cmds, err := corpus.SNIPS("../testdata/intents/snips")
	if err != nil {
		t.Fatal(err)
	}
	check := func(in string) {
		d := formatConf(t, in, 0)
		have := map[string]int{}
		for _, w := range norms(d.Text) {
			have[w]++
		}
		for _, w := range norms(in) {
			if have[w] > 0 {
				have[w]--
			} else if contentWord(w) {
				t.Errorf("%q lost %q: %q", in, w, d.Text)
				return
			}
		}
	}
	for i, c := range cmds {
		check(c)
		next := cmds[(i*7+3)%len(cmds)]
		check(strings.TrimRight(c, ".?! ") + " and then " + strings.ToLower(next[:1]) + next[1:])
	}
}

func prevRemovedAt(t *testing.T, text string) int { return len(formatConf(t, text, 0).Removed) }
