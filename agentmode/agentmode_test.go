package agentmode_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/tools/txtar"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/agentmode/repair"
	"github.com/earshot-dev/earshot/agentmode/tokens"
	"github.com/earshot-dev/earshot/transcribe"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var (
	formatterOnce sync.Once
	formatter     *agentmode.Formatter
	formatterErr  error
)

// shared returns one Formatter for all tests (loading it parses the
// encodings' ranks once).
func shared(t testing.TB) *agentmode.Formatter {
	formatterOnce.Do(func() { formatter, formatterErr = agentmode.New() })
	if formatterErr != nil {
		t.Fatal(formatterErr)
	}
	return formatter
}

// doc is the part of an output the tests read.
type doc struct {
	Mode    string `json:"mode"`
	Text    string `json:"text"`
	Intents []struct {
		Kind       string   `json:"kind"`
		Text       string   `json:"text"`
		Start      *float64 `json:"start"`
		End        *float64 `json:"end"`
		Confidence *float64 `json:"confidence"`
		Words      []struct {
			Word string `json:"word"`
		} `json:"words"`
	} `json:"intents"`
	Paragraphs []struct {
		Text  string   `json:"text"`
		Start *float64 `json:"start"`
		End   *float64 `json:"end"`
	} `json:"paragraphs"`
	Segments []struct {
		Text string `json:"text"`
	} `json:"segments"`
	Removed []struct {
		Kind string `json:"kind"`
		Text string `json:"text"`
	} `json:"removed"`
	Omitted []string `json:"omitted"`
	Tokens  struct {
		Encoding string `json:"encoding"`
		Count    int    `json:"count"`
		Budget   int    `json:"budget"`
	} `json:"tokens"`
	Truncated  bool   `json:"truncated"`
	Next       string `json:"next"`
	Timestamps string `json:"timestamps"`
}

func decode(t testing.TB, out *agentmode.Output) doc {
	t.Helper()
	var d doc
	if err := json.Unmarshal(out.JSON, &d); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.JSON)
	}
	return d
}

// summary is a golden file's view of an output: its text, intents or
// paragraphs, and removals, one per line.
func summary(d doc) string {
	var b strings.Builder
	fmt.Fprintf(&b, "text: %s\n", d.Text)
	for _, it := range d.Intents {
		fmt.Fprintf(&b, "intent %s: %s\n", it.Kind, it.Text)
	}
	if d.Mode == "clean" && len(d.Paragraphs) > 1 {
		for _, p := range d.Paragraphs {
			fmt.Fprintf(&b, "paragraph: %s\n", p.Text)
		}
	}
	for _, r := range d.Removed {
		fmt.Fprintf(&b, "removed %s: %s\n", r.Kind, r.Text)
	}
	return b.String()
}

