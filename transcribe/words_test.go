package transcribe_test

import (
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/transcribe"
)

func TestWordsKeepUTF8Whole(t *testing.T) {
	// "é" split across two tokens: bytes 0xC3 and 0xA9.
	segs := []transcribe.Segment{{Tokens: []transcribe.Token{
		{Text: " caf", P: 1, Start: 0, End: 1},
		{Text: "\xc3", P: 1, Start: 1, End: 2},
		{Text: "\xa9", P: 1, Start: 2, End: 3},
		{Text: " ok", P: 0.5, Start: 3, End: 4},
	}}}
	words := transcribe.Words(segs)
	var got []string
	for _, w := range words {
		got = append(got, w.Word)
	}
	if strings.Join(got, "|") != "café|ok" {
		t.Errorf("words = %q", got)
	}
	if words[0].Start != 0 || words[0].End != 3 {
		t.Errorf("café spans %v-%v, want 0-3", words[0].Start, words[0].End)
	}
}
