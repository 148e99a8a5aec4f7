package repair

import (
	"math"
	"math/rand/v2"
	"strings"
	"unicode"
)

// Example is one training sentence.
type Example struct {
	Words []Word
	// Want is the fluent sentence it should become, as Norm words; nil when
	// the sentence needs no repair.
	Want []string
}

// Norm is the form words are compared in: lower case letters and digits
// only ("Agrippina's" -> "agrippinas").
func Norm(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// Train learns weights with an averaged structured perceptron. On a
// disfluent example, every candidate whose deletion leaves exactly the
// fluent words is correct, and the best-scoring of them is the target (the
// same deletion can often be placed a word earlier or later: "the X no the
// Y"); on a fluent one the target is no repair at all. Examples whose
// fluent form no single candidate reaches are skipped; Train reports how
// many it used.
func Train(examples []Example, epochs int, seed uint64) (t Trained, used int) {

	cues := newCueTable()
	m := &Model{cues: cues}
	// The fluent text: every example's fluent form.
	lm := bigrams{counts: map[uint64]int32{}}
	t.Bigrams = map[string]int{}
	for _, ex := range examples {
		if ex.Want == nil {
			continue
		}
		ngrams(ex.Want, func(g string, k uint64) {
			lm.counts[k]++
			t.Bigrams[g]++
		})
	}
	// own returns the pairs an example contributed, to leave out.
	own := func(ex Example) map[uint64]int32 {
		m := map[uint64]int32{}
		if ex.Want != nil {
			addBigrams(m, ex.Want)
			return m
		}
		var ws []string
		for _, w := range ex.Words {
			if n := Norm(w.Lower); n != "" {
				ws = append(ws, n)
			}
		}
		addBigrams(m, ws)
		return m
	}
	w := map[uint64]float64{}    // current weights
	acc := map[uint64]float64{}  // sum of update * step, for averaging
	names := map[uint64]string{} // feature names, for the written model
	step := 1.0
	type cand struct {
		e   Edit
		run cueRun
	}
	score := func(words []Word, c cand) float64 {
		s := 0.0
		features(words, c.e, c.run, lm, func(h uint64) { s += w[h] })
		return s
	}
	update := func(words []Word, c cand, d float64) {
		featuresNamed(words, c.e, c.run, lm, featureSink{
			emit: func(h uint64) { w[h] += d; acc[h] += d * step },
			name: func(h uint64, n string) { names[h] = n },
		})
	}
	order := make([]int, len(examples))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	examples = append([]Example(nil), examples...)
	for i := range examples {
		examples[i].Words = prepare(examples[i].Words)
	}
	usable := make([]bool, len(examples))
	for i, ex := range examples {
		usable[i] = ex.Want == nil
		if ex.Want != nil {
			m.candidates(ex.Words, func(e Edit, _ cueRun) {
				if deletes(ex.Words, e, ex.Want) {
					usable[i] = true
				}
			})
		}
		if usable[i] {
			used++
		}
	}
	for range epochs {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, idx := range order {
			ex := examples[idx]
			if !usable[idx] {
				continue
			}
			lm.minus = own(ex)
			// The best candidate that yields the fluent form (gold) and the
			// best that does not (wrong). "No repair" scores 0: gold for a
			// fluent example, wrong for a disfluent one (wrong == nil). An
			// update is made unless gold is ahead (for a disfluent example,
			// strictly: a tie with "no repair" repairs nothing). (A margin
			// to beat, as in a large-margin perceptron, was no better.)
			var wrong, gold *cand
			goldScore, wrongScore := 0.0, math.Inf(-1)
			if ex.Want != nil {
				wrongScore = 0
			}
			m.candidates(ex.Words, func(e Edit, run cueRun) {
				c := cand{e, run}
				s := score(ex.Words, c)
				if ex.Want != nil && deletes(ex.Words, e, ex.Want) {
					if gold == nil || s > goldScore {
						gold, goldScore = &c, s
					}
				} else if s > wrongScore {
					wrong, wrongScore = &c, s
				}
			})
			if d := goldScore - wrongScore; d < 0 || d == 0 && ex.Want != nil {
				if gold != nil {
					update(ex.Words, *gold, 1)
				}
				if wrong != nil {
					update(ex.Words, *wrong, -1)
				}
			}
			step++
		}
	}
	t.Weights = map[string]float64{}
	for h, v := range w {
		if avg := v - acc[h]/step; avg != 0 {
			t.Weights[names[h]] = avg
		}
	}
	return t, used
}

// Trained is a trained model: feature weights by name, and the counts of
// word pairs and triples ("a b", "a b c") in the fluent training text.
type Trained struct {
	Weights map[string]float64
	Bigrams map[string]int
	// LengthCost is what each word of a reparandum costs at run time, a
	// bias towards deleting less; training leaves it 0, the trainer sets it.
	LengthCost float64
	// Scale and Offset turn a score into a confidence (Model.Confidence);
	// the trainer fits them on held-out folds.
	Scale, Offset float64
}

// deletes reports whether removing e from words leaves exactly want.
func deletes(words []Word, e Edit, want []string) bool {
	j := 0
	for i, w := range words {
		if i >= e.Start && i < e.End {
			continue
		}
		n := Norm(w.Lower)
		if n == "" {
			continue
		}
		if j >= len(want) || want[j] != n {
			return false
		}
		j++
	}
	return j == len(want)
}

// Yields reports whether making edit e alone turns ex into its fluent form.
func (ex Example) Yields(e Edit) bool {
	return ex.Want != nil && deletes(ex.Words, e, ex.Want)
}