// TestGolden runs every case in testdata/golden through clean and agent
// mode and compares with the expected outputs (go test -update rewrites
// them). Each archive's comment says why its cases matter.
func TestGolden(t *testing.T) {
	f := shared(t)
	files, err := filepath.Glob("testdata/golden/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]string{}
		for _, f := range ar.Files {
			have[f.Name] = string(f.Data)
		}
		var out []txtar.File
		for _, in := range ar.Files {
			name, ok := strings.CutSuffix(in.Name, ".in")
			if !ok {
				continue
			}
			out = append(out, in)
			lang := strings.TrimSpace(have[name+".lang"])
			if lang != "" {
				out = append(out, txtar.File{Name: name + ".lang", Data: []byte(lang + "\n")})
			}
			for _, mode := range []agentmode.Mode{agentmode.Clean, agentmode.Agent} {
				res, err := f.FormatText(string(in.Data), agentmode.Options{Mode: mode, Language: lang})
				if err != nil {
					t.Fatalf("%s %s: %v", file, name, err)
				}
				got := summary(decode(t, res))
				key := name + "." + string(mode)
				if !*update && got != have[key] {
					t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", filepath.Base(file), key, got, have[key])
				}
				out = append(out, txtar.File{Name: key, Data: []byte(got)})
			}
		}
		if *update {
			ar.Files = out
			if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// The promises about real speech, spelled out.
func TestMeaningKept(t *testing.T) {
	f := shared(t)
	for _, tc := range []struct {
		in, want string
	}{
		{"set an alarm for seven uh tomorrow", "Set an alarm for seven tomorrow."},
		{"I like it", "I like it."},
		{"you know the answer", "You know the answer."},
		{"no, thanks", "No, thanks."},
		{"I mean it", "I mean it."},
		{"till the meeting, oh, right", "Till the meeting, oh, right."},
		{"Um, so, uh, book the, no wait, cancel the meeting with Dana on, on Tuesday, sorry, Wednesday and then also remind me to, you know, send the deck.",
			"Cancel the meeting with Dana on Wednesday. Remind me to send the deck."},
	} {
		out, err := f.FormatText(tc.in, agentmode.Options{Mode: agentmode.Agent})
		if err != nil {
			t.Fatal(err)
		}
		if got := decode(t, out).Text; got != tc.want {
			t.Errorf("agent(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// vocabulary for random transcripts: ordinary words, editing terms,
// fillers, connectors, names, words of other scripts, and punctuation.
var vocabulary = strings.Fields(`the a meeting book table cancel Tuesday Wednesday Dana I we you should go it
	like know mean no wait sorry actually rather instead and then also after that um uh er hmm so well
	scratch never mind play add remind me to send deck what where how is are can please 7 two
	Paris café Ünïcode 日本語 naïve don't it's O'Brien e-mail Dr. St. a.m. th- on in of for`)

var marks = []string{"", "", "", "", ",", ",", ".", "?", "!", "-", "...", `"`}

func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		w := vocabulary[r.IntN(len(vocabulary))]
		if r.IntN(8) == 0 && i > 0 {
			b.WriteString(w + " ") // a repetition
		}
		b.WriteString(w + marks[r.IntN(len(marks))])
	}
	return b.String()
}

// norms are the words of a text as compared: letters and digits, lower case.
func norms(s string) []string {
	var out []string
	for _, w := range strings.Fields(s) {
		if n := repair.Norm(w); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// interleaves reports whether in is out and rem merged, each in order.
func interleaves(in, out, rem []string) bool {
	if len(in) != len(out)+len(rem) {
		return false
	}
	// ok[j][k]: in[:j+k] merges out[:j] and rem[:k].
	ok := make([][]bool, len(out)+1)
	for j := range ok {
		ok[j] = make([]bool, len(rem)+1)
	}
	ok[0][0] = true
	for j := 0; j <= len(out); j++ {
		for k := 0; k <= len(rem); k++ {
			if !ok[j][k] {
				continue
			}
			if j < len(out) && in[j+k] == out[j] {
				ok[j+1][k] = true
			}
			if k < len(rem) && in[j+k] == rem[k] {
				ok[j][k+1] = true
			}
		}
	}
	return ok[len(out)][len(rem)]
}

// checkAccounting: the output's words and the removed words, in order,
// are exactly the input's words.
func checkAccounting(t *testing.T, in string, d doc) {
	t.Helper()
	var out, rem []string
	for _, it := range d.Intents {
		out = append(out, norms(it.Text)...)
	}
	for _, p := range d.Paragraphs {
		out = append(out, norms(p.Text)...)
	}
	for _, r := range d.Removed {
		rem = append(rem, norms(r.Text)...)
	}
	if !interleaves(norms(in), out, rem) {
		t.Errorf("words not accounted for:\ninput:   %q\noutput:  %q\nremoved: %q", in, out, rem)
	}
}

// checkCount: the stated count is the count of the bytes.
func checkCount(t *testing.T, f *agentmode.Formatter, out *agentmode.Output, d doc) {
	t.Helper()
	enc, err := f.Encoding(d.Tokens.Encoding)
	if err != nil {
		t.Fatal(err)
	}
	if got := enc.Count(string(out.JSON)); got != d.Tokens.Count || got != out.Tokens {
		t.Errorf("stated %d tokens (Output.Tokens %d), the JSON has %d", d.Tokens.Count, out.Tokens, got)
	}
	if !utf8.Valid(out.JSON) {
		t.Errorf("output is not valid UTF-8")
	}
}

func TestProperties(t *testing.T) {
	f := shared(t)
	r := rand.New(rand.NewPCG(1, 2))
	n := 1500
	if testing.Short() || raceDetector {
		n = 200
	}
	for i := range n {
		in := randomText(r, 1+r.IntN(40))
		for _, mode := range []agentmode.Mode{agentmode.Clean, agentmode.Agent} {
			out, err := f.FormatText(in, agentmode.Options{Mode: mode})
			if err != nil {
				t.Fatalf("case %d %s(%q): %v", i, mode, in, err)
			}
			d := decode(t, out)
			checkAccounting(t, in, d)
			checkCount(t, f, out, d)
			// Formatting its own output changes nothing.
			again, err := f.FormatText(d.Text, agentmode.Options{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			if d2 := decode(t, again); d2.Text != d.Text || len(d2.Removed) != 0 || len(d2.Intents) != len(d.Intents) {
				t.Errorf("%s is not idempotent:\ninput:  %q\nonce:   %q (%d intents)\ntwice:  %q (%d intents, removed %v)",
					mode, in, d.Text, len(d.Intents), d2.Text, len(d2.Intents), d2.Removed)
			}
		}
		if t.Failed() {
			return
		}
	}
}

// TestIdempotentSweep reads its own output again over many more random
// transcripts than TestProperties, checking only that: agent mode must
// split its output as it split the input (a mark moved from a filler
// taken out, "a.m.- uh." -> "a.m..", once broke that in 1 of 2,400).
func TestIdempotentSweep(t *testing.T) {
	f := shared(t)
	n := 20000
	if testing.Short() || raceDetector {
		n = 500
	}
	r := rand.New(rand.NewPCG(3, 7))
	for range n {
		in := randomText(r, 1+r.IntN(40))
		for _, mode := range []agentmode.Mode{agentmode.Clean, agentmode.Agent} {
			out, err := f.FormatText(in, agentmode.Options{Mode: mode})
			if err != nil {
				t.Fatalf("%s(%q): %v", mode, in, err)
			}
			d := decode(t, out)
			again, err := f.FormatText(d.Text, agentmode.Options{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			if d2 := decode(t, again); d2.Text != d.Text || len(d2.Intents) != len(d.Intents) {
				t.Fatalf("%s is not idempotent:\ninput:  %q\nonce:   %q (%d intents)\ntwice:  %q (%d intents)",
					mode, in, d.Text, len(d.Intents), d2.Text, len(d2.Intents))
			}
		}
	}
}

func TestEmptyAndBlank(t *testing.T) {
	f := shared(t)
	for _, in := range []string{"", "   ", "\n\n", "um uh", ",,, ...", "\x00\x01"} {
		for _, mode := range []agentmode.Mode{agentmode.Clean, agentmode.Agent} {
			out, err := f.FormatText(in, agentmode.Options{Mode: mode, MaxTokens: 200})
			if err != nil {
				t.Fatalf("%s(%q): %v", mode, in, err)
			}
			d := decode(t, out)
			checkCount(t, f, out, d)
			if d.Truncated {
				t.Errorf("%s(%q) truncated", mode, in)
			}
		}
	}
}

// longText is a transcript of many sentences: Disfl-QA questions and
// voice commands, with fillers and repairs.
func longText(t testing.TB, sentences int) string {
	b, err := os.ReadFile("../testdata/disfluency/dev.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]struct{ Disfluent string }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var qs []string
	for _, p := range m {
		qs = append(qs, p.Disfluent)
	}
	// Map order is random; sort for a stable text.
	sortStrings(qs)
	var parts []string
	for i := range sentences {
		q := qs[i%len(qs)]
		if i%3 == 0 {
			q = "Um, " + q
		}
		parts = append(parts, q)
	}
	return strings.Join(parts, " ")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestBudgets pages through a long transcript at every budget from 80 to
// 400 tokens and at steps up to 5000: no page exceeds its budget, and the
// pages hold every intent's words exactly once, in order.
func TestBudgets(t *testing.T) {
	f := shared(t)
	text := longText(t, 40)
	full, err := f.FormatText(text, agentmode.Options{Mode: agentmode.Agent})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, it := range decode(t, full).Intents {
		want = append(want, norms(it.Text)...)
	}
	var budgets []int
	for b := 80; b <= 400; b++ {
		budgets = append(budgets, b)
	}
	for b := 400; b <= 5000; b += 37 {
		budgets = append(budgets, b)
	}
	if testing.Short() || raceDetector {
		budgets = []int{80, 81, 82, 83, 90, 97, 120, 199, 333, 1000, 2500, 5000}
	}
	for _, budget := range budgets {
		var got []string
		cursor, pages := "", 0
		for {
			out, err := f.FormatText(text, agentmode.Options{Mode: agentmode.Agent, MaxTokens: budget, Cursor: cursor})
			if err != nil {
				t.Fatalf("budget %d, cursor %q: %v", budget, cursor, err)
			}
			d := decode(t, out)
			checkCount(t, f, out, d)
			if d.Tokens.Count > budget {
				t.Fatalf("budget %d: page of %d tokens", budget, d.Tokens.Count)
			}
			for _, it := range d.Intents {
				got = append(got, norms(it.Text)...)
			}
			pages++
			if !d.Truncated {
				break
			}
			if d.Next == "" || d.Next == cursor {
				t.Fatalf("budget %d: truncated page without a new cursor (%q)", budget, d.Next)
			}
			cursor = d.Next
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("budget %d (%d pages): paging lost or repeated words:\ngot  %q\nwant %q", budget, pages, got, want)
		}
	}
}

func TestBudgetDetailOrder(t *testing.T) {
	f := shared(t)
	res := timedResult(longText(t, 12))
	full, err := f.Format(res, agentmode.Options{Mode: agentmode.Agent, Words: true})
	if err != nil {
		t.Fatal(err)
	}
	fd := decode(t, full)
	if len(fd.Removed) == 0 || len(fd.Intents[0].Words) == 0 {
		t.Fatalf("full output lacks detail: %d removed, %d words", len(fd.Removed), len(fd.Intents[0].Words))
	}
	// Just under the full size: the removed detail goes first.
	out, err := f.Format(res, agentmode.Options{Mode: agentmode.Agent, Words: true, MaxTokens: full.Tokens - 1})
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, out)
	if d.Removed != nil || len(d.Omitted) != 1 || d.Omitted[0] != "removed" || len(d.Intents[0].Words) == 0 || d.Truncated {
		t.Errorf("first cut: omitted %v, removed %v, words %d, truncated %v; want only the removed list gone",
			d.Omitted, d.Removed, len(d.Intents[0].Words), d.Truncated)
	}
	// Then the words, then intents.
	out, err = f.Format(res, agentmode.Options{Mode: agentmode.Agent, Words: true, MaxTokens: 300})
	if err != nil {
		t.Fatal(err)
	}
	d = decode(t, out)
	if len(d.Omitted) != 2 || len(d.Intents) == 0 || len(d.Intents[0].Words) != 0 || !d.Truncated {
		t.Errorf("small budget: omitted %v, %d intents, truncated %v", d.Omitted, len(d.Intents), d.Truncated)
	}
	// Too small for anything.
	if _, err := f.Format(res, agentmode.Options{Mode: agentmode.Agent, MaxTokens: 10}); !errors.Is(err, agentmode.ErrBudget) {
		t.Errorf("budget 10: err = %v, want ErrBudget", err)
	}
}

func TestBadOptions(t *testing.T) {
	f := shared(t)
	for _, tc := range []struct {
		name string
		opts agentmode.Options
	}{
		{"mode", agentmode.Options{Mode: "fancy"}},
		{"encoding", agentmode.Options{Encoding: "gpt5_base"}},
		{"negative budget", agentmode.Options{MaxTokens: -1}},
		{"cursor of another mode", agentmode.Options{Mode: agentmode.Agent, Cursor: "c0"}},
		{"cursor past the end", agentmode.Options{Mode: agentmode.Agent, Cursor: "a99"}},
		{"cursor garbage", agentmode.Options{Mode: agentmode.Agent, Cursor: "a0.x"}},
		{"raw from text", agentmode.Options{Mode: agentmode.Raw}},
		{"min_confidence above 1", agentmode.Options{MinConfidence: 1.5}},
		{"negative min_confidence", agentmode.Options{MinConfidence: -0.1}},
	} {
		if _, err := f.FormatText("Book a table. Play music.", tc.opts); !errors.Is(err, agentmode.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tc.name, err)
		}
	}
}

func TestEncodings(t *testing.T) {
	f := shared(t)
	for _, name := range tokens.Names {
		out, err := f.FormatText("Book a table for two, no, four.", agentmode.Options{Encoding: name, MaxTokens: 100})
		if err != nil {
			t.Fatal(err)
		}
		d := decode(t, out)
		if d.Tokens.Encoding != name {
			t.Errorf("encoding %q, want %q", d.Tokens.Encoding, name)
		}
		checkCount(t, f, out, d)
	}
}

// timedResult is text as whisper would return it with word timestamps: a
// word every 0.4 s, 20-word segments, and a 3 s pause after every fifth
// sentence.
func timedResult(text string) *transcribe.Result {
	res := &transcribe.Result{Language: "en", LanguageProb: 0.97}
	t := 0.0
	var seg transcribe.Segment
	flush := func() {
		if len(seg.Tokens) > 0 {
			seg.ID, seg.End = len(res.Segments), t
			res.Segments = append(res.Segments, seg)
		}
		seg = transcribe.Segment{Start: t}
	}
	sentences := 0
	for _, w := range strings.Fields(text) {
		tok := transcribe.Token{ID: 1000, Text: " " + w, P: 0.8, Start: t, End: t + 0.3}
		seg.Tokens = append(seg.Tokens, tok)
		seg.Text += tok.Text
		t += 0.4
		if strings.HasSuffix(w, "?") || strings.HasSuffix(w, ".") {
			if sentences++; sentences%5 == 0 {
				t += 3
			}
		}
		if len(seg.Tokens) == 20 {
			flush()
		}
	}
	flush()
	res.Duration = t
	res.Words = transcribe.Words(res.Segments)
	return res
}

func TestResultTimes(t *testing.T) {
	f := shared(t)
	res := timedResult(longText(t, 12))
	out, err := f.Format(res, agentmode.Options{Mode: agentmode.Agent})
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, out)
	if d.Timestamps != "word" || len(d.Intents) < 5 {
		t.Fatalf("timestamps %q, %d intents", d.Timestamps, len(d.Intents))
	}
	last := -1.0
	for _, it := range d.Intents {
		if it.Start == nil || it.End == nil || it.Confidence == nil {
			t.Fatalf("intent %q lacks times or confidence", it.Text)
		}
		if *it.Start < last || *it.End < *it.Start || *it.Confidence != 0.8 {
			t.Errorf("intent %q: %v..%v (after %v), confidence %v", it.Text, *it.Start, *it.End, last, *it.Confidence)
		}
		last = *it.End
	}
	clean, err := f.Format(res, agentmode.Options{Mode: agentmode.Clean})
	if err != nil {
		t.Fatal(err)
	}
	if cd := decode(t, clean); len(cd.Paragraphs) < 2 {
		t.Errorf("clean: %d paragraphs, want a new one after each 3 s pause", len(cd.Paragraphs))
	}
	// Without token timestamps, times are the segments'.
	res.Words = nil
	out, err = f.Format(res, agentmode.Options{Mode: agentmode.Agent})
	if err != nil {
		t.Fatal(err)
	}
	if d := decode(t, out); d.Timestamps != "segment" || d.Intents[0].Start == nil {
		t.Errorf("segment timing: %q, start %v", d.Timestamps, d.Intents[0].Start)
	}
	// Raw keeps whisper's segments; a budget pages through them.
	raw, err := f.Format(res, agentmode.Options{Mode: agentmode.Raw, MaxTokens: 400})
	if err != nil {
		t.Fatal(err)
	}
	rd := decode(t, raw)
	checkCount(t, f, raw, rd)
	if !rd.Truncated || len(rd.Segments) == 0 || rd.Tokens.Count > 400 {
		t.Errorf("raw page: truncated %v, %d segments, %d tokens", rd.Truncated, len(rd.Segments), rd.Tokens.Count)
	}
}

func TestSchema(t *testing.T) {
	f := shared(t)
	res := timedResult(longText(t, 6))
	for _, opts := range []agentmode.Options{
		{Mode: agentmode.Raw}, {Mode: agentmode.Clean, Words: true}, {Mode: agentmode.Agent, Words: true},
		{Mode: agentmode.Agent, MaxTokens: 200, TranscriptID: "t1"}, {Mode: agentmode.Raw, MaxTokens: 300},
		{Mode: agentmode.Agent, MaxTokens: 100},
	} {
		out, err := f.Format(res, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := agentmode.Validate(out.JSON); err != nil {
			t.Errorf("%+v: output does not match the schema: %v", opts, err)
		}
	}
	if err := agentmode.Validate([]byte(`{"mode":"poetry","tokens":{},"truncated":1}`)); err == nil {
		t.Error("a document against the schema passed")
	}
}

func TestConcurrent(t *testing.T) {
	f := shared(t)
	text := longText(t, 8)
	want, err := f.FormatText(text, agentmode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				got, err := f.FormatText(text, agentmode.Options{})
				if err != nil || !bytes.Equal(got.JSON, want.JSON) {
					t.Errorf("concurrent output differs (err %v)", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzFormat(f *testing.F) {
	for _, s := range []string{"", "um, book the, no wait, cancel it", "Dr. Who? I I mean it.", "日本語 uh 日本語", "a\x00b", "\xff\xfe"} {
		f.Add(s, uint16(0), false, uint8(0))
		f.Add(s, uint16(60), true, uint8(230))
	}
	fm := shared(f)
	f.Fuzz(func(t *testing.T, text string, budget uint16, clean bool, minConf uint8) {
		mode := agentmode.Agent
		if clean {
			mode = agentmode.Clean
		}
		out, err := fm.FormatText(text, agentmode.Options{Mode: mode, MaxTokens: int(budget), MinConfidence: float64(minConf) / 255})
		if errors.Is(err, agentmode.ErrBudget) && budget > 0 {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		d := decode(t, out)
		if budget > 0 && d.Tokens.Count > int(budget) {
			t.Fatalf("%d tokens over a budget of %d", d.Tokens.Count, budget)
		}
		enc, _ := fm.Encoding("")
		if enc.Count(string(out.JSON)) != d.Tokens.Count {
			t.Fatalf("stated count %d is wrong", d.Tokens.Count)
		}
	})
}
