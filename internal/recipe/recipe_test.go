package recipe

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestFold(t *testing.T) {
	items := []int{0, 1, 2, 3, 4, 5, 6}
	in, rest := Fold(items, 1, 3)
	if !slices.Equal(in, []int{1, 4}) || !slices.Equal(rest, []int{0, 2, 3, 5, 6}) {
		t.Errorf("Fold = %v, %v", in, rest)
	}
}

func TestLowerFirst(t *testing.T) {
	for in, want := range map[string]string{
		"Play some jazz": "play some jazz",
		"I want a table": "I want a table",
		"I'd like tea":   "I'd like tea",
		"BBC news":       "BBC news",
	} {
		if got := LowerFirst(in); got != want {
			t.Errorf("LowerFirst(%q) = %q, want %q", in, got, want)
		}
	}
}

// Join says its commands in one breath: every command but the last loses
// its final mark, and the utterance is the parts with the joins between.
func TestJoin(t *testing.T) {
	cmds := []string{"Play some jazz.", "Book a table for two!", "What's the weather?"}
	g := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		j := Join(cmds, g)
		if len(j.Parts) < 2 || len(j.Parts) > 3 || len(j.Joins) != len(j.Parts)-1 || len(j.Cmds) != len(j.Parts) {
			t.Fatalf("bad join %+v", j)
		}
		for i, p := range j.Parts[:len(j.Parts)-1] {
			if strings.ContainsAny(p[len(p)-1:], ".?!") {
				t.Errorf("part %d %q keeps its final mark", i, p)
			}
		}
		if !strings.Contains(j.Text(), j.Joins[0]) {
			t.Errorf("text %q lacks its join %q", j.Text(), j.Joins[0])
		}
	}
}
