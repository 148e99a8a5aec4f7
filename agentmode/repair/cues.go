package repair

import "strings"

// Editing terms: what speakers say between the words they take back (the
// reparandum) and the words that replace them (the repair). A run of them
// marks a place where a self-repair may be; the model decides whether there
// is one and where its reparandum starts.
//
// Strong terms are rarely said for any other reason mid-sentence. Weak ones
// (fillers, "or", "oh", "well", "like", "I guess") are said all the time
// without any repair, so a run of only weak terms is a candidate only where
// the words on both sides run parallel ("Spain, um, Russia"; "seven uh
// eight"), and a run of only "or"/"well"/"like"/"oh" never is ("Paris or
// London").
var strongTerms = []string{
	"no", "nope", "nah", "sorry", "rather", "wait", "actually", "instead",
	"oops", "whoops", "correction", "no no",
	"i mean", "i meant", "i meant to say", "i mean to say", "what i meant was", "what i mean is",
	"make that", "scratch that", "strike that", "cancel that", "forget that",
	"let me ask", "let me rephrase", "let me rephrase that", "let me try again",
	"excuse me", "pardon me", "hold on", "never mind", "nevermind",
	"better yet", "or better", "or rather", "my bad", "my mistake", "dang it", "darn it",
	"i want to know", "i should say", "no sorry", "i meant to ask", "i actually mean", "i actually meant",
	"not that but", "not that one but", "not this but", "not this one but", "not there but", "but rather",
	"disregard that", "just kidding", "let me say", "more specifically", "specifically", "cancel this",
	"no wait", "oh no", "doh", "bah", "darn", "dang", "shoot", "ahh no", "no i mean",
	"meant to say", "meant", "i mean to say", "cancel this and tell me", "or better yet",
	"i mean to ask", "i'm sorry", "change that to", "should say", "more generally", "more specifically",
	"that should be", "or should i say", "and tell me", "i am sorry", "forgive me",
	"change this to", "nix that", "hold up", "let me ask you", "let's go with", "lets go with", "i should have said",
	"let me say that again", "more broadly", "more particularly", "i was thinking", "wrong again", "i wanted to know", "how about",
	"make", "scratch this", "swap that to", "switch that to", "take that back", "i take that back", "oopsie", "oop",
}

// Fillers are filled pauses; they are also what clean mode removes.
var fillers = []string{
	"uh", "um", "er", "erm", "err", "umm", "ummm", "uhh", "uhhh", "uhm", "ugh", "hmm", "hmmm", "hm", "ah", "ahh",
	"eh", "ehm", "mm", "mmm", "ooh", "oof", "ooof",
}

var weakTerms = []string{"or", "oh", "well", "like", "i guess", "ah well", "tell me", "not that", "not this", "first", "just", "better", "maybe"}

// termStarts are the first words of the strong editing terms.
var termStarts = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range strongTerms {
		m[strings.Fields(t)[0]] = true
	}
	return m
}()

// IsFiller reports whether a lowercase word is a filled pause (um, uh, er ...).
func IsFiller(lower string) bool {
	for _, f := range fillers {
		if lower == f {
			return true
		}
	}
	return false
}

type strength uint8

const (
	notCue   strength = iota
	weakOr            // or, oh, well, like: never a repair by themselves
	weakFill          // a filled pause: a repair only between parallel words
	strong
)

// cueTable matches editing terms, longest first.
type cueTable struct {
	byFirst map[string][]cuePhrase
}

type cuePhrase struct {
	words    []string
	text     string
	strength strength
}

func newCueTable() *cueTable {
	t := &cueTable{byFirst: map[string][]cuePhrase{}}
	add := func(list []string, s strength) {
		for _, p := range list {
			ws := strings.Fields(p)
			t.byFirst[ws[0]] = append(t.byFirst[ws[0]], cuePhrase{words: ws, text: p, strength: s})
		}
	}
	add(strongTerms, strong)
	add(fillers, weakFill)
	add(weakTerms, weakOr)
	for k, ps := range t.byFirst {
		// Longest first, so that "i meant to say" wins over "i meant".
		for i := 1; i < len(ps); i++ {
			for j := i; j > 0 && len(ps[j].words) > len(ps[j-1].words); j-- {
				ps[j], ps[j-1] = ps[j-1], ps[j]
			}
		}
		t.byFirst[k] = ps
	}
	return t
}

