package agentmode

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/agentmode/boundary"
	"github.com/earshot-dev/earshot/agentmode/repair"
)

// Kind says why words were removed.
type Kind string

// Removal kinds, as the output's "removed" entries name them.
const (
	Filler     Kind = "filler"     // a filled pause: um, uh, er
	Repetition Kind = "repetition" // a repeated word or phrase, a stutter: "I I", "th- the"
	Repair     Kind = "repair"     // words taken back and the editing terms: "Tuesday, sorry,"
	Discourse  Kind = "discourse"  // a filler phrase or connector: "you know", "and then"
)

// doc is a transcript being edited: its words and, for each, why it was
// removed ("" while kept).
type doc struct {
	// orig are the words as they came; words as they are now written
	// (rendering changes casing and punctuation).
	orig    []word
	words   []word
	removed []Kind
	// group numbers removals: words removed together share a number, so
	// that each edit is one entry of the output even when two edits touch.
	group  []int
	groups int
	// conf is each edit's confidence, by group number.
	conf []float64
	// minConf is the least confidence an edit or a boundary needs to be
	// made (Options.MinConfidence).
	minConf float64
	// split decides boundaries between requests; boundaries holds the
	// confidence of each one it made, by the first word after it.
	split      *boundary.Model
	boundaries map[int]float64
	// changed is set by every edit, to tell when editing has settled.
	changed bool

	// ver counts edits; keptList and sentenceList are cached for keptVer
	// and sentVer. Callers must not modify the cached slices.
	ver, keptVer, sentVer int
	keptList              []int
	sentenceList          [][]int
}

func newDoc(ws []word) *doc {
	return &doc{orig: ws, words: append([]word(nil), ws...), removed: make([]Kind, len(ws)), group: make([]int, len(ws)),
		conf: []float64{0}, minConf: DefaultMinConfidence, boundaries: map[int]float64{}}
}

// kept is the indexes of the words still in, in order.
func (d *doc) kept() []int {
	if d.keptList != nil && d.keptVer == d.ver {
		return d.keptList
	}
	out := make([]int, 0, len(d.words))
	for i, k := range d.removed {
		if k == "" {
			out = append(out, i)
		}
	}
	d.keptList, d.keptVer = out, d.ver
	return out
}

// ruleConfidence is the confidence of the edits made by rule rather than
// by a model. These are fixed priors, not fitted: a filled pause is
// almost never meant, a repeated word rarely, a filler phrase set off by
// pauses or a retraction ("scratch that") a little less surely. A caller's
// min_confidence above them turns those rules off.
var ruleConfidence = map[Kind]float64{
	Filler:     0.99,
	Repetition: 0.95,
	Repair:     0.9,
	Discourse:  0.9,
}

// remove marks words (indexes into d.words) as removed for kind, as one
// edit made by rule.
func (d *doc) remove(kind Kind, idx ...int) bool {
	return d.removeConf(kind, ruleConfidence[kind], idx...)
}

// removeConf is remove with the edit's confidence; an edit less sure than
// the caller's line is not made. It reports whether a word was removed.
func (d *doc) removeConf(kind Kind, conf float64, idx ...int) bool {
	if conf < d.minConf {
		return false
	}
	before := d.ver
	d.groups++
	d.conf = append(d.conf, conf)
	for _, i := range idx {
		if d.removed[i] == "" {
			d.removed[i] = kind
			d.group[i] = d.groups
			d.changed = true
			d.ver++
		}
	}
	return d.ver != before
}

// exemptRepeats are words people repeat on purpose: "that that", "had
// had", "very very", "no no", "bye bye", numbers read out digit by digit.
var exemptRepeats = setOf("that had is very really so no yes yeah bye ha haha knock many much far more long " +
	"again now okay ok well please boo chop tsk la na go out over through round wait there hear")

