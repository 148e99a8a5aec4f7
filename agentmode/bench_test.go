package agentmode

import (
	"encoding/json"
	"os"
	"testing"
)

func disflInputs(b *testing.B) []string {
	raw, err := os.ReadFile("../testdata/disfluency/dev.json")
	if err != nil {
		b.Fatal(err)
	}
	var m map[string]struct{ Disfluent string }
	if err := json.Unmarshal(raw, &m); err != nil {
		b.Fatal(err)
	}
	var out []string
	for _, p := range m {
		out = append(out, p.Disfluent)
	}
	return out
}

func BenchmarkShort(b *testing.B) {
	f, err := New()
	if err != nil {
		b.Fatal(err)
	}
	texts := disflInputs(b)
	opts := Options{Mode: Agent}
	f.FormatText(texts[0], opts)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f.FormatText(texts[i%len(texts)], opts)
	}
}

func BenchmarkEditOnly(b *testing.B) {
	f, _ := New()
	texts := disflInputs(b)
	for i := 0; b.Loop(); i++ {
		f.edit(textWords(texts[i%len(texts)]), Options{Mode: Agent}, true)
	}
}

func BenchmarkCommand(b *testing.B) {
	f, _ := New()
	texts := []string{"add this song to my playlist", "What will the weather be in Monument of Lihula on december the 5th?",
		"Book a table for two at 8pm at a restaurant in Paris", "play the latest album by Norah Jones on Spotify"}
	opts := Options{Mode: Agent}
	for i := 0; b.Loop(); i++ {
		f.FormatText(texts[i%len(texts)], opts)
	}
}
