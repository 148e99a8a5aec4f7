// Package repair finds self-repairs in spoken English: places where a speaker
// takes words back and replaces them ("book the, no wait, cancel the
// meeting"; "on Tuesday, sorry, Wednesday"; "Which, no, what century").
//
// A self-repair has three parts: the reparandum (the words taken back), the
// editing terms ("no wait", "sorry", "I mean", "or rather", "uh") and the
// repair. Editing terms are easy to spot; where the reparandum starts is the
// hard part, and that is what the model here decides. For every run of
// editing terms it scores each possible start of the reparandum (and "no
// repair at all") with a linear model over features of the words at the
// edges: the editing terms themselves, the first word taken back and the
// first word of the repair (and whether they match or share a word class:
// number, wh-word, capitalized name, preposition ...), the word before the
// reparandum and how it would join the repair, how long the reparandum is
// and whether it runs from the start of the sentence (a restart). A
// candidate may also take back the repair's leading article, or, where the
// repair asks again with a pronoun ("..., no sorry, when was it built?"),
// the restated opening through the pronoun, so that the name said first
// stays (pronounRestart). The best
// candidate is taken if its score is positive; then the next run is
// considered, so one sentence can hold several repairs.
//
// The weights are learned (an averaged structured perceptron, Train) from
// Disfl-QA train and dev: disfluent questions paired with their fluent
// originals, where any reparandum start whose removal yields the original
// counts as correct (the trainer averages three such perceptrons, each
// seeing the examples in another order); the fluent originals themselves,
// the same sentences with filled pauses inserted, and SNIPS voice commands
// teach the model when not to edit; one command in four said with a false
// start ("Play some jazz, no, play the new Taylor Swift album", made from
// two commands with the same verb) teaches it how commands are begun
// again, which questions alone did not. A candidate's score becomes a confidence through a
// logistic curve (Model.Confidence) fitted on the training examples'
// best candidates; FindMin takes the caller's line.
//
// A repair never takes back a whole request: a word marked Boundary (a
// request after "and then", set by the caller) starts no editing term
// and no reparandum reaches back over it, nor over an "and" or "then".
// This perceptron was kept over a CRF or a neural tagger because the
// decision is one choice among a few dozen candidate starts per editing
// term, which it scores in microseconds; the misses that remain are
// mostly repairs left in (see `make eval`). Editing
// terms used in their ordinary sense ("I'd rather", "wait for", "no longer")
// are excluded by rule, a run of only "or"/"oh"/"well"/"like" is never a
// repair, and a run of only filled pauses is one only between parallel words
// ("seven uh eight", not "seven uh tomorrow"): speech is full of fillers
// that correct nothing, and earshot prefers leaving a repair in over
// deleting what someone meant.
//
// A Model is immutable and safe for concurrent use.
package repair

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Word is one word as the model sees it.
type Word struct {
	// Lower is the word in lower case without the punctuation around it
	// (inner apostrophes and hyphens stay: "what's", "e-mail").
	Lower string
	// Cap is set for a word written with a capital letter where no
	// sentence starts (a name, a title).
	Cap bool
	// Comma is set when a comma, dash or other pause mark follows the word.
	Comma bool
	// Norm is Norm(Lower), when the caller has it already ("" to work it out).
	Norm string
	// Boundary is set on the first word of a request that follows a
	// connector ("and then tell me ...", "and also play ..."): no editing
	// term starts there (it belongs to the new request) and no reparandum
	// reaches back over it, so that a repair never swallows a whole request.
	Boundary bool

	// Worked out by prepare.
	cls, norm           string
	lowerH, clsH, normH uint64
	prepared            bool
}

// Edit is one self-repair: Words[Start:Cue] are taken back, Words[Cue:End]
// are the editing terms, and the repair starts at Words[End].
type Edit struct {
	Start, Cue, End int
	// Confidence is the model's probability that the edit is right: its
	// score through the logistic curve fitted on held-out folds
	// (Trained.Scale, Trained.Offset).
	Confidence float64
}

