package agentmode

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// render repairs the kept words' punctuation and casing after removals:
// a sentence end inside removed words moves to the word kept before them
// ("Cancel it, um." -> "Cancel it."), a sentence starts with a capital, a
// lone "i" is "I" (English), and the text ends with a sentence mark.
// Rendering twice changes nothing.
func (d *doc) render(english bool) {
	cur := d.kept()
	for p, i := range cur {
		next := len(d.words)
		if p+1 < len(cur) {
			next = cur[p+1]
		}
		// A sentence end among the removed words that follow this one.
		if !d.words[i].endsSentence() {
			for j := i + 1; j < next; j++ {
				if m := sentenceMark(d.orig[j].trail); m != "" && d.removed[j] != "" {
					d.set(i, d.words[i].core, strings.TrimRight(d.words[i].trail, ",;:-–— ")+m)
					if d.words[i].endsSentence() {
						break // one mark ("deck." not "deck.."), two after "a.m."
					}
				}
			}
		}
		// A comma left on a word that cannot end a phrase, where a filler
		// was taken out after it: "remind me to, you know, send" reads
		// "remind me to send".
		if next > i+1 && p+1 < len(cur) && d.words[i].trail == "," && !d.words[i].endsSentence() {
			if _, ok := noCommaAfter[d.words[i].lower]; ok && english {
				d.set(i, d.words[i].core, "")
			}
		}
	}
	for p, i := range cur {
		w := d.words[i]
		core := w.core
		if english && (w.lower == "i" || strings.HasPrefix(w.lower, "i'")) {
			core = "I" + core[1:]
		}
		if p == 0 || d.endsAt(cur, p-1) {
			core = capitalize(core)
		} else if o, _ := utf8.DecodeRuneInString(d.orig[i].core); unicode.IsLower(o) && core != "I" && !strings.HasPrefix(core, "I'") {
			// No sentence starts here any more (a word taken out after
			// it: "like? send... um." reads "like? send..."): the
			// capital written for one goes.
			if r, n := utf8.DecodeRuneInString(core); r == unicode.ToUpper(o) && r != o {
				core = string(o) + core[n:]
			}
		}
		d.set(i, core, w.trail)
	}
	if len(cur) > 0 {
		// A final mark agent mode wrote is asked again: it may have been
		// the whole text's before requests were split ("What is the
		// weather in Paris and book a table" ends with a command now).
		last := cur[len(cur)-1]
		w := d.words[last]
		m := sentenceMark(w.trail)
		rewrite := sentenceMark(d.orig[last].trail) == "" && (m == "." || m == "?")
		for j := last + 1; j < len(d.words) && rewrite; j++ {
			rewrite = sentenceMark(d.orig[j].trail) == "" // (a mark moved from words taken out is the speaker's)
		}
		mark := "."
		if ss := d.sentences(); english && d.kindBy(ss[len(ss)-1], !rewrite) == Question {
			mark = "?"
		}
		if rewrite && m != mark {
			d.set(last, w.core, withoutMarks(w.trail))
		}
		d.endSentence(last, mark)
	}
}

// endSentence makes word i end a sentence with mark.
func (d *doc) endSentence(i int, mark string) {
	w := d.words[i]
	endSentence(&w, mark)
	d.set(i, w.core, w.trail)
}

// endSentence makes w end a sentence with mark, replacing a pause mark.
func endSentence(w *word, mark string) {
	if w.endsSentence() {
		return
	}
	// Keep closing quotes and brackets outside: `"Imagine".`
	body := strings.TrimRight(w.trail, ",;:-–— ")
	closers := ""
	for body != "" && strings.ContainsAny(body[len(body)-1:], "\"')]}") {
		closers = body[len(body)-1:] + closers
		body = body[:len(body)-1]
	}
	if strings.ContainsAny(body, ".") && !strings.ContainsAny(body, "?!") {
		body = strings.TrimRight(body, ".")
	}
	w.trail = body + mark + closers
	if !w.endsSentence() {
		// An abbreviation or an initial before the mark ("Dr.", "J."):
		// a second mark ends the sentence.
		w.trail += mark
	}
}

// sentenceMark is the sentence-ending mark in a trail, if any.
func sentenceMark(trail string) string {
	for _, m := range []string{"?", "!", "…", "."} {
		if strings.Contains(trail, m) {
			return m
		}
	}
	return ""
}

// marks are the sentence marks in a trail, in order.
func marks(trail string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(".?!…", r) {
			return r
		}
		return -1
	}, trail)
}

// withoutMarks is a trail without its sentence marks (`."` -> `"`).
func withoutMarks(trail string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(".?!…", r) {
			return -1
		}
		return r
	}, trail)
}

// capitalize upper-cases the first letter of s.
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || !unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// joinWords writes words as text, one space between them.
func joinWords(ws []word) string {
	var b strings.Builder
	for i, w := range ws {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w.text())
	}
	return b.String()
}

// set writes a word's new core and trail, noting a change.
func (d *doc) set(i int, core, trail string) {
	if w := &d.words[i]; w.core != core || w.trail != trail {
		w.core, w.trail = core, trail
		d.changed = true
		d.ver++
	}
}

// noCommaAfter are English words a phrase cannot end with.
var noCommaAfter = setOf("the a an to of in on at for with from by about into and or but is are was were " +
	"be been am do does did has have had can could will would should my your his her its our their this these those")
