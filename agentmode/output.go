package agentmode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/earshot-dev/earshot/agentmode/tokens"
	"github.com/earshot-dev/earshot/transcribe"
)

// The JSON documents. Field order is the order a reader meets them; every
// field is described in schema.json.

type tail struct {
	Omitted   []string   `json:"omitted,omitempty"`
	Tokens    tokenCount `json:"tokens"`
	Truncated bool       `json:"truncated"`
	Next      string     `json:"next,omitempty"`
}

type tokenCount struct {
	Encoding string `json:"encoding"`
	Count    int    `json:"count"`
	Budget   int    `json:"budget,omitempty"`
}

type head struct {
	Mode         Mode     `json:"mode"`
	TranscriptID string   `json:"transcript_id,omitempty"`
	Language     string   `json:"language,omitempty"`
	Duration     *float64 `json:"duration,omitempty"`
	Timestamps   string   `json:"timestamps,omitempty"`
	// Text is nil only when a tiny budget left it out (it repeats the
	// intents or paragraphs).
	Text *string `json:"text,omitempty"`
}

type agentJSON struct {
	head
	Intents []intentJSON   `json:"intents"`
	Removed *[]removedJSON `json:"removed,omitempty"`
	tail
}

type intentJSON struct {
	Kind       string   `json:"kind"`
	Text       string   `json:"text"`
	Start      *float64 `json:"start,omitempty"`
	End        *float64 `json:"end,omitempty"`
	Confidence *float64 `json:"confidence,omitempty"`
	// Boundary is the boundary model's confidence that this intent is a
	// request of its own, where the model split it from the one before
	// (absent where a sentence end of the input did).
	Boundary *float64   `json:"boundary_confidence,omitempty"`
	Words    []wordJSON `json:"words,omitempty"`
}

type cleanJSON struct {
	head
	Paragraphs []paragraphJSON `json:"paragraphs"`
	Removed    *[]removedJSON  `json:"removed,omitempty"`
	tail
}

type paragraphJSON struct {
	Text  string     `json:"text"`
	Start *float64   `json:"start,omitempty"`
	End   *float64   `json:"end,omitempty"`
	Words []wordJSON `json:"words,omitempty"`
}

type wordJSON struct {
	Word  string   `json:"word"`
	Start *float64 `json:"start,omitempty"`
	End   *float64 `json:"end,omitempty"`
	P     *float64 `json:"p,omitempty"`
}

type removedJSON struct {
	Kind       Kind     `json:"kind"`
	Text       string   `json:"text"`
	Confidence float64  `json:"confidence"`
	Start      *float64 `json:"start,omitempty"`
	End        *float64 `json:"end,omitempty"`
}

type rawJSON struct {
	head
	LanguageProb float32            `json:"language_probability"`
	Segments     []rawSegment       `json:"segments"`
	Words        []transcribe.Word  `json:"words,omitempty"`
	Timings      transcribe.Timings `json:"timings"`
	// VAD and Speech say what voice activity detection found (Speech
	// empty, not absent: no speech, and whisper did not run); Chunks how
	// many pieces the audio was decoded in; Dropped the segments left out.
	VAD             string       `json:"vad,omitempty"`
	Speech          *[]rawSpan   `json:"speech,omitempty"`
	Chunks          int          `json:"chunks,omitempty"`
	Dropped         []rawDropped `json:"dropped,omitempty"`
	DroppedKeywords []string     `json:"dropped_keywords,omitempty"`
	tail
}

// rawSpan is a speech region in seconds.
type rawSpan struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

type rawDropped struct {
	Start  float64 `json:"start"`
	End    float64 `json:"end"`
	Text   string  `json:"text"`
	Reason string  `json:"reason"`
}

type rawSegment struct {
	ID           int                `json:"id"`
	Start        float64            `json:"start"`
	End          float64            `json:"end"`
	Text         string             `json:"text"`
	Tokens       []transcribe.Token `json:"tokens,omitempty"`
	AvgLogprob   float64            `json:"avg_logprob"`
	NoSpeechProb float64            `json:"no_speech_prob"`
	Temperature  float64            `json:"temperature"`
	// Repetition flags a segment that still loops after a retry.
	Repetition *transcribe.Repetition `json:"repetition,omitempty"`
}