// repetitions removes a word or phrase said twice in a row ("I I", "we
// should we should", "on, on Tuesday") and stutters ("th- the"), keeping
// the last copy. Phrases of two or more words are repeated in any
// language; a single repeated word is removed only in English, since other
// languages repeat words on purpose (reduplication).
func (d *doc) repetitions(english bool) {
	for changed := true; changed; {
		changed = false
		cur := d.kept()
		for a := 0; a < len(cur) && !changed; a++ {
			w := d.words[cur[a]]
			// A stutter: a cut-off start of the next word, written "th-".
			if a+1 < len(cur) && strings.HasSuffix(w.trail, "-") && w.norm != "" {
				next := d.words[cur[a+1]].norm
				if len(next) > len(w.norm) && strings.HasPrefix(next, w.norm) {
					// Over the caller's min_confidence line nothing is
					// removed, and the scan must go on, not start again.
					if changed = d.remove(Repetition, cur[a]); changed {
						break
					}
				}
			}
			for n := 4; n >= 1 && !changed; n-- {
				if a+2*n > len(cur) || (n == 1 && !english) {
					continue
				}
				same := true
				for j := 0; j < n && same; j++ {
					x, y := d.words[cur[a+j]], d.words[cur[a+n+j]]
					same = x.norm != "" && x.norm == y.norm
				}
				// "to the The Sweet Suite playlist", "show the show The Son
				// of Tarzan": a capital starts a title.
				for j := 0; j < n && same; j++ {
					if first, second := d.words[cur[a+j]].core, d.words[cur[a+n+j]].core; first != second && isUpperStart(second) && !isUpperStart(first) {
						same = false
					}
				}
				if !same || crossesSentence(d, cur[a:a+n]) {
					continue
				}
				if n == 1 {
					if _, ok := exemptRepeats[w.norm]; ok || isNumeric(w.norm) {
						continue
					}
					// Only a function word said twice is surely a slip
					// ("the the", "I I"); a content word twice is as often
					// a title or a name ("Natsu Natsu", "amor amor").
					if !english || !functionWord(w.lower) {
						continue
					}
					// "the Free for All show, show me the times": the second
					// starts a new request.
					if w.pauseMark() && d.clauseStart(cur, a+1, false) {
						continue
					}
				}
				changed = d.remove(Repetition, cur[a:a+n]...)
			}
		}
	}
}

// functionWord reports whether a lower-case English word is of a closed
// class: an article, pronoun, preposition, auxiliary, conjunction,
// wh-word or the like.
func functionWord(lower string) bool {
	switch repair.Class(lower, false) {
	case "WH", "DET", "PDET", "PREP", "AUX", "PRON", "CONJ", "NEG", "QUANT":
		return true
	}
	return false
}

// crossesSentence reports whether a sentence ends inside the words idx
// (so that "Go. Go." is not a repetition).
func crossesSentence(d *doc, idx []int) bool {
	for _, i := range idx {
		if d.words[i].endsSentence() {
			return true
		}
	}
	return false
}

// isNumeric reports whether a Norm word is a number: digits, or a digit
// said as a word (phone numbers and codes repeat digits).
func isNumeric(s string) bool {
	return s == "oh" || repair.IsNumber(s) // "oh" as in "five oh five"
}

// fillers removes filled pauses (English), but not one written with a
// capital where no sentence starts: that is a name or a title ("show
// creativity in Ah").
func (d *doc) fillers() {
	kept := d.kept()
	for n, i := range kept {
		w := d.words[i]
		if !repair.IsFiller(w.lower) {
			continue
		}
		if n > 0 && isUpperStart(d.orig[i].core) && !d.words[kept[n-1]].endsSentence() {
			continue
		}
		// "Um" is also Portuguese for "a": after a Portuguese preposition
		// or "e" it is part of a name or title ("entre um coco e um adeus").
		if w.lower == "um" && n > 0 && !d.words[kept[n-1]].pauseMark() {
			if _, ok := portugueseBeforeUm[d.words[kept[n-1]].lower]; ok {
				continue
			}
		}
		d.remove(Filler, i)
	}
}

// portugueseBeforeUm are the Portuguese words an article "um" follows and
// an English filler does not.
var portugueseBeforeUm = setOf("e entre de em com para por sem num como é")

// discoursePhrases are said to hold the floor, not to mean anything, when
// set off by pauses: "it was, like, huge"; "remind me to, you know, send".
var discoursePhrases = [][]string{
	{"you", "know"}, {"i", "mean"}, {"like"}, {"sort", "of"}, {"kind", "of"}, {"you", "see"},
	{"i", "guess"}, {"basically"}, {"literally"},
}

