package agentmode

import (
	"strconv"
	"strings"

	"github.com/earshot-dev/earshot/agentmode/repair"
)

// Intent kinds.
const (
	Command   = "command"   // a request to do something: "Book a table", "Can you play ..."
	Question  = "question"  // a request for information: "What's the weather?"
	Statement = "statement" // anything else
)

// commandVerbs start requests said as imperatives.
var commandVerbs = setOf("add book play find show rate give put search look get tell set remind cancel send call " +
	"open turn check schedule move make create start stop email text write read buy order reserve delete remove " +
	"update change help take bring pick list note save share forward reply mark pause resume skip repeat translate " +
	"summarize draft print download upload install run close restart switch dim raise lower increase decrease mute " +
	"unmute record navigate go use notify message invite locate display shuffle queue listen watch need " +
	"rename copy paste fix review approve reject submit sign assign plan prepare arrange confirm clear empty " +
	"wake text dial ring lock unlock enable disable load tune reschedule postpone proceed " +
	"archive snooze subscribe unsubscribe bookmark")

// whStarts are wh-words that start a question when a verb follows.
var whStarts = setOf("what when where how why who what's when's where's how's who's")

var auxiliaries = setOf("is are was were do does did can could will would should shall may might must " +
	"isn't aren't don't doesn't didn't can't won't wouldn't shouldn't")

var subjects = setOf("i you he she it we they there this that the a an my your any some")

// wantVerbs follow "I" in a request: "I want to hear", "I'd like a table".
var wantVerbs = setOf("want need wanna wish would 'd like am 'm")

// strongConnectors join two requests: "book a table and then remind me".
var strongConnectors = [][]string{
	{"and", "after", "that"}, {"and", "then"}, {"and", "also"}, {"and", "afterwards"}, {"after", "that"},
	{"and", "additionally"}, {"and", "next"},
}

// weakConnectors join requests only when a request clearly follows:
// "Trinidad and Tobago", "rock and roll" and "add eggs, milk" stay whole.
var weakConnectors = [][]string{{"and"}, {"plus"}, {"then"}, {"also"}}

// segment splits each sentence into intents at connectors that join
// requests, removing the connector ("and then") and ending the first part
// as a sentence, so that every intent is a sentence of the text.
func (d *doc) segment() {
	for _, s := range d.sentences() {
		d.segmentSentence(s)
	}
	// "And then remind me ..." at the start of a sentence: the connector
	// goes, the request stays.
	for _, s := range d.sentences() {
		n, strong := d.connectorAt(s, 0)
		if n > 0 && n < len(s) && (strong || d.clauseStart(s, n, true)) {
			d.remove(Discourse, s[:n]...)
			if p, ok := d.boundaries[s[0]]; ok && d.removed[s[0]] != "" {
				d.boundaries[s[n]] = p // the request starts after the connector
			}
		}
	}
}

// intents groups sentences into intents. A sentence that is only a
// fragment ("At our step mother's place.", "2 out of 6 stars.") belongs
// to the request before it (or, first, after it); opening an app sets up
// the request that follows ("Open Spotify. Play some jazz.").
func (d *doc) intents() [][]int {
	var out [][]int
	ss := append([][]int(nil), d.sentences()...)
	for i, s := range ss {
		if len(out) > 0 {
			prev := out[len(out)-1]
			if d.fragment(s) {
				out[len(out)-1] = append(prev[:len(prev):len(prev)], s...)
				continue
			}
		}
		if i+1 < len(ss) && (d.fragment(s) || d.setup(s)) {
			ss[i+1] = append(append([]int(nil), s...), ss[i+1]...)
			continue
		}
		out = append(out, s)
	}
	return out
}

// setup reports whether a sentence only opens an app: "Open Spotify.",
// "Go to iTunes."
func (d *doc) setup(s []int) bool {
	if len(s) > 4 {
		return false
	}
	first := d.words[s[0]].lower
	return first == "open" || first == "launch" || (first == "go" && len(s) > 1 && d.words[s[1]].lower == "to")
}