// pos is a place in a transcript: a unit (intent, paragraph or segment) and
// a word in it.
type pos struct{ unit, word int }

func (a pos) less(b pos) bool { return a.unit < b.unit || (a.unit == b.unit && a.word < b.word) }

// pager builds pages of one transcript in one mode. A page runs from one
// pos to another; detail level l drops the first l entries of levels. Two
// more levels serve budgets too small for one word otherwise: len(levels)+1
// also drops the top-level "text" (it repeats the intents or paragraphs),
// len(levels)+2 the "omitted" list, the budget echoed in "tokens", the
// language, duration and timing, and the intents' times and confidence as
// well.
type pager struct {
	prefix string // of cursors: "a" agent, "c" clean, "r" raw
	units  int
	// wordsIn is the number of words of unit u, where a page may be cut.
	wordsIn func(u int) int
	levels  []string
	build   func(from, to pos, level int, t tail) any
}

func (p pager) end() pos { return pos{p.units, 0} }

// cursor writes the cursor of a page that starts at at.
func (p pager) cursor(at pos) string {
	if at.word == 0 {
		return p.prefix + strconv.Itoa(at.unit)
	}
	return p.prefix + strconv.Itoa(at.unit) + "." + strconv.Itoa(at.word)
}

// parseCursor reads a cursor made by this pager's cursor method.
func (p pager) parseCursor(c string) (pos, error) {
	if c == "" {
		return pos{}, nil
	}
	bad := invalidf("cursor", "cursor %q does not belong to this transcript in this mode", c)
	rest, ok := strings.CutPrefix(c, p.prefix)
	if !ok {
		return pos{}, bad
	}
	us, ws, hasWord := strings.Cut(rest, ".")
	u, err := strconv.Atoi(us)
	if err != nil || u < 0 || u >= p.units {
		return pos{}, bad
	}
	at := pos{unit: u}
	if hasWord {
		w, err := strconv.Atoi(ws)
		if err != nil || w <= 0 || w >= p.wordsIn(u) {
			return pos{}, bad
		}
		at.word = w
	}
	return at, nil
}

// span is the words [lo, hi) of unit u that a page holds.
func span(from, to pos, u, n int) (lo, hi int) {
	lo, hi = 0, n
	if u == from.unit {
		lo = from.word
	}
	if u == to.unit {
		hi = to.word
	}
	return lo, hi
}

// unitsOf calls fn for each unit a page holds, with its word span.
func unitsOf(from, to pos, units int, wordsIn func(int) int, fn func(u, lo, hi int)) {
	for u := from.unit; u < units && (u < to.unit || (u == to.unit && to.word > 0)); u++ {
		lo, hi := span(from, to, u, wordsIn(u))
		if hi > lo {
			fn(u, lo, hi)
		}
	}
}