// openers are said at the start of a sentence before a pause: "So, book a
// flight"; "Well, the answer is no".
var openers = setOf("so well like okay ok alright anyway")

// discourse removes filler phrases (English), but only where pauses set
// them off: after a comma or the start of a sentence (or a filler) and
// before a comma or the end of a sentence. "You know the answer", "I like
// it" and "I mean it" stay.
func (d *doc) discourse() {
	cur := d.kept()
	at := func(a int) (word, bool) {
		if a < 0 || a >= len(cur) {
			return word{}, false
		}
		return d.words[cur[a]], true
	}
	for a := 0; a < len(cur); a++ {
		for _, ph := range discoursePhrases {
			if a+len(ph) > len(cur) {
				continue
			}
			match := true
			for j, p := range ph {
				if d.words[cur[a+j]].lower != p || (j < len(ph)-1 && d.words[cur[a+j]].trail != "") {
					match = false
					break
				}
			}
			if !match {
				continue
			}
			last := d.words[cur[a+len(ph)-1]]
			prev, hasPrev := at(a - 1)
			openLeft := !hasPrev || prev.pauseMark() || prev.endsSentence()
			_, hasNext := at(a + len(ph))
			closeRight := last.pauseMark() || (last.endsSentence() && hasPrev && !prev.endsSentence()) || (!hasNext && hasPrev)
			if openLeft && closeRight && (hasPrev || hasNext) {
				d.remove(Discourse, cur[a:a+len(ph)]...)
				a += len(ph) - 1
				break
			}
		}
	}
	// Openers: "So, ..." at the start of a sentence, with more to come.
	cur = d.kept()
	for a := 0; a+1 < len(cur); a++ {
		w := d.words[cur[a]]
		prev, hasPrev := at(a - 1)
		if _, ok := openers[w.lower]; ok && strings.HasPrefix(w.trail, ",") && (!hasPrev || prev.endsSentence()) {
			d.remove(Discourse, cur[a])
		}
	}
}

func setOf(words string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, w := range strings.Fields(words) {
		m[w] = struct{}{}
	}
	return m
}

// repairs resolves self-repairs (English, agent mode): within each sentence
// with the repair model, and across sentences where a sentence retracts
// the one before ("Book it for two. Scratch that. Book it for four.").
func (d *doc) repairs(m *repair.Model) {
	for _, s := range d.sentences() {
		for _, e := range m.FindMin(d.repairWords(s), d.minConf) {
			d.removeConf(Repair, e.Confidence, s[e.Start:e.End]...)
		}
	}
	ss := d.sentences()
	for n, s := range ss {
		// "Scratch that." or "No, scratch that, ..." at the start of a
		// sentence takes back the sentence before.
		a := 0
		for a < len(s) {
			if _, ok := retractOpeners[d.words[s[a]].lower]; !ok {
				break
			}
			a++
		}
		if ph := d.retractionAt(s, a); ph > 0 {
			last := d.words[s[a+ph-1]]
			if a+ph == len(s) || last.pauseMark() || last.endsSentence() {
				idx := s[:a+ph]
				if n > 0 {
					idx = append(append([]int(nil), ss[n-1]...), idx...)
				}
				d.remove(Repair, idx...)
				continue
			}
		}
		// "Book it for two, never mind." takes back its own sentence.
		for b := 1; b < len(s); b++ {
			if ph := d.retractionAt(s, b); ph > 0 && b+ph == len(s) && d.words[s[b-1]].pauseMark() {
				d.remove(Repair, s...)
				break
			}
		}
	}
}

// retractionAt returns the length of the retraction phrase at s[a:], or 0.
func (d *doc) retractionAt(s []int, a int) int {
	for _, ph := range retractions {
		if a+len(ph) <= len(s) && d.phraseAt(s, a, ph) {
			return len(ph)
		}
	}
	return 0
}

// retractions take back what came before them.
var retractions = [][]string{
	{"scratch", "that"}, {"never", "mind"}, {"nevermind"}, {"forget", "that"}, {"forget", "it"},
	{"cancel", "that"}, {"disregard", "that"}, {"strike", "that"}, {"ignore", "that"},
	{"let", "me", "rephrase", "that"}, {"let", "me", "rephrase"}, {"let", "me", "start", "over"},
}