// Model scores candidate repairs.
type Model struct {
	// lengthCost is subtracted from a candidate's score per word of its
	// reparandum: precision over recall (see LengthCost).
	lengthCost float32
	// scale and offset map a score to a confidence: 1/(1+exp(-(scale*s+offset))).
	scale, offset float64
	weights       table
	lm            bigrams
	cues          *cueTable
}

// bigrams counts word pairs and triples (Norm forms, "<s>" before a
// sentence) in fluent text; minus, in training, those of the sentence at
// hand, so that a sentence does not vouch for itself.
type bigrams struct {
	counts map[uint64]int32
	minus  map[uint64]int32
	// frozen holds the counts of a loaded model, in a flat table.
	frozen *table
}

// freeze moves the counts into a flat table for fast lookups.
func (l *bigrams) freeze() {
	m := make(map[uint64]float32, len(l.counts))
	for k, v := range l.counts {
		m[k] = float32(v)
	}
	t := newTable(m)
	l.frozen, l.counts = &t, nil
}

// ngramKey hashes the words "a b" or "a b c": the words' own hashes mixed
// in order, so that a prepared word's hash is reused.
func ngramKey(words ...string) uint64 {
	h := uint64(fnvOffset)
	for _, w := range words {
		h = mix(h, hashString(w))
	}
	return h
}

func ngramKeyH(hashes ...uint64) uint64 {
	h := uint64(fnvOffset)
	for _, x := range hashes {
		h = mix(h, x)
	}
	return h
}

// minCount is the least count of an n-gram the model keeps. (Leaving out
// the singletons shrinks the table fourfold but costs about a point of
// exact match in cross-validation.)
const minCount = 1

// count is the count of an n-gram by its key (0 below minCount).
func (l bigrams) count(key uint64) int {
	n := 0
	if l.frozen != nil {
		n = int(l.frozen.get(key))
	} else {
		n = int(l.counts[key] - l.minus[key])
	}
	if n < minCount {
		return 0
	}
	return n
}

// ngrams calls fn with the word pairs and triples of a sentence of Norm
// words, "<s>" standing before it.
func ngrams(ws []string, fn func(gram string, key uint64)) {
	a, b := "", "<s>"
	for _, w := range ws {
		fn(b+" "+w, ngramKey(b, w))
		if a != "" {
			fn(a+" "+b+" "+w, ngramKey(a, b, w))
		}
		a, b = b, w
	}
}

// addBigrams counts the pairs and triples of a sentence into m.
func addBigrams(m map[uint64]int32, ws []string) {
	ngrams(ws, func(_ string, k uint64) { m[k]++ })
}

//go:embed weights.txt.gz
var embedded []byte

// Load returns the model trained into earshot (weights.txt.gz, written by
// `make train`).
func Load() (*Model, error) {
	return Read(bytes.NewReader(embedded))
}

// Read reads a model written by Write.
func Read(r io.Reader) (*Model, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("repair: reading model: %w", err)
	}
	m := &Model{lm: bigrams{counts: map[uint64]int32{}}, cues: newCueTable()}
	weights := map[uint64]float32{}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), "\t")
		value, name, ok := strings.Cut(rest, "\t")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 32)
		if err != nil {
			return nil, fmt.Errorf("repair: reading model: %w", err)
		}
		switch kind {
		case "w":
			weights[nameHash(name)] = float32(v)
		case "p":
			m.lengthCost = float32(v)
		case "s":
			m.scale = v
		case "o":
			m.offset = v
		case "b":
			m.lm.counts[ngramKey(strings.Fields(name)...)] = int32(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("repair: reading model: %w", err)
	}
	m.weights = newTable(weights)
	m.lm.freeze()
	return m, nil
}