// match returns the longest editing term starting at words[i].
func (t *cueTable) match(words []Word, i int) (cuePhrase, bool) {
	for _, p := range t.byFirst[words[i].Lower] {
		if i+len(p.words) > len(words) {
			continue
		}
		ok := true
		for j, w := range p.words[1:] {
			if words[i+1+j].Lower != w {
				ok = false
				break
			}
		}
		if ok {
			return p, true
		}
	}
	return cuePhrase{}, false
}

// ordinary reports whether an editing term at words[i] is used in its
// ordinary sense, as the words around it show: "I'd rather go", "instead
// of", "wait for me", "I'm sorry for", "no longer", "hold on to",
// "I actually like it". Such a use is never a repair cue.
func ordinary(words []Word, i int, p cuePhrase) bool {
	prev, next := "", ""
	if i > 0 {
		prev = words[i-1].Lower
	}
	if j := i + len(p.words); j < len(words) {
		next = words[j].Lower
	}
	prevComma := i > 0 && words[i-1].Comma
	if words[i].Cap {
		return true // part of a name or title: "No Time to Be Young"
	}
	switch p.text {
	case "rather":
		return next == "than" || prev == "would" || prev == "i'd" || prev == "we'd" || prev == "you'd" ||
			prev == "he'd" || prev == "she'd" || prev == "they'd" || prev == "had" || prev == "but"
	case "instead":
		// "instead of", "rely on instead in a just society".
		return next == "of" || i+1 < len(words) && class(words[i+1]) == "PREP"
	case "make that":
		// "what did chemists make that could be used": a clause, not a
		// correction.
		switch next {
		case "could", "would", "can", "will", "should", "might", "must", "shall", "may":
			return true
		}
	case "that should be":
		// "cells that should be targeted": a passive, not a correction.
		return i+3 < len(words) && class(words[i+3]) == "ED"
	case "specifically":
		// "not specifically reserved", "who specifically does ...".
		return prev == "not" || class(Word{Lower: prev}) == "WH"
	case "meant":
		// "an application only meant for use by the military".
		return next == "for" || prev == "only" || prev == "is" || prev == "was" || prev == "be" || prev == "are" || prev == "were"
	case "wait":
		return next == "for" || next == "until" || next == "till" || next == "to" || next == "and" ||
			prev == "to" || prev == "can't" || prev == "cannot" || prev == "will" || prev == "please" ||
			prev == "i'll" || prev == "we'll" || prev == "not" || prev == "don't" || prev == "should" || prev == "must"
	case "sorry":
		if class(Word{Lower: next}) == "WH" {
			return false // "who is, sorry, what measures ..."
		}
		switch prev {
		case "i'm", "am", "so", "very", "feel", "felt", "be", "was", "were", "are", "is", "really", "we're", "they're", "you're", "say":
			return true
		}
		return next == "for" || next == "about" || next == "to" || next == "that"
	case "no":
		switch next {
		case "one", "longer", "more", "less", "matter", "doubt", "way", "problem", "thanks", "than", "sooner", "idea", "longer,", "other":
			return true
		}
		// "has no power", "requires no qualifications", "with no end":
		// "no" is a determiner after a verb or preposition that takes an
		// object.
		// A wh-word or an auxiliary after "no" restarts the question ("What
		// have no What is ..."); anything else after these is an object.
		if nc := class(Word{Lower: next}); nc == "WH" || nc == "AUX" {
			return false
		}
		// bare: no pause on either side of "no"; toWord: what follows
		// starts no editing term and is no filled pause.
		bare := !prevComma && !words[i].Comma
		toWord := !termStarts[next] && !IsFiller(next)
		switch prev {
		case "has", "have", "had", "requires", "require", "required", "needs", "need", "needed", "with", "without",
			"of", "shows", "show", "showed", "gives", "give", "gave", "takes", "take", "took", "makes", "make", "made",
			"got", "gets", "get", "there's", "contains", "contain", "contained", "leaves", "left", "offers", "offer":
			return true
		}
		// After a verb that takes an object, or a verb's particle, before
		// an open-class word: "clinicians given no prescriptive authority",
		// "found no statistical failings", "give up no lands". (A repair
		// after them starts with a term, a pronoun, an article or a word
		// of a closed class: "found no I meant ...", "dry up no sorry".)
		if _, ok := objectVerbs[prev]; ok && bare && toWord && i+1 < len(words) && openClass(class(words[i+1])) {
			return true
		}
		// After a subordinating conjunction, where a verb follows the
		// noun: "when no data is transferred", "if no one ...".
		if _, ok := subordinators[prev]; ok && bare && i+2 < len(words) && openClass(class(words[i+1])) &&
			!termStarts[next] && (class(words[i+2]) == "AUX" || i+3 < len(words) && openClass(class(words[i+2])) && class(words[i+3]) == "AUX") {
			return true
		}
		// After a preposition, with no pause: "authority over no others"
		// (but "came after no before the Yuan" mends the preposition).
		if i > 0 && bare && toWord && class(words[i-1]) == "PREP" && (i+1 >= len(words) || class(words[i+1]) != "PREP") {
			return true
		}
		if i >= 2 && words[i-2].Lower == "there" || prev == "there" && toWord {
			return true // "there is no ...", "are there no ..."
		}
		// After an auxiliary, before an open-class word or a name, "no"
		// is a determiner: "What do no community pharmacies do?", "What
		// is no different ...".
		if i > 0 && i+1 < len(words) && class(words[i-1]) == "AUX" && bare && toWord {
			if c := class(words[i+1]); openClass(c) || c == "CAP" {
				return true
			}
		}
		// A bare "no" before an open-class word of another class than the
		// one before it, with no pause on either side, is a determiner
		// before a plural that a verb follows or after a participle: "a
		// day no pigs would die", "reached no decision", "pleading no
		// contest". A repair
		// mirrors what it replaces ("tallest no shortest", "in 1985 no
		// 1929"). (Wider readings cost more repairs than they saved
		// words, cross-validated.)
		if i > 0 && bare && i+1 < len(words) {
			if nc := class(words[i+1]); openClass(nc) {
				switch pc := class(words[i-1]); {
				case pc == nc:
				case nc == "S" && i+2 < len(words) && class(words[i+2]) == "AUX", pc == "ED", pc == "ING":
					return true
				}
			}
		}
	case "i'm sorry", "i am sorry":
		return next == "for" || next == "about" || next == "to" || next == "that" || next == "but" || i == 0
	case "actually":
		// Without a pause before it "actually" is an adverb: "I actually
		// like it", unless a question starts again after it ("what
		// percent actually how many ...") or another name or noun phrase
		// follows where no verb is ("the European actually the U.S.
		// model").
		if nc := class(Word{Lower: next}); nc == "WH" {
			return false
		}
		if article(next) {
			switch pc := class(Word{Lower: prev}); {
			case pc == "AUX", pc == "PRON", prev == "":
				return true
			}
			return false
		}
		return !prevComma && !words[i].Comma
	case "and tell me", "how about", "make":
		// Only after other editing terms ("no, scratch that, and tell me
		// ...", "no, how about ..."; "or no make what ...", short for "make
		// that"): at the start of a run it joins a new request or makes
		// one, and "make" is a verb.
		return true
	case "tell me":
		// "Please tell me what ...", "can you tell me", "want you to tell me".
		return prev == "please" || prev == "you" || prev == "to" || prev == "and"
	case "like":
		// "What's the weather like when ...", "what does it look like where ...",
		// "they act like what?".
		switch prev {
		case "weather", "be", "is", "was", "it", "look", "looks", "sound", "sounds", "feel", "feels", "seem", "seems", "act", "acts":
			return true
		}
	case "hold on":
		return next == "to" || next == "tight"
	case "i want to know", "i should say", "i was thinking", "i wanted to know", "i should have said":
		return prev == "what" || prev == "all"
	}
	return false
}

// objectVerbs are more verbs (and verb particles) that take an object,
// which a determiner "no" may start before an open-class word: "given no
// authority", "charge no tuition", "carry out no tests". (The commonest,
// "has", "gives", "takes" ..., are ordinary before any word, listed in
// ordinary.)
var objectVerbs = setOf("given find finds found see sees saw seen receive receives received " +
	"charge charges charged cause causes caused pay pays paid allow allows allowed provide provides provided " +
	"produce produces produced hold holds held keep keeps kept bring brings brought bear bears bore " +
	"up out down off")

// subordinators start a clause whose subject a determiner "no" may start.
var subordinators = setOf("when if where because while whether unless although though")

// openClass reports whether a word class is open (nouns, verbs,
// adjectives): what a determiner is followed by.
func openClass(c string) bool {
	switch c {
	case "W", "S", "ING", "ED", "LY", "NOUN":
		return true
	}
	return false
}

// single reports whether a word is an editing term all by itself ("no",
// "sorry", "uh", "or").
func (t *cueTable) single(w string) bool {
	for _, p := range t.byFirst[w] {
		if len(p.words) == 1 {
			return true
		}
	}
	return false
}
