package transcribe_test

import (
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/transcribe"
)

func TestDetectRepetition(t *testing.T) {
	cases := []struct {
		name   string
		text   string
		loop   bool
		phrase string
		count  int
	}{
		{"plain speech", " And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.", false, "", 0},
		{"empty", "", false, "", 0},
		{"a real stutter", " I, I, I think so. No, no, no, not that one.", false, "", 0},
		{"one word looping", " the the the the the the the", true, "the", 7},
		{"whisper's thank you loop", strings.Repeat(" Thank you.", 6), true, "thank you", 6},
		{"long phrase three times", strings.Repeat(" we will go down to the river and then we will come back", 3), true, "we will go down to the river and then we will come back", 0},
		{"case and punctuation ignored", " So, so. SO! so? so", true, "so", 5},
		{"no spaces: compression ratio", strings.Repeat("谢谢观看", 20), true, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, loop := transcribe.DetectRepetition(c.text)
			if loop != c.loop {
				t.Fatalf("DetectRepetition(%q) = %+v, %v; want loop=%v", c.text, r, loop, c.loop)
			}
			if loop && r.Reason == "" {
				t.Error("a loop without a reason")
			}
			if c.phrase != "" && r.Phrase != c.phrase && !strings.Contains(c.phrase, r.Phrase) {
				t.Errorf("phrase %q, want %q", r.Phrase, c.phrase)
			}
			if c.count != 0 && r.Count != c.count {
				t.Errorf("count %d, want %d", r.Count, c.count)
			}
		})
	}
	if r, _ := transcribe.DetectRepetition(strings.Repeat("谢谢观看", 20)); r.CompressionRatio <= transcribe.CompressionRatioThreshold || !strings.Contains(r.Reason, "compression ratio") {
		t.Errorf("compression loop: %+v", r)
	}
}

func FuzzDetectRepetition(f *testing.F) {
	f.Add(" Thank you. Thank you. Thank you.")
	f.Add(strings.Repeat("ab", 100))
	f.Fuzz(func(t *testing.T, s string) {
		r, loop := transcribe.DetectRepetition(s)
		if loop && r.Reason == "" {
			t.Fatal("loop without a reason")
		}
		if r.Count != 0 && r.Count < 3 {
			t.Fatalf("count %d", r.Count)
		}
	})
}