// fragment reports whether a sentence starts like a phrase, not a clause:
// with a preposition or a number, and is no request of its own.
func (d *doc) fragment(s []int) bool {
	if !phraseStart(d.words[s[0]]) {
		return false
	}
	// "At 4 am book a bar ...", "Out of 6 give X a 1": a request after
	// the phrase that sets it up.
	for _, i := range s[1:] {
		if _, ok := commandVerbs[d.words[i].lower]; ok {
			return false
		}
	}
	// "On 2/25/2025 will it be hot in Holstein", "In 8 years I'd like a
	// table": a question or a request of its own after the phrase. "0
	// stars for this current saga": a rating that names what it rates.
	rating := false
	for j := 1; j < len(s)-1; j++ {
		w := d.words[s[j]].lower
		if d.questionStart(s, j) || opensRequest(w, d.words[s[j+1]].lower) {
			return false
		}
		if _, ok := ratingNouns[w]; ok {
			rating = true
		} else if rating && (w == "for" || w == "to") {
			return false
		}
	}
	return d.kindOf(s) == Statement
}

// ratingNouns are what a rating is given in.
var ratingNouns = setOf("stars star points point")

var prepositions = setOf("at in on to for from by with about of into onto out during before after until till " +
	"near around over under between within without via per")

func (d *doc) segmentSentence(s []int) {
	for b := 1; b < len(s)-1; b++ {
		n, ok := d.candidateAt(s, b)
		if !ok {
			continue
		}
		p := d.splitProbability(s, b, n)
		if p < d.minConf {
			continue // not sure enough: the words stay one request
		}
		if n > 0 {
			d.removeConf(Discourse, p, s[b:b+n]...)
		}
		d.boundaries[s[b+n]] = p
		kind := d.kindOf(s[:b])
		mark := "."
		if kind == Question {
			mark = "?"
		}
		d.endSentence(s[b-1], mark)
		d.segmentSentence(s[b+n:])
		return
	}
}

// candidateAt reports whether a new request may start at s[b] (after a
// connector of n words at s[b:], or after a comma when n is 0) and is not
// ruled out: "my wife and I", a clause that opens an app ("Open Spotify
// and play some jazz" is one request), a conditional's comma ("If it
// rains, cancel the picnic").
func (d *doc) candidateAt(s []int, b int) (n int, ok bool) {
	if b < 1 || b >= len(s)-1 {
		return 0, false
	}
	prev := d.words[s[b-1]]
	n, strong := d.connectorAt(s, b)
	switch {
	case n > 0:
	case strings.HasSuffix(prev.trail, ",") && !prev.endsSentence():
		// (Only at a comma: a colon or a semicolon is more often inside a title.)
	default:
		return 0, false
	}
	if b+n >= len(s) {
		return 0, false
	}
	if d.words[s[b]].lower == "and" && d.words[s[b+1]].lower == "i" && b < 3 {
		return 0, false // "my wife and I want ..."
	}
	// "If it rains, then cancel the picnic" is one request ("When is
	// ..." is a question, not a subordinate clause).
	_, sub := subordinators[d.words[s[0]].lower]
	if sub && !d.questionStart(s, 0) && !strong {
		return 0, false
	}
	if d.setup(s[:b]) {
		return 0, false
	}
	if d.bareAsk(s[b+n:]) {
		return 0, false // "I need Top Gear 2, please search it for me."
	}
	if n == 0 && d.leadPhrase(s[:b]) {
		return 0, false // "Tomorrow at noon, remind me to call Bob."
	}
	// "eggs, milk, and bread": the last item of a list, after an earlier
	// comma, when no request starts after the connector.
	if strings.HasSuffix(prev.trail, ",") && !d.clauseStart(s, b+n, false) {
		for _, i := range s[max(0, b-4) : b-1] {
			if strings.HasSuffix(d.words[i].trail, ",") {
				return 0, false
			}
		}
	}
	return n, true
}

