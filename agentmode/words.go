package agentmode

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/agentmode/boundary"
	"github.com/earshot-dev/earshot/agentmode/repair"
	"github.com/earshot-dev/earshot/transcribe"
)

// word is one spoken word with the punctuation written around it.
type word struct {
	lead  string // punctuation before the word: `"`, `(`
	core  string // the word itself: "Tuesday", "don't", "$5"
	trail string // punctuation after it: ",", "?", `."`
	lower string // core in lower case, curly apostrophes made straight
	norm  string // letters and digits only, lower case: how words compare

	// src is the word's index in the input; removals and pages refer to it.
	src int
	// start and end are seconds in the audio, prob whisper's probability;
	// timed and probed say whether they are known.
	start, end float64
	prob       float64
	timed      bool
	probed     bool
	// para is set on the first word of a paragraph of the input text
	// (after a blank line).
	para bool
}

// isLeadPunct and isTrailPunct are the marks split off a word's edges.
func isLeadPunct(r rune) bool {
	switch r {
	case '"', '\'', '(', '[', '{', '¿', '¡', '“', '‘', '«', '„', '‚':
		return true
	}
	return false
}

func isTrailPunct(r rune) bool {
	switch r {
	case '.', ',', ';', ':', '!', '?', '"', '\'', ')', ']', '}', '…', '”', '’', '»', '-', '–', '—':
		return true
	}
	return false
}

// splitWord splits one whitespace-free token into punctuation and word.
func splitWord(tok string) word {
	tok = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, tok)
	core := strings.TrimLeftFunc(tok, isLeadPunct)
	lead := tok[:len(tok)-len(core)]
	t := strings.TrimRightFunc(core, isTrailPunct)
	trail := core[len(t):]
	core = t
	w := word{lead: lead, core: core, trail: trail}
	w.lower = strings.ToLower(core)
	if strings.ContainsAny(w.lower, "’‘") {
		w.lower = strings.NewReplacer("’", "'", "‘", "'").Replace(w.lower)
	}
	w.norm = repair.Norm(core)
	return w
}

// textWords splits text into words on white space. Tokens that are only
// punctuation ("-", "...") join the word before them.
func textWords(text string) []word {
	ws := make([]word, 0, strings.Count(text, " ")+1)
	para := false
	for len(text) > 0 {
		// The next token, and whether a blank line came before it.
		i := strings.IndexFunc(text, func(r rune) bool { return !unicode.IsSpace(r) })
		if i < 0 {
			break
		}
		para = strings.Count(text[:i], "\n") >= 2
		text = text[i:]
		j := strings.IndexFunc(text, unicode.IsSpace)
		if j < 0 {
			j = len(text)
		}
		tok := text[:j]
		text = text[j:]
		w := splitWord(tok)
		w.para = para && len(ws) > 0
		if w.core == "" {
			if len(ws) > 0 {
				ws[len(ws)-1].trail += tok
				continue
			}
			if tok = w.lead + w.trail; tok == "" {
				continue // only control characters
			}
			w.core, w.lead, w.trail = tok, "", ""
			w.lower = tok
		}
		w.src = len(ws)
		ws = append(ws, w)
	}
	return ws
}

// resultWords are a transcription's words. With token timestamps (res.Words
// set) each word has its own times; otherwise words are rebuilt from the
// segments' tokens and carry their segment's times, and wordTimed is false.
func resultWords(res *transcribe.Result) (ws []word, wordTimed bool) {
	src := res.Words
	wordTimed = len(src) > 0
	var segOf []int
	if !wordTimed {
		for si, s := range res.Segments {
			n := len(transcribe.Words([]transcribe.Segment{s}))
			for range n {
				segOf = append(segOf, si)
			}
		}
		src = transcribe.Words(res.Segments)
	}
	// Probabilities are known unless every one is 0 (OpenAI's
	// verbose_json has none).
	probed := false
	for _, tw := range src {
		probed = probed || tw.Probability > 0
	}
	for i, tw := range src {
		for _, tok := range strings.Fields(tw.Word) {
			w := splitWord(tok)
			if w.core == "" && len(ws) > 0 {
				ws[len(ws)-1].trail += tok
				continue
			}
			if w.core == "" {
				w.core, w.lower = tok, tok
			}
			w.src = len(ws)
			w.prob, w.probed = tw.Probability, probed
			w.start, w.end, w.timed = tw.Start, tw.End, true
			if !wordTimed {
				s := res.Segments[segOf[i]]
				w.start, w.end = s.Start, s.End
			}
			ws = append(ws, w)
		}
	}
	return ws, wordTimed
}

// text is the word as written, punctuation included.
func (w word) text() string { return w.lead + w.core + w.trail }

