// Package recipe is how earshot's agent-mode models are trained from the
// public data: the examples each model learns from and the settings, in
// one place, so that `make train` (earshot-train, the shipped models) and
// `make eval` (earshot-eval, the same recipe on k-1 folds, measured on the
// fold left out) cannot drift apart. Everything is deterministic for a
// seed.
package recipe

import (
	"math"
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/agentmode/boundary"
	"github.com/earshot-dev/earshot/agentmode/repair"
	"github.com/earshot-dev/earshot/internal/corpus"
)

// Settings of the recipe.
const (
	RepairEpochs = 12
	// RepairShuffles is how many perceptrons, each seeing the examples in
	// another order, are averaged into the repair model.
	RepairShuffles = 3
	LengthCost     = 2.0 // per reparandum word: precision over recall
	// RestartEvery: one command in so many is also learned from said with
	// a false start (Restarts).
	RestartEvery   = 4
	BoundaryEpochs = 6
	// JoinedPerCommand is how many joined utterances the boundary model
	// learns from per command.
	JoinedPerCommand = 2
)

// Joins are the ways people chain requests in one breath.
var Joins = []string{" and ", " and then ", " and also ", ", ", ", and ", ", then "}

// fillers are inserted into fluent sentences to make negatives: speech is
// full of filled pauses that correct nothing.
var fillers = []string{"uh", "um", "er", "uh,", "um,"}

// Joined is one utterance of requests said in one breath.
type Joined struct {
	Parts []string // as said: trailing marks off but the last's, lower-cased start after the first
	Joins []string
	Cmds  []string // the commands as written
}

// Text is the utterance.
func (j Joined) Text() string {
	var b strings.Builder
	for i, p := range j.Parts {
		if i > 0 {
			b.WriteString(j.Joins[i-1])
		}
		b.WriteString(p)
	}
	return b.String()
}

// Join picks 2 or 3 commands and joins them as people do.
func Join(cmds []string, g *rand.Rand) Joined {
	k := 2 + g.IntN(2)
	var j Joined
	for i := range k {
		c := cmds[g.IntN(len(cmds))]
		said := c
		if i < k-1 {
			said = strings.TrimRight(said, ".?!, ")
		}
		if i > 0 {
			j.Joins = append(j.Joins, Joins[g.IntN(len(Joins))])
			said = LowerFirst(said)
		}
		j.Parts = append(j.Parts, said)
		j.Cmds = append(j.Cmds, c)
	}
	return j
}

