package main

import (
	"fmt"
	"slices"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/agentmode/repair"
	"github.com/earshot-dev/earshot/internal/corpus"
)

// scores are one system's sums on a set of pairs.
type scores struct {
	em, f1         float64
	hit, sys, gold int
}

func (s scores) prec() float64 { return ratio(s.hit, s.sys) }
func (s scores) rec() float64  { return ratio(s.hit, s.gold) }

type subset struct {
	n                         int
	unchanged, fillers, agent scores
}

// disflResult sums figures over folds.
type disflResult struct {
	all, del      subset
	fluent        int // fluent originals
	fluentAgent   int // ... that agent mode left unchanged
	fluentFillers int
	// categories of the deletion-only pairs agent mode got wrong
	categories map[string]int
	// examples of each category (input, gold, output, what was removed)
	examples map[string][]string
}

// evalDisfl compares three systems on every pair (the input unchanged,
// fillers removed, agent mode) and adds the figures to r; the fluent
// originals go to the destructive-edit table too.
func evalDisfl(f *agentmode.Formatter, pairs []corpus.Pair, r *disflResult, dt *destructive) error {
	if r.categories == nil {
		r.categories, r.examples = map[string]int{}, map[string][]string{}
	}
	for _, p := range pairs {
		x, y := norm(p.Disfluent), norm(p.Original)
		text, _, err := agentText(f, p.Disfluent)
		if err != nil {
			return err
		}
		z := norm(text)
		outputs := map[string][]string{"unchanged": x, "fillers": withoutFillers(x), "agent": z}
		deletion := isSubsequence(y, x)
		for _, set := range []*subset{&r.all, &r.del} {
			if set == &r.del && !deletion {
				continue
			}
			set.n++
			for name, out := range outputs {
				s := map[string]*scores{"unchanged": &set.unchanged, "fillers": &set.fillers, "agent": &set.agent}[name]
				add(s, x, y, out, deletion)
			}
		}
		if deletion && !slices.Equal(z, y) {
			c := category(x, y, z)
			r.categories[c]++
			if len(r.examples[c]) < maxExamples {
				e := fmt.Sprintf("%q -> %q (want %q)", p.Disfluent, text, p.Original)
				if dt.explain != nil {
					e += ": " + dt.explain(p.Disfluent)
				}
				r.examples[c] = append(r.examples[c], e)
			}
		}
		// The fluent original must come through untouched.
		ft, _, err := agentText(f, p.Original)
		if err != nil {
			return err
		}
		r.fluent++
		if slices.Equal(norm(ft), y) {
			r.fluentAgent++
		}
		if slices.Equal(withoutFillers(y), y) {
			r.fluentFillers++
		}
		dt.add("Disfl-QA fluent originals", p.Original, y, norm(ft))
	}
	return nil
}

// category names how agent mode got a deletion-only pair wrong.
func category(x, y, z []string) string {
	switch {
	case slices.Equal(withoutFillers(z), withoutFillers(x)):
		return "repair missed: nothing removed"
	case !isSubsequence(z, x):
		return "words changed (not a deletion)"
	case isSubsequence(y, z):
		return "removed too little"
	case isSubsequence(z, y):
		return "removed too much"
	}
	return "removed the wrong words"
}

func withoutFillers(ws []string) []string {
	var out []string
	for _, w := range ws {
		if !repair.IsFiller(w) {
			out = append(out, w)
		}
	}
	return out
}

// add scores output z for input x and gold y.
func add(s *scores, x, y, z []string, deletion bool) {
	if slices.Equal(z, y) {
		s.em++
	}
	s.f1 += f1(z, y)
	if !deletion || !isSubsequence(z, x) {
		return
	}
	// Removed words: the input positions a left-most alignment of the
	// output (or the gold) leaves out. Equal outputs align equally, so a
	// deletion placed a word earlier or later ("the X no the Y") is not
	// held against the system.
	sys, gold := removed(z, x), removed(y, x)
	for i := range x {
		if sys[i] {
			s.sys++
			if gold[i] {
				s.hit++
			}
		}
		if gold[i] {
			s.gold++
		}
	}
}

func isSubsequence(a, b []string) bool {
	j := 0
	for _, w := range b {
		if j < len(a) && a[j] == w {
			j++
		}
	}
	return j == len(a)
}

// removed marks the positions of x that a left-most alignment of the
// subsequence a leaves out.
func removed(a, x []string) []bool {
	out := make([]bool, len(x))
	j := 0
	for i, w := range x {
		if j < len(a) && a[j] == w {
			j++
			continue
		}
		out[i] = true
	}
	return out
}

// f1 is the bag-of-words F1 of got against want.
func f1(got, want []string) float64 {
	if len(got) == 0 && len(want) == 0 {
		return 1
	}
	counts := map[string]int{}
	for _, w := range want {
		counts[w]++
	}
	common := 0
	for _, w := range got {
		if counts[w] > 0 {
			counts[w]--
			common++
		}
	}
	if common == 0 {
		return 0
	}
	p, r := float64(common)/float64(len(got)), float64(common)/float64(len(want))
	return 2 * p * r / (p + r)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
