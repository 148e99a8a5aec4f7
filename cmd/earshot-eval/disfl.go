package main

import (
	"slices"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/agentmode/repair"
	"github.com/earshot-dev/earshot/internal/corpus"
)

// scores are one system's figures on a set of pairs.
type scores struct {
	em, f1, prec, rec float64
	// sums behind the micro-averaged precision and recall
	hit, sys, gold int
}

type subset struct {
	n                         int
	unchanged, fillers, agent scores
}

type disflResult struct {
	all, del                   subset
	fluentAgent, fluentFillers float64
}

// evalDisfl compares three systems on every pair: the input unchanged,
// fillers removed, and agent mode.
func evalDisfl(f *agentmode.Formatter, pairs []corpus.Pair) (disflResult, error) {
	var r disflResult
	fluentA, fluentF := 0, 0
	for _, p := range pairs {
		x, y := norm(p.Disfluent), norm(p.Original)
		text, _, err := agentText(f, p.Disfluent)
		if err != nil {
			return r, err
		}
		outputs := map[string][]string{"unchanged": x, "fillers": withoutFillers(x), "agent": norm(text)}
		deletion := isSubsequence(y, x)
		for _, set := range []*subset{&r.all, &r.del} {
			if set == &r.del && !deletion {
				continue
			}
			set.n++
			for name, z := range outputs {
				s := map[string]*scores{"unchanged": &set.unchanged, "fillers": &set.fillers, "agent": &set.agent}[name]
				add(s, x, y, z, deletion)
			}
		}
		// The fluent original must come through untouched.
		ft, _, err := agentText(f, p.Original)
		if err != nil {
			return r, err
		}
		if slices.Equal(norm(ft), y) {
			fluentA++
		}
		if slices.Equal(withoutFillers(y), y) {
			fluentF++
		}
	}
	for _, set := range []*subset{&r.all, &r.del} {
		for _, s := range []*scores{&set.unchanged, &set.fillers, &set.agent} {
			s.em /= float64(set.n)
			s.f1 /= float64(set.n)
			if s.sys > 0 {
				s.prec = float64(s.hit) / float64(s.sys)
			}
			if s.gold > 0 {
				s.rec = float64(s.hit) / float64(s.gold)
			}
		}
	}
	r.fluentAgent = float64(fluentA) / float64(len(pairs))
	r.fluentFillers = float64(fluentF) / float64(len(pairs))
	return r, nil
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