// ruleSplit is what the hand-written rules say about a candidate: a strong
// connector before a request (or after one); a weak connector or a comma
// where a command or question is followed by another request. The
// boundary model takes it as one of its features.
func (d *doc) ruleSplit(s []int, b, n int) bool {
	_, strong := d.connectorAt(s, b)
	switch {
	case n > 0 && strong:
		return d.clauseStart(s, b+n, true) || d.isRequest(s[:b])
	case n > 0:
		return d.joins(s[:b], s, b+n)
	}
	_, dangling := cannotEndClause[d.words[s[b-1]].lower]
	return !dangling && len(s)-b >= 2 && d.joins(s[:b], s, b)
}

// splitProbability is the boundary model's probability that a new
// request starts at s[b+n].
func (d *doc) splitProbability(s []int, b, n int) float64 {
	return d.split.Probability(d.boundaryFeatures(s, b, n))
}

// boundaryFeatures describes a candidate boundary for the boundary model.
func (d *doc) boundaryFeatures(s []int, b, n int) []string {
	w := func(j int) word {
		if j < 0 || j >= len(s) {
			return word{lower: "<none>"}
		}
		return d.words[s[j]]
	}
	cls := func(j int) string {
		x := w(j)
		if x.lower == "<none>" {
			return "<none>"
		}
		return repair.Class(x.lower, j > 0 && isUpperStart(x.core) && x.lower != "i")
	}
	yn := func(v bool) string {
		if v {
			return "y"
		}
		return "n"
	}
	conn := ","
	if n > 0 {
		parts := make([]string, n)
		for j := range n {
			parts[j] = w(b + j).lower
		}
		conn = strings.Join(parts, " ")
		if strings.HasSuffix(w(b-1).trail, ",") {
			conn = ", " + conn
		}
	}
	r := b + n // the first word of what would be the next request
	rule := yn(d.ruleSplit(s, b, n))
	lk := d.kindOf(s[:b])
	_, cv := commandVerbs[w(r).lower]
	_, wh := whStarts[w(r).lower]
	leftVerb := false
	for _, i := range s[:b] {
		if _, ok := commandVerbs[d.words[i].lower]; ok {
			leftVerb = true
			break
		}
	}
	capL, capR := yn(isUpperStart(w(b-1).core)), yn(isUpperStart(w(r).core) && w(r).lower != "i")
	bare := d.bareVerb(s, b)
	feats := []string{
		"bias",
		"rule=" + rule,
		"rule|conn=" + rule + "|" + conn,
		"conn=" + conn,
		"lk=" + lk,
		"lk|conn=" + lk + "|" + conn,
		"lk|rule=" + lk + "|" + rule,
		"cs=" + yn(d.clauseStart(s, r, false)) + "|" + yn(d.clauseStart(s, r, true)),
		"qs=" + yn(d.questionStart(s, r)),
		"cs|conn=" + yn(d.clauseStart(s, r, false)) + "|" + conn,
		"cv+1=" + yn(cv) + "|" + lk,
		"wh+1=" + yn(wh) + "|" + lk,
		"w-1=" + w(b-1).lower,
		"w-2|w-1=" + w(b-2).lower + "|" + w(b-1).lower,
		"w+1=" + w(r).lower,
		"w+1|w+2=" + w(r).lower + "|" + w(r+1).lower,
		"w-1|w+1=" + w(b-1).lower + "|" + w(r).lower,
		"c-1=" + cls(b-1),
		"c+1=" + cls(r),
		"c-1|c+1=" + cls(b-1) + "|" + cls(r),
		"c+1|c+2=" + cls(r) + "|" + cls(r+1),
		"c-1|conn|c+1=" + cls(b-1) + "|" + conn + "|" + cls(r),
		"cap=" + capL + capR,
		"cap|conn=" + capL + capR + "|" + conn,
		"llen=" + lenBucket(b),
		"rlen=" + lenBucket(len(s)-r),
		"first=" + w(0).lower,
		"first|w+1=" + w(0).lower + "|" + w(r).lower,
		"leftverb=" + yn(leftVerb) + "|" + yn(cv),
		"leftbare=" + yn(bare),
	}
	// The words a little further on: a request may show itself by a verb
	// well after its start ("and the Far Side of the World chronicle
	// deserves three points").
	for j := r + 2; j < min(len(s), r+13); j++ {
		feats = append(feats, "r+="+w(j).lower)
	}
	return feats
}