// LowerFirst lower-cases a command's first letter, as it reads mid-sentence
// ("and play ..."), but keeps "I" and names in capitals.
func LowerFirst(s string) string {
	first, _, _ := strings.Cut(s, " ")
	if first == "I" || strings.HasPrefix(first, "I'") {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	if len(first) > n {
		if r2, _ := utf8.DecodeRuneInString(first[n:]); unicode.IsUpper(r2) {
			return s // an acronym
		}
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// RepairExamples are what the repair model learns from: each disfluent
// question with its fluent original; the original alone and with a filled
// pause inserted (no repair); and voice commands (no repair either: "rate
// a day no pigs would die six stars" is a title).
func RepairExamples(pairs []corpus.Pair, cmds []string, seed uint64) []repair.Example {
	rng := rand.New(rand.NewPCG(seed, 2))
	var exs []repair.Example
	for _, p := range pairs {
		exs = append(exs, agentmode.TrainingExample(p.Disfluent, p.Original))
		exs = append(exs, agentmode.TrainingExample(p.Original, ""))
		ws := strings.Fields(p.Original)
		if len(ws) > 2 {
			at := 1 + rng.IntN(len(ws)-1)
			ins := append(append(append([]string{}, ws[:at]...), fillers[rng.IntN(len(fillers))]), ws[at:]...)
			exs = append(exs, agentmode.TrainingExample(strings.Join(ins, " "), ""))
		}
	}
	// (Commands joined as people join them were tried as fluent examples
	// too: they cost 0.6 points of exact match, cross-validated, and saved
	// no command a word.)
	for _, c := range cmds {
		exs = append(exs, agentmode.TrainingExample(c, ""))
	}
	for _, p := range Restarts(cmds, RestartEvery, seed) {
		exs = append(exs, agentmode.TrainingExample(p.Disfluent, p.Original))
	}
	return exs
}

// restartTerms are what a speaker says before asking again.
var restartTerms = []string{"no", "no wait", "sorry", "actually no", "I mean", "scratch that", "wait no", "no no"}

// Restarts are voice commands said with a false start, as people correct
// themselves: the first words of another command with the same verb, an
// editing term, then the command ("Play some jazz, no, play the new
// Taylor Swift album"). The command is the fluent form. One in every
// `every` commands gets one.
func Restarts(cmds []string, every int, seed uint64) []corpus.Pair {
	rng := rand.New(rand.NewPCG(seed, 5))
	byVerb := map[string][]string{}
	for _, c := range cmds {
		first, _, _ := strings.Cut(strings.ToLower(c), " ")
		byVerb[first] = append(byVerb[first], c)
	}
	var out []corpus.Pair
	for i, c := range cmds {
		if i%every != 0 {
			continue
		}
		first, _, _ := strings.Cut(strings.ToLower(c), " ")
		others := byVerb[first]
		if len(others) < 2 {
			continue
		}
		other := strings.Fields(strings.TrimRight(others[rng.IntN(len(others))], ".?!"))
		if len(other) < 3 || strings.EqualFold(strings.Join(other, " "), c) {
			continue
		}
		n := 2 + rng.IntN(min(4, len(other)-1)-1) // 2..4 words, never the whole command
		term := restartTerms[rng.IntN(len(restartTerms))]
		out = append(out, corpus.Pair{
			Disfluent: strings.Join(other[:n], " ") + ", " + term + ", " + LowerFirst(c),
			Original:  c,
		})
	}
	return out
}

// TrainRepair trains the repair model and fits its confidences.
func TrainRepair(pairs []corpus.Pair, cmds []string, seed uint64) (repair.Trained, int) {
	exs := RepairExamples(pairs, cmds, seed)
	t, used := repair.Train(exs, RepairEpochs, seed)
	for s := uint64(1); s < RepairShuffles; s++ {
		u, _ := repair.Train(exs, RepairEpochs, seed+s)
		for n, w := range u.Weights {
			t.Weights[n] += w
		}
	}
	for n := range t.Weights {
		t.Weights[n] /= RepairShuffles
	}
	t.LengthCost = LengthCost
	t.Scale = fitScale(repair.New(t), exs)
	return t, used
}

// fitScale fits the slope of the logistic curve from a candidate's score
// to the chance that it is right, on each example's best candidate (right
// when it alone yields the fluent form; never on a fluent example), by the
// greatest likelihood over a grid.
func fitScale(m *repair.Model, exs []repair.Example) float64 {
	type obs struct {
		s float64
		y bool
	}
	var os []obs
	for _, ex := range exs {
		e, s, ok := m.BestScore(ex.Words)
		if !ok {
			continue
		}
		os = append(os, obs{s, ex.Yields(e)})
	}
	best, bestLL := 1.0, math.Inf(-1)
	for a := 0.001; a <= 5; a *= 1.05 {
		ll := 0.0
		for _, o := range os {
			p := 1 / (1 + math.Exp(-a*o.s))
			p = min(max(p, 1e-9), 1-1e-9)
			if o.y {
				ll += math.Log(p)
			} else {
				ll += math.Log(1 - p)
			}
		}
		if ll > bestLL {
			best, bestLL = a, ll
		}
	}
	return best
}

// BoundaryExamples are what the boundary model learns from: commands
// joined as people join them (2 per command), cased as whisper writes
// them and, one time in four, all in lower case; each command alone; and
// the fluent Disfl-QA questions (questions about two things are one).
func BoundaryExamples(cmds []string, pairs []corpus.Pair, seed uint64) []boundary.Example {
	rng := rand.New(rand.NewPCG(seed, 4))
	var exs []boundary.Example
	for range JoinedPerCommand * len(cmds) {
		j := Join(cmds, rng)
		if rng.IntN(4) == 0 {
			for i := range j.Parts {
				j.Parts[i] = strings.ToLower(j.Parts[i])
			}
		}
		exs = append(exs, agentmode.BoundaryExamples(j.Parts, j.Joins)...)
	}
	for _, c := range cmds {
		exs = append(exs, agentmode.BoundaryExamples([]string{c}, nil)...)
	}
	for _, p := range pairs {
		exs = append(exs, agentmode.BoundaryExamples([]string{p.Original}, nil)...)
	}
	return exs
}

// TrainBoundary trains the boundary model.
func TrainBoundary(cmds []string, pairs []corpus.Pair, seed uint64) boundary.Trained {
	return boundary.Train(BoundaryExamples(cmds, pairs, seed), BoundaryEpochs, seed)
}

// Fold splits items into the k-th of n folds (every n-th item) and the rest.
func Fold[T any](items []T, k, n int) (in, rest []T) {
	for i, x := range items {
		if i%n == k {
			in = append(in, x)
		} else {
			rest = append(rest, x)
		}
	}
	return in, rest
}