// fit builds the page that starts at the cursor and fits the budget:
// everything if it fits; else without the removed detail, then without
// word detail, then as many whole units as fit, then as many words of the
// first unit as fit. It never cuts inside a word.
func fit(p pager, enc *tokens.Encoding, opts Options) (*Output, error) {
	from, err := p.parseCursor(opts.Cursor)
	if err != nil {
		return nil, err
	}
	budget := opts.MaxTokens
	try := func(to pos, level int) (*Output, bool) {
		if to.unit < p.units && to.word > 0 && to.word >= p.wordsIn(to.unit) {
			to = pos{to.unit + 1, 0} // the whole unit: the page ends after it
		}
		t := tail{Tokens: tokenCount{Encoding: enc.Name(), Budget: budget}}
		switch n := len(p.levels); {
		case level <= n:
			t.Omitted = p.levels[:level]
		case level == n+1:
			t.Omitted = append(p.levels[:n:n], "text")
		default:
			t.Tokens.Budget = 0 // the caller knows it
		}
		if to.less(p.end()) {
			t.Truncated, t.Next = true, p.cursor(to)
		}
		out := measure(enc, enc.Name(), func(n int) any {
			t.Tokens.Count = n
			return p.build(from, to, level, t)
		})
		out.Truncated, out.Next = t.Truncated, t.Next
		return out, budget == 0 || out.Tokens <= budget
	}
	for level := 0; level <= len(p.levels); level++ {
		if out, ok := try(p.end(), level); ok || budget == 0 {
			return out, nil
		}
	}
	level := len(p.levels)
	// Whole units: grow the page while it fits (doubling, then halving),
	// so that a small budget on a long transcript only measures small
	// pages.
	fits := func(u int) bool {
		_, ok := try(pos{u, 0}, level)
		return ok
	}
	first := from.unit + 1
	if first < p.units && fits(first) {
		lo, hi := first, p.units // lo fits, hi does not (it is the whole)
		for step := 1; lo+step < hi; step *= 2 {
			if !fits(lo + step) {
				hi = lo + step
				break
			}
			lo = lo + step
		}
		for hi-lo > 1 {
			if mid := (lo + hi) / 2; fits(mid) {
				lo = mid
			} else {
				hi = mid
			}
		}
		out, _ := try(pos{lo, 0}, level)
		return out, nil
	}
	// Not even the rest of one unit fits: as many of its words as do,
	// dropping the repeated text and then the omitted list if even one
	// word does not fit otherwise.
	if p.units == 0 {
		out, _ := try(p.end(), level)
		return nil, fmt.Errorf("%w: max_tokens %d is less than the %d this answer needs (%s)",
			ErrBudget, budget, out.Tokens, enc.Name())
	}
	n := p.wordsIn(from.unit)
	// (Dropping more than the text, the language or the budget itself,
	// would cut what the answer cannot then say it cut: such a budget is
	// too small.)
	for ; level <= len(p.levels)+1; level++ {
		if _, ok := try(pos{from.unit, from.word + 1}, level); ok {
			break
		}
	}
	if level > len(p.levels)+1 {
		least, _ := try(pos{from.unit, from.word + 1}, level-1)
		return nil, fmt.Errorf("%w: max_tokens %d is less than the %d this answer needs at the least (%s)",
			ErrBudget, budget, least.Tokens, enc.Name())
	}
	lo, hi := from.word+1, n // words [from.word, w) fit for w <= lo
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if _, ok := try(pos{from.unit, mid}, level); ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	out, _ := try(pos{from.unit, lo}, level)
	return out, nil
}

// measure serializes a document that states its own token count. A
// number is split off as its own pieces by every encoding's pattern, so the
// document's count with the number n in it is its count with 0 there, less
// the tokens of "0", plus those of n: the fixed point of that is found on
// the number alone and written into the document once.
func measure(enc *tokens.Encoding, name string, build func(count int) any) *Output {
	b := marshal(build(0))
	base := enc.Count(string(b)) - enc.Count("0")
	n := base + 1
	for range 8 {
		next := base + enc.Count(strconv.Itoa(n))
		if next == n {
			break
		}
		n = next
	}
	marker := []byte(`"tokens":{"encoding":` + strconv.Quote(name) + `,"count":0`)
	at := bytes.Index(b, marker)
	if at < 0 {
		// Not reachable: every document has the tokens object.
		panic("agentmode: tokens object missing from output")
	}
	at += len(marker) - 1
	out := make([]byte, 0, len(b)+8)
	out = append(append(append(out, b[:at]...), strconv.Itoa(n)...), b[at+1:]...)
	return &Output{JSON: out, Tokens: n}
}

// marshal is json.Marshal without HTML escaping ("<" stays "<": a
// transcript is not HTML) and without the encoder's newline.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only unsupported values fail, and the documents have none.
		panic(fmt.Sprintf("agentmode: encoding output: %v", err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// seconds rounds a time to milliseconds, for the output.
func seconds(v float64) *float64 {
	r := math.Round(v*1000) / 1000
	return &r
}

// prob rounds a probability to three places.
func prob(v float64) *float64 {
	r := math.Round(v*1000) / 1000
	return &r
}

// head is a document's first fields; minimal leaves out the language,
// duration and timing (for the smallest budgets).
func (in input) head(mode Mode, opts Options, minimal bool) head {
	h := head{Mode: mode, TranscriptID: opts.TranscriptID}
	if !minimal {
		h.Language, h.Timestamps = in.language, in.timing
		if in.hasDuration {
			h.Duration = seconds(in.duration)
		}
	}
	return h
}