// bareVerb reports whether the words before s[b] are a verb with no
// object of its own, said together with what follows: "make and play a
// playlist", "please call and reserve", "go ahead and add", "can you pull
// up and play".
func (d *doc) bareVerb(s []int, b int) bool {
	if b < 1 {
		return false
	}
	lower := func(j int) string { return d.words[s[j]].lower }
	j := 0
	for j < b-1 && (lower(j) == "please" || lower(j) == "lets" || lower(j) == "let's" ||
		((lower(j) == "can" || lower(j) == "could") && lower(j+1) == "you") || (j > 0 && lower(j) == "you" && (lower(j-1) == "can" || lower(j-1) == "could"))) {
		j++
	}
	_, verb := commandVerbs[lower(b-1)]
	_, particle := particles[lower(b-1)]
	return b-j <= 2 && (verb || particle)
}

// bareAsk reports whether words only ask for what was said before them,
// with no object but "it" or "that": "please search", "help me find",
// "get it for me please", "could you help?". They add no request.
func (d *doc) bareAsk(s []int) bool {
	verb := false
	for j, i := range s {
		switch w := d.words[i].lower; {
		case w == "please" || w == "me" || w == "it" || w == "that" || w == "for" || w == "you":
		case (w == "can" || w == "could" || w == "would") && j == 0:
		case w == "search" || w == "find" || w == "get" || w == "help" || w == "look":
			verb = true
		default:
			return false
		}
	}
	return verb
}

// leadPhrase reports whether words are only a phrase that sets up what
// follows: a time or place with no verb of its own ("Tomorrow at noon",
// "At 8 pm", "For dinner tonight"), started by a preposition, a number or
// a day.
func (d *doc) leadPhrase(s []int) bool {
	if len(s) == 0 || len(s) > 6 {
		return false
	}
	if !phraseStart(d.words[s[0]]) {
		return false
	}
	for _, i := range s {
		w := d.words[i].lower
		_, aux := auxiliaries[w]
		_, verb := commandVerbs[w]
		_, subj := subjectPronouns[w]
		// ("I'm", "it's", "don't" hold a verb; "Anna's", "o'clock" do not.)
		base, _, contracted := strings.Cut(w, "'")
		_, subjBase := subjectPronouns[base]
		if aux || verb || subj || contracted && (subjBase || base == "that" || base == "what" || strings.HasSuffix(w, "n't")) {
			return false
		}
	}
	return true
}

// phraseStart reports whether a word starts a phrase of time or place
// rather than a clause: a preposition, a number or a day ("At 8 pm",
// "5 stars", "Tomorrow at noon").
func phraseStart(w word) bool {
	_, prep := prepositions[w.lower]
	_, day := days[w.lower]
	return prep || day || isNumeric(w.norm)
}

// days start a phrase of time: "Tomorrow at noon, ...".
var days = setOf("today tonight tomorrow yesterday monday tuesday wednesday thursday friday saturday sunday")

var subjectPronouns = setOf("i you he she it we they there")

// particles end a phrasal verb: "pull up", "go ahead".
var particles = setOf("up down out off on in over back away ahead along around")

func lenBucket(n int) string {
	switch {
	case n <= 3:
		return strconv.Itoa(n)
	case n <= 5:
		return "4-5"
	case n <= 8:
		return "6-8"
	case n <= 12:
		return "9-12"
	}
	return "13+"
}