// Write writes a trained model as gzipped text: a line "w WEIGHT NAME"
// per feature and "b COUNT WORD WORD" per word pair of the fluent text,
// sorted, so that a retrained model diffs readably.
// Weights smaller than minWeight are left out: a smaller model is faster
// to score (its table stays in the CPU's caches).
func Write(w io.Writer, t Trained, minWeight float64) error {
	weights := t.Weights
	names := make([]string, 0, len(weights))
	for n, v := range weights {
		if math.Abs(v) >= max(minWeight, 1e-4) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(zw)
	fmt.Fprintf(bw, "p\t%g\tlength cost\n", t.LengthCost)
	fmt.Fprintf(bw, "s\t%g\tconfidence scale\n", t.Scale)
	fmt.Fprintf(bw, "o\t%g\tconfidence offset\n", t.Offset)
	for _, n := range names {
		fmt.Fprintf(bw, "w\t%.4g\t%s\n", weights[n], n)
	}
	pairs := make([]string, 0, len(t.Bigrams))
	for p := range t.Bigrams {
		pairs = append(pairs, p)
	}
	sort.Strings(pairs)
	for _, p := range pairs {
		if t.Bigrams[p] >= minCount {
			fmt.Fprintf(bw, "b\t%d\t%s\n", t.Bigrams[p], p)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// Find returns the repairs in one sentence that the model is more sure of
// than not (confidence above 0.5), in order and not overlapping. Each is
// resolved by deleting Words[Start:End].
func (m *Model) Find(words []Word) []Edit { return m.FindMin(words, 0.5) }

// Confidence is the model's probability that a candidate with this score
// is a right edit.
func (m *Model) Confidence(score float64) float64 {
	scale := m.scale
	if scale == 0 {
		scale = 1 // a model trained before confidences were fitted
	}
	return 1 / (1 + math.Exp(-(scale*score + m.offset)))
}

// threshold is the least score whose confidence is above c.
func (m *Model) threshold(c float64) float32 {
	c = min(max(c, 1e-6), 1-1e-6)
	scale := m.scale
	if scale == 0 {
		scale = 1
	}
	return float32((math.Log(c/(1-c)) - m.offset) / scale)
}

// FindMin is Find with another line: only edits whose confidence is above
// minConfidence are made. A higher line removes less and is more often right.
func (m *Model) FindMin(words []Word, minConfidence float64) []Edit {
	return m.find(words, m.threshold(minConfidence))
}

// BestScore is the score of the best candidate repair of a sentence as it
// stands, and whether it has any: for fitting confidences.
func (m *Model) BestScore(words []Word) (Edit, float64, bool) {
	cur := prepare(words)
	best, score, any := Edit{}, float32(0), false
	m.scoreAll(cur, func(e Edit, s float32) {
		if !any || s > score {
			best, score, any = e, s, true
		}
	})
	return best, float64(score), any
}

// scoreAll scores every candidate of prepared words.
func (m *Model) scoreAll(cur []Word, fn func(Edit, float32)) {
	runAt, runScore := [2]int{-1, -1}, float32(0)
	m.candidates(cur, func(e Edit, run cueRun) {
		if at := [2]int{e.Cue, e.End}; at != runAt {
			runAt, runScore = at, 0
			runFeatures(cur, e, run, m.lm, featureSink{emit: func(h uint64) { runScore += m.weights.get(h) }})
		}
		// Each word taken back costs a little: when two starts score
		// about the same, the shorter reparandum deletes less.
		s := runScore - m.lengthCost*float32(e.Cue-e.Start)
		startFeatures(cur, e, run, m.lm, featureSink{emit: func(h uint64) { s += m.weights.get(h) }})
		fn(e, s)
	})
}

func (m *Model) find(words []Word, threshold float32) []Edit {
	var edits []Edit
	// idx maps positions in the shrinking sentence back to words.
	idx := make([]int, len(words))
	for i := range idx {
		idx[i] = i
	}
	// Most sentences hold no editing terms at all: check before preparing.
	any := false
	m.candidates(words, func(Edit, cueRun) { any = true })
	if !any {
		return nil
	}
	cur := prepare(words)
	var buf []Word
	for range 4 {
		best, score, found := Edit{}, threshold, false
		m.scoreAll(cur, func(e Edit, s float32) {
			if s > score {
				best, score, found = e, s, true
			}
		})
		if !found {
			break
		}
		edits = append(edits, Edit{Start: idx[best.Start], Cue: idx[best.Cue], End: idx[best.End-1] + 1,
			Confidence: m.Confidence(float64(score))})
		idx = append(idx[:best.Start:best.Start], idx[best.End:]...)
		buf = append(append(buf[:0:0], cur[:best.Start]...), cur[best.End:]...)
		cur = buf
	}
	// An editing term left dangling at the end, after a repair: "of the
	// cilia, no, the ctenophora rather?"
	if len(edits) > 0 && len(cur) > 1 {
		for _, tail := range danglingTerms {
			n := len(tail)
			if len(cur) <= n {
				continue
			}
			match := true
			for j, w := range tail {
				if cur[len(cur)-n+j].Lower != w {
					match = false
				}
			}
			if match {
				at := idx[len(cur)-n]
				edits = append(edits, Edit{Start: at, Cue: at, End: idx[len(cur)-1] + 1, Confidence: edits[len(edits)-1].Confidence})
				break
			}
		}
	}
	sort.Slice(edits, func(a, b int) bool { return edits[a].Start < edits[b].Start })
	return edits
}

// danglingTerms are editing terms that can trail the repair they belong to.
var danglingTerms = [][]string{{"rather"}, {"instead"}, {"i", "mean"}, {"actually"}, {"i", "meant"}}

// cueRun is a maximal run of editing terms.
type cueRun struct {
	text     string // the terms, space-separated
	first    string
	last     string
	lastP    part
	strength strength
	// pronoun is set on a run whose repair asks again with a pronoun,
	// taken back with the reparandum (pronounRestart).
	pronoun bool
	// article is set on a run that takes the repair's article too.
	article bool
}

// candidates calls fn with every candidate repair: each run of editing
// terms that is followed by at least one word, with every start of a
// non-empty reparandum before it (at most maxReparandum words, or back to
// the start of the sentence: a restart). A run of one weak term ("or",
// "oh") is a candidate only before a wh-word ("Where do, or what is ...").
// A sentence whose first two words come again soon, with no pause before
// them ("What gorge is known for its many what gorge is between ..."), is
// a candidate restart without editing terms.
func (m *Model) candidates(words []Word, fn func(Edit, cueRun)) {
	const maxReparandum = 20
	for c := 1; c < len(words); {
		run, k, terms := m.runAt(words, c)
		if k == c || words[c].Boundary {
			c++
			continue
		}
		if k < len(words) && (run.strength != weakOr || terms > 1 || class(words[k]) == "WH") {
			art := k+2 < len(words) && article(words[k].Lower)
			artRun := run
			artRun.article = true
			content := false // the reparandum holds more than editing terms
			for i := c - 1; i >= 0; i-- {
				if !m.cues.single(words[i].Lower) {
					content = true
				}
				if !content || (i < c-maxReparandum && i != 0) {
					continue
				}
				fn(Edit{Start: i, Cue: c, End: k}, run)
				if art && (i == 0 || words[i-1].Lower != words[k].Lower) {
					// The article the repair starts with may go too:
					// "was the successors of Khan, no, the Kublai Khan's
					// grandfather" asks who was Kublai Khan's grandfather.
					// (After the same article, "the X, no, the Y", that is
					// the plain candidate a word earlier.)
					fn(Edit{Start: i, Cue: c, End: k + 1}, artRun)
				}
				if words[i].Boundary {
					break // a reparandum may start a request, not swallow one
				}
				// Nor reach back over an "and" or "then" with words after
				// it: "rate this book four stars and a day no pigs would
				// die ..." takes back no request.
				if i > 0 && i < c-1 && i-1 >= 0 && (words[i-1].Lower == "and" || words[i-1].Lower == "then") {
					break
				}
			}
			pronounRestart(words, c, k, run, fn)
		}
		c = k
	}
	restart := cueRun{text: "<restart>", first: "<restart>", last: "<restart>", lastP: lit("<restart>"), strength: strong}
	for k := 2; k+1 < len(words) && k <= 8; k++ {
		if l := words[k-1].Lower; l == "and" || l == "or" || l == "but" || l == "also" || l == "then" || words[k-1].Boundary {
			break // "Will it rain and also will it snow?" asks twice
		}
		if words[k-2].Comma && class(words[k-1]) == "WH" {
			break // "forecast for Samoa, what is the forecast for ..." asks twice
		}
		// (Not after a preposition or where a clause starts: "an example
		// of what is analyzed", "There is debate that there is ...".)
		if _, sub := subordinators[words[k-1].Lower]; sub || class(words[k-1]) == "PREP" || words[k-1].Lower == "that" {
			continue
		}
		// ("show the show The Son of Tarzan": the second copy starts a title.)
		if words[k].Lower == words[0].Lower && words[k+1].Lower == words[1].Lower && !words[k-1].Comma &&
			!(words[k+1].Cap && !words[1].Cap) {
			fn(Edit{Start: 0, Cue: k, End: k}, restart)
			break
		}
	}
	// A question begun again with another wh-word: "Which is What is ...",
	// "What did Who did ...".
	if len(words) > 3 && class(words[0]) == "WH" {
		for k := 1; k <= 5 && k+1 < len(words); k++ {
			// (Not after a pause or a preposition: "When dating rocks,
			// what is ...", "an example of what is ...".)
			if k >= 2 && (words[k-1].Comma || class(words[k-1]) == "PREP") {
				continue
			}
			// Further in, only a word that starts no relative clause:
			// "Who was the artist who did ..." asks once.
			if l := words[k].Lower; k >= 3 && l != "what" && l != "how" && l != "why" {
				continue
			}
			if class(words[k]) == "WH" && (class(words[k+1]) == "AUX" && k <= 4 || k == 1 || words[k].Cap && k <= 3) && words[k].Lower != "who's" && !words[k].Boundary && !words[1].Boundary {
				whRestart := cueRun{text: "<wh-restart>", first: "<wh-restart>", last: "<wh-restart>", lastP: lit("<wh-restart>"), strength: strong}
				fn(Edit{Start: 0, Cue: k, End: k}, whRestart)
				break
			}
		}
	}
}

// pronounRestart offers the repairs that ask the question again with a
// pronoun for what was named before the editing terms: "When was
// Phags-pa script destroyed, no sorry, when was it invented?" means "When
// was Phags-pa script invented?". The repair asks with a wh-word and the
// auxiliary the sentence used ("was"); the candidate takes back from a
// word after the name through the pronoun, keeping the name, which the
// agent needs and "it" does not give.
func pronounRestart(words []Word, c, k int, run cueRun, fn func(Edit, cueRun)) {
	// The repair: a wh-word, perhaps more words, an auxiliary and the
	// pronoun ("when was it", "what did he", "how long did she").
	if class(words[k]) != "WH" {
		return
	}
	p := 1
	for p < 4 && k+p < len(words) && class(words[k+p]) != "AUX" {
		p++
	}
	if k+p+2 >= len(words) || class(words[k+p]) != "AUX" {
		return
	}
	switch words[k+p+1].Lower {
	case "he", "she", "it", "they":
	default:
		return
	}
	// The same auxiliary early in the sentence, the name after it.
	a := -1
	for j := 0; j < min(c, 6); j++ {
		if words[j].Lower == words[k+p].Lower {
			a = j
			break
		}
	}
	if a < 0 {
		return
	}
	run.pronoun = true
	for i := c - 1; i > a+1; i-- {
		if words[i].Boundary || words[i].Lower == "and" || words[i].Lower == "then" {
			break
		}
		fn(Edit{Start: i, Cue: c, End: k + p + 2}, run)
	}
}

// runAt matches the longest run of editing terms at words[c] and returns
// it with its end; the end is c when no term starts there.
func (m *Model) runAt(words []Word, c int) (cueRun, int, int) {
	var run cueRun
	var parts []string
	k := c
	for k < len(words) {
		p, ok := m.cues.match(words, k)
		if !ok || (k == c && ordinary(words, k, p)) {
			break
		}
		// "make" goes on a run only after a strong term or before a
		// wh-word: "or no make what ...", "or make how many ...", never
		// "buy or make a cake".
		if p.text == "make" && run.strength != strong && (k+1 >= len(words) || class(words[k+1]) != "WH") {
			break
		}
		if len(parts) == 0 {
			run.first = p.text
		}
		run.last = p.text
		parts = append(parts, p.text)
		run.strength = max(run.strength, p.strength)
		k += len(p.words)
	}
	run.text = strings.Join(parts, " ")
	run.lastP = lit(run.last)
	return run, k, len(parts)
}

// parallel reports whether the repair's first word mirrors the
// reparandum's first or last word: the same word, or both numbers,
// wh-words or capitalized names.
func parallel(words []Word, e Edit) bool {
	k := words[e.End]
	for _, r := range []Word{words[e.Start], words[e.Cue-1]} {
		if r.Lower == k.Lower {
			return true
		}
		switch c := class(r); c {
		case "NUM", "WH", "CAP":
			if class(k) == c {
				return true
			}
		}
	}
	return false
}

// New makes a model from what Train returns.
func New(t Trained) *Model {
	m := &Model{lm: bigrams{counts: map[uint64]int32{}}, cues: newCueTable(), lengthCost: float32(t.LengthCost), scale: t.Scale, offset: t.Offset}
	weights := make(map[uint64]float32, len(t.Weights))
	for n, w := range t.Weights {
		weights[nameHash(n)] = float32(w)
	}
	m.weights = newTable(weights)
	for p, c := range t.Bigrams {
		m.lm.counts[ngramKey(strings.Fields(p)...)] = int32(c)
	}
	m.lm.freeze()
	return m
}

// Reachable reports whether some candidate repair of ex yields its fluent
// form: the ceiling of what the model can get right.
func (m *Model) Reachable(ex Example) bool {
	ok := false
	m.candidates(ex.Words, func(e Edit, _ cueRun) {
		if ex.Want != nil && deletes(ex.Words, e, ex.Want) {
			ok = true
		}
	})
	return ok
}

// Resolves reports whether applying m's repairs to ex yields its fluent form.
func Resolves(m *Model, ex Example) bool {
	edits := m.Find(ex.Words)
	var got []string
	for i, w := range ex.Words {
		del := false
		for _, e := range edits {
			if i >= e.Start && i < e.End {
				del = true
			}
		}
		if n := Norm(w.Lower); !del && n != "" {
			got = append(got, n)
		}
	}
	if len(got) != len(ex.Want) {
		return false
	}
	for i := range got {
		if got[i] != ex.Want[i] {
			return false
		}
	}
	return true
}

// table maps feature hashes to weights with open addressing: scoring looks
// up every feature of every candidate, and a flat table is several times
// faster than a Go map for that.
type table struct {
	keys []uint64
	vals []float32
	mask uint64
}

func newTable(m map[uint64]float32) table {
	size := 16
	for size < 2*len(m) {
		size *= 2
	}
	t := table{keys: make([]uint64, size), vals: make([]float32, size), mask: uint64(size - 1)}
	for k, v := range m {
		if k == 0 {
			k = 1 // 0 marks an empty slot
		}
		i := k & t.mask
		for t.keys[i] != 0 {
			i = (i + 1) & t.mask
		}
		t.keys[i], t.vals[i] = k, v
	}
	return t
}

func (t table) get(k uint64) float32 {
	if k == 0 {
		k = 1
	}
	for i := k & t.mask; ; i = (i + 1) & t.mask {
		switch t.keys[i] {
		case k:
			return t.vals[i]
		case 0:
			return 0
		}
	}
}
