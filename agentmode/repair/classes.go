package repair

import "strings"

// class is a coarse word class, enough for the model to see parallel
// structure ("in 1985, no, 1929"; "Which, no, what") without a tagger.
func class(w Word) string {
	if w.prepared {
		return w.cls
	}
	return classOf(w)
}

// normOf is Norm(w.Lower), computed once by prepare.
func normOf(w Word) string {
	if w.prepared {
		return w.norm
	}
	return Norm(w.Lower)
}

// prepare copies words with their class and Norm form worked out, so that
// scoring many candidates does not redo it.
func prepare(words []Word) []Word {
	out := make([]Word, len(words))
	for i, w := range words {
		w.cls, w.norm, w.prepared = classOf(w), w.Norm, true
		if w.cls == "TIME" {
			w.Cap = false // "Tuesday" is written with a capital, but is no name
		}
		w.lowerH, w.clsH, w.normH = hashString(w.Lower), hashString(w.cls), hashString(w.norm)
		if w.norm == "" {
			w.norm = Norm(w.Lower)
		}
		out[i] = w
	}
	return out
}

// Class is the coarse class of a word (lower case, and whether written with
// a capital where no sentence starts): "NUM", "WH", "DET", "PREP", "AUX",
// "PRON", "CONJ", "NEG", "QUANT", "TIME", "CAP" or a suffix class.
func Class(lower string, capital bool) string { return classOf(Word{Lower: lower, Cap: capital}) }

// IsNumber reports whether a lower-case word is a number: mostly digits,
// or a number said as a word ("seven", "twenty", "third").
func IsNumber(lower string) bool { return isNumber(lower) }

func classOf(w Word) string {
	l := w.Lower
	if l == "" {
		return "EMPTY"
	}
	if c, ok := closedClass[l]; ok {
		return c
	}
	if isNumber(l) {
		return "NUM"
	}
	if w.Cap {
		return "CAP"
	}
	switch {
	case strings.HasSuffix(l, "ing"):
		return "ING"
	case strings.HasSuffix(l, "ed"):
		return "ED"
	case strings.HasSuffix(l, "ly"):
		return "LY"
	case strings.HasSuffix(l, "'s"):
		return "POSS"
	case strings.HasSuffix(l, "tion"), strings.HasSuffix(l, "ment"), strings.HasSuffix(l, "ness"), strings.HasSuffix(l, "ity"):
		return "NOUN"
	case strings.HasSuffix(l, "s") && len(l) > 3:
		return "S"
	}
	return "W"
}

func isNumber(l string) bool {
	digits := 0
	for _, r := range l {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	if digits > 0 && digits*2 >= len(l) {
		return true
	}
	_, ok := numberWords[l]
	return ok
}

var numberWords = setOf("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " +
	"seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion " +
	"first second third fourth fifth sixth seventh eighth ninth tenth half dozen")

// article reports whether a lowercase word is "the", "a" or "an".
func article(lower string) bool { return lower == "the" || lower == "a" || lower == "an" }

// closedClass is each closed-class word's class; a word is in one list
// only ("may" is a month here: it was in two, and which one won changed
// from run to run, so that `make train` was not reproducible).
var closedClass = func() map[string]string {
	m := map[string]string{}
	for class, words := range map[string]string{
		"WH":    "what which who whom whose when where why how what's who's where's how's when's",
		"DET":   "the a an this that these those",
		"PDET":  "his her its their our my your",
		"PREP":  "in on at of for to from by with about during into over under after before between through against among within without across along around behind beyond near since until upon toward towards via per than like",
		"AUX":   "is are was were be been being am do does did has have had can could will would should might must shall isn't aren't wasn't weren't doesn't didn't don't hasn't haven't can't couldn't won't wouldn't",
		"PRON":  "i you he she it we they me him them us i'm you're it's we're they're",
		"CONJ":  "and or but nor so yet",
		"NEG":   "not no never",
		"QUANT": "many much more most some any all each every several few",
		"TIME": "monday tuesday wednesday thursday friday saturday sunday today tomorrow tonight yesterday " +
			"january february march april may june july august september october november december " +
			"morning afternoon evening noon midnight weekend",
	} {
		for _, w := range strings.Fields(words) {
			if _, dup := m[w]; dup {
				panic("repair: " + w + " is in two word classes")
			}
			m[w] = class
		}
	}
	return m
}()

func setOf(words string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, w := range strings.Fields(words) {
		m[w] = struct{}{}
	}
	return m
}