// connectorAt returns the length of a connector at s[b:] and whether it is
// a strong one.
func (d *doc) connectorAt(s []int, b int) (int, bool) {
	for _, c := range strongConnectors {
		if b+len(c) <= len(s) && d.phraseAt(s, b, c) && d.plain(s, b, len(c)) {
			return len(c), true
		}
	}
	for _, c := range weakConnectors {
		if b+len(c) <= len(s) && d.phraseAt(s, b, c) && d.plain(s, b, len(c)) {
			return len(c), false
		}
	}
	return 0, false
}

// plain reports whether the n words at s[b:] have no punctuation inside
// (the last may have a comma: "and then, book ...").
func (d *doc) plain(s []int, b, n int) bool {
	for j := 0; j < n; j++ {
		w := d.words[s[b+j]]
		if w.lead != "" || (w.trail != "" && (j < n-1 || w.trail != ",")) {
			return false
		}
	}
	return true
}

// clauseStart reports whether the words at s[j:] start a request or a
// question: a way of asking (opensRequest), a command verb, a question of
// its own (questionStart), "how many", "what ..." after "and", or (with
// loose) an auxiliary followed by anything.
func (d *doc) clauseStart(s []int, j int, loose bool) bool {
	if j+1 >= len(s) {
		return false
	}
	w, next := d.words[s[j]].lower, d.words[s[j+1]].lower
	if opensRequest(w, next) || d.questionStart(s, j) {
		return true
	}
	if _, ok := commandVerbs[w]; ok {
		// "play" and "book" are verbs here; "the book" is not.
		return true
	}
	if _, ok := whStarts[w]; ok {
		switch next {
		case "many", "much", "long", "far", "old", "about", "kind", "type", "sort", "time", "times":
			return true
		}
		// After "and" or a comma, "what ..." asks anew.
		return w == "what" || w == "how"
	}
	_, aux := auxiliaries[w]
	return aux && loose
}

// opensRequest reports whether a request starts with the words first,
// next: "please", "let's", "let me", "don't", "I'd like", "I want", "I'm
// looking", "looking for", "wish to", "need to".
func opensRequest(first, next string) bool {
	switch {
	case first == "please", first == "let's", first == "lets", first == "let" && (next == "me" || next == "us"):
		return true
	case first == "don't" || first == "do" && next == "not":
		return true
	case first == "i'd" && (next == "like" || next == "love"), first == "i'm" && next == "looking":
		return true
	case first == "i":
		_, ok := wantVerbs[next]
		return ok
	case (first == "wish" || first == "want" || first == "need" || first == "like") && next == "to":
		return true
	case first == "looking" && next == "for", first == "am" && next == "looking":
		return true
	}
	return false
}

// subordinators start clauses that belong to the rest of the sentence.
var subordinators = setOf("if assuming when whenever although though because since once unless suppose supposing while whereas")

// joins reports whether a weak connector (or a comma) before s[j:] joins
// two requests: a command followed by any request; a question followed by
// another question, or by a command when no subordinate clause ("when",
// "that", "which") came before; never a statement ("Most antibiotics
// target bacteria and don't affect ...").
func (d *doc) joins(left, s []int, j int) bool {
	switch d.kindOf(left) {
	case Command:
		return d.clauseStart(s, j, false) || d.infoRequest(s, j, left)
	case Question:
		if d.questionStart(s, j) {
			return true
		}
		for _, i := range left[1:] {
			if isUpperStart(d.words[i].core) {
				continue // in a title: "Any Which Way You Can"
			}
			l := d.words[i].lower
			if _, ok := subordinators[l]; ok || l == "that" || l == "which" || l == "who" || l == "whose" || l == "between" {
				return false
			}
		}
		return d.clauseStart(s, j, false) || d.infoRequest(s, j, left)
	}
	return false
}