// endsSentence reports whether a sentence ends after w: a question or
// exclamation mark, or a full stop that does not end an abbreviation
// ("Dr.", "Feb.", "a.m.") or an initial ("J. K. Rowling"). A doubled stop
// ("a.m..") ends a sentence after an abbreviation.
func (w word) endsSentence() bool {
	if !strings.ContainsAny(w.trail, ".?!…") {
		return false
	}
	if strings.ContainsAny(w.trail, "?!…") || strings.Contains(w.trail, "..") {
		return true
	}
	// ("Tallahassee-St. Marks": the abbreviation after a hyphen.) A word
	// that is also an abbreviation ("sat", "sun") ends a sentence with its
	// period: "We sat in the sun." (a lower-case word after it still goes
	// on: "on Sun. at noon").
	ab := w.lower[strings.LastIndexAny(w.lower, "-–")+1:]
	if _, word := wordAbbreviations[ab]; word && !strings.Contains(w.core, ".") {
		return true
	}
	if _, ok := abbreviations[ab]; ok || strings.Contains(w.core, ".") {
		return false
	}
	if r, size := utf8.DecodeRuneInString(w.core); size == len(w.core) && unicode.IsUpper(r) {
		return false
	}
	return true
}

// wordAbbreviations are abbreviations that are English words too.
var wordAbbreviations = setOf("sat sun wed fig")

var abbreviations = map[string]struct{}{
	"mr": {}, "mrs": {}, "ms": {}, "dr": {}, "st": {}, "vs": {}, "v": {}, "jr": {}, "sr": {}, "prof": {},
	"inc": {}, "ltd": {}, "co": {}, "corp": {}, "vol": {}, "fig": {}, "approx": {}, "etc": {},
	"mt": {}, "ave": {}, "dept": {}, "gen": {}, "sgt": {}, "capt": {}, "jan": {}, "feb": {}, "mar": {}, "apr": {},
	"jun": {}, "jul": {}, "aug": {}, "sep": {}, "sept": {}, "oct": {}, "nov": {}, "dec": {}, "mon": {}, "tue": {},
	"wed": {}, "thu": {}, "fri": {}, "sat": {}, "sun": {}, "approx.": {}, "est": {}, "ft": {}, "lb": {}, "oz": {},
}

// pauseMark reports whether w is followed by a pause mark (comma, dash,
// semicolon, colon).
func (w word) pauseMark() bool { return strings.ContainsAny(w.trail, ",;:-–—") }

// repairWords is a sentence as the repair model sees it.
func (d *doc) repairWords(idx []int) []repair.Word {
	out := make([]repair.Word, len(idx))
	for i, j := range idx {
		w := &d.words[j]
		r, _ := utf8.DecodeRuneInString(w.core)
		out[i] = repair.Word{
			Lower: w.lower,
			Norm:  w.norm,
			Cap:   i > 0 && unicode.IsUpper(r) && w.lower != "i" && !strings.HasPrefix(w.lower, "i'"),
			Comma: w.pauseMark(),
		}
		// A request after a connector ("and then tell me ...") starts
		// anew: the repair model may neither read its first words as
		// editing terms nor take back the request before it.
		if i > 0 {
			prev := d.words[idx[i-1]]
			switch {
			case prev.lower == "and" || prev.lower == "then" || prev.lower == "also" || prev.lower == "plus":
				out[i].Boundary = prev.trail == "" && d.clauseStart(idx, i, false)
			case strings.HasSuffix(prev.trail, ",") && i >= 2:
				// "book four people at a bar, tell me when ...": after a
				// whole command and a comma, a request starts anew.
				out[i].Boundary = d.kindOf(idx[:i]) == Command && d.clauseStart(idx, i, false)
			}
		}
	}
	return out
}

// TrainingExample turns a disfluent sentence and its fluent version into
// an example for repair.Train, with the words split exactly as Format
// splits them. An empty fluent text makes a fluent example (no repair).
func TrainingExample(disfluent, fluent string) repair.Example {
	d := newDoc(textWords(disfluent))
	ex := repair.Example{Words: d.repairWords(d.kept())}
	if fluent != "" {
		ex.Want = []string{}
		for _, w := range textWords(fluent) {
			if w.norm != "" {
				ex.Want = append(ex.Want, w.norm)
			}
		}
	}
	return ex
}

// BoundaryExamples turns requests said in one breath, parts[0] joins[0]
// parts[1] ... (joins[i] is what was said between parts i and i+1: " and
// ", ", and then "), into examples for boundary.Train: one per place where
// agent mode would consider a boundary, a split where a join is. One part
// and no joins gives the negatives of a fluent sentence. The words are
// split and cased exactly as Format would see them.
func BoundaryExamples(parts, joins []string) []boundary.Example {
	var text strings.Builder
	gold := map[int]bool{}
	for i, p := range parts {
		if i > 0 {
			j := joins[i-1]
			// The candidate sits at the connector's first word, or at the
			// next part's first word after a bare comma.
			lead := j[:len(j)-len(strings.TrimLeft(j, ",;. "))]
			gold[len(textWords(text.String()+lead))] = true
			text.WriteString(j)
		}
		text.WriteString(p)
	}
	d := newDoc(textWords(text.String()))
	d.render(true)
	var out []boundary.Example
	for _, s := range d.sentences() {
		for b := 1; b < len(s)-1; b++ {
			n, ok := d.candidateAt(s, b)
			if !ok {
				continue
			}
			out = append(out, boundary.Example{Features: d.boundaryFeatures(s, b, n), Split: gold[s[b]]})
		}
	}
	return out
}