var retractOpeners = setOf("no oh sorry actually wait um uh er okay ok")

// phraseAt reports whether the words s[a:] start with phrase ph.
func (d *doc) phraseAt(s []int, a int, ph []string) bool {
	for j, p := range ph {
		if d.words[s[a+j]].lower != p {
			return false
		}
	}
	return true
}

// sentences splits the kept words into sentences. The slices share one
// backing array, cached until the next edit.
func (d *doc) sentences() [][]int {
	if d.sentenceList != nil && d.sentVer == d.ver {
		return d.sentenceList
	}
	kept := d.kept()
	out := [][]int{}
	start := 0
	for n := range kept {
		if d.endsAt(kept, n) {
			out = append(out, kept[start:n+1:n+1])
			start = n + 1
		}
	}
	if start < len(kept) {
		out = append(out, kept[start:len(kept):len(kept)])
	}
	d.sentenceList, d.sentVer = out, d.ver
	return out
}

// endsAt reports whether a sentence ends after the word list[n]: it
// ends with a sentence mark (endsSentence), and no lower-case word goes
// on after it, nor anything after an ellipsis or a mark and a dash,
// unless that starts a request or a question of its own. "Rate Who Moved
// My Cheese? a one", "Swine Not? deserves four points", "at ten PM.
// anywhere near us": the mark belongs to a title or an abbreviation, as
// the casing after it shows; "is it late? play some jazz" is two
// sentences all the same.
func (d *doc) endsAt(list []int, n int) bool {
	if !d.words[list[n]].endsSentence() {
		return false
	}
	if n+1 >= len(list) {
		return true
	}
	// A mark agent mode wrote: none was there, or another, moved from
	// words taken out after it ("Dr.- um?" reads "Dr.?", "a.m.- uh." reads
	// "a.m.."). Read again, it ends the sentence; so it does now.
	written := sentenceMark(d.orig[list[n]].trail) == "" || marks(d.words[list[n]].trail) != marks(d.orig[list[n]].trail)
	// A "!" after a word written with a capital, not a sentence's first,
	// and before another is a title's: "the showtimes for Beware! The
	// Blob", "the Author! Author! trailer", unless a request starts after
	// it. The next word's casing is not asked, only whether it has one:
	// ending the sentence would give it a capital, and the same text read
	// again must split alike.
	bang := d.words[list[n]].trail
	title := strings.Contains(bang, "!") && strings.Trim(bang, "!\"'”’)") == "" && n > 0 &&
		!d.words[list[n-1]].endsSentence() && isUpperStart(d.orig[list[n]].core) &&
		hasCase(d.orig[list[n+1]].core)
	if title {
		return d.clauseStart(list, n+1, false) || d.questionStart(list, n+1)
	}
	if written {
		return true // (a mark agent mode wrote, splitting requests, ends one)
	}
	// An ellipsis, or a mark with a dash after it, trails off or goes on:
	// "Chasing After Shadows... Living with the Ghosts", "Sing It! – High
	// School Musical".
	t := d.orig[list[n]].trail
	goesOn := strings.Contains(t, "…") || strings.Contains(t, "...") || strings.ContainsAny(t[strings.IndexAny(t, ".?!")+1:], "-–—")
	// The casing is the input's, of the word that came next there and of
	// the next word kept: "go. Th- the plan" ends a sentence before a
	// stutter taken out, and so the same text comes out when agent mode
	// reads its own output.
	r1, _ := utf8.DecodeRuneInString(d.orig[list[n]+1].core)
	r2, _ := utf8.DecodeRuneInString(d.orig[list[n+1]].core)
	if !goesOn && !(unicode.IsLower(r1) && unicode.IsLower(r2)) {
		return true
	}
	return d.clauseStart(list, n+1, false) || d.questionStart(list, n+1)
}

// hasCase reports whether s starts with a letter that has a capital and
// a small form ("a", "É"; not "日", "7").
func hasCase(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsUpper(r) || unicode.IsLower(r)
}

func isUpperStart(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsUpper(r)
}