// questionStart reports whether s[j:] starts a question of its own: a
// wh-word with its verb (within three words, or contracted: "what's"),
// or an auxiliary with its subject (auxQuestion).
func (d *doc) questionStart(s []int, j int) bool {
	if j+1 >= len(s) {
		return false
	}
	w := d.words[s[j]].lower
	if _, ok := whStarts[w]; ok {
		if strings.Contains(w, "'") {
			return true
		}
		for k := j + 1; k < len(s) && k <= j+3; k++ {
			if _, aux := auxiliaries[d.words[s[k]].lower]; aux {
				return true
			}
		}
		return false
	}
	return d.auxQuestion(s, j)
}

// auxQuestion reports whether s[j:] starts with an auxiliary and its
// subject: "is it", "can you", "does Madonna".
func (d *doc) auxQuestion(s []int, j int) bool {
	if j+1 >= len(s) {
		return false
	}
	if _, ok := auxiliaries[d.words[s[j]].lower]; !ok {
		return false
	}
	_, subj := subjects[d.words[s[j+1]].lower]
	return subj || isUpperStart(d.words[s[j+1]].core)
}

// cannotEndClause are words after which a comma is no clause boundary
// ("remind me to, send"): articles, possessives, "to", "of", conjunctions.
var cannotEndClause = setOf("the a an to of and or but my your his her its our their")

// infoNouns ask for information on their own: "..., weather in Paris tomorrow".
var infoNouns = setOf("weather forecast humidity temperature")

// infoRequest reports whether s[j:] asks for information with a bare noun
// phrase ("weather in Paris") after a complete request (left).
func (d *doc) infoRequest(s []int, j int, left []int) bool {
	if j+1 >= len(s) {
		return false
	}
	_, ok := infoNouns[d.words[s[j]].lower]
	return ok && d.isRequest(left)
}

// isRequest reports whether words start as a command or a question.
func (d *doc) isRequest(s []int) bool {
	k := d.kindOf(s)
	return k == Command || k == Question
}

// kindOf classifies an intent by how it starts and ends.
func (d *doc) kindOf(s []int) string { return d.kindBy(s, true) }

// kindBy is kindOf, reading the sentence's final "?" only with mark.
func (d *doc) kindBy(s []int, mark bool) string {
	if len(s) == 0 {
		return Statement
	}
	// Skip "please" and openers.
	j := 0
	for j < len(s)-1 {
		if l := d.words[s[j]].lower; l == "please" || l == "okay" || l == "ok" || l == "so" || l == "now" || l == "hey" {
			j++
			continue
		}
		break
	}
	first := d.words[s[j]].lower
	next := ""
	if j+1 < len(s) {
		next = d.words[s[j+1]].lower
	}
	last := d.words[s[len(s)-1]]
	switch {
	case (first == "can" || first == "could" || first == "would" || first == "will") && (next == "you" || next == "u"):
		return Command // "Can you play ..." asks for an action
	case first == "let" || opensRequest(first, next) && !(first == "i" && (next == "like" || next == "am" || next == "'m" || next == "'d")):
		return Command
	case first == "remind" || first == "tell" || first == "show" || first == "give":
		return Command
	case j > 0 && d.words[s[0]].lower == "please":
		return Command
	}
	if mark && strings.Contains(last.trail, "?") {
		return Question
	}
	if _, ok := whStarts[first]; ok {
		return Question
	}
	if d.auxQuestion(s, j) {
		return Question
	}
	if _, ok := commandVerbs[first]; ok {
		return Command
	}
	// A phrase or a condition first, then the request: "On 2/25/2025 will
	// it be hot in Holstein", "Tomorrow at noon, remind me ...", "If it
	// rains, cancel the picnic".
	if _, sub := subordinators[first]; sub || phraseStart(d.words[s[j]]) {
		for k := j + 1; k < len(s)-1 && k <= j+8; k++ {
			if d.words[s[k-1]].endsSentence() {
				break
			}
			if d.questionStart(s, k) {
				return Question
			}
			if _, ok := commandVerbs[d.words[s[k]].lower]; ok && strings.HasSuffix(d.words[s[k-1]].trail, ",") {
				return Command
			}
		}
	}
	return Statement
}
