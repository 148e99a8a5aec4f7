// Command earshot-eval measures agent mode (`make eval`): self-repair
// resolution on Disfl-QA, intent segmentation on SNIPS commands joined the
// way people chain requests, and formatting speed. It prints each figure
// next to its baselines and targets.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/agentmode/repair"
	"github.com/earshot-dev/earshot/internal/corpus"
	"github.com/earshot-dev/earshot/transcribe"
)

func main() {
	disfl := flag.String("disfl", "testdata/disfluency/dev.json", "Disfl-QA pairs to evaluate on")
	snips := flag.String("snips", "testdata/intents/snips", "folder of SNIPS validate_*.json files")
	joined := flag.Int("joined", 2000, "joined multi-command utterances to build")
	seed := flag.Uint64("seed", 7, "seed for joining commands")
	flag.Parse()
	if err := run(*disfl, *snips, *joined, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "earshot-eval:", err)
		os.Exit(1)
	}
}

func run(disflPath, snipsDir string, joined int, seed uint64) error {
	f, err := agentmode.New()
	if err != nil {
		return err
	}
	pairs, err := corpus.DisflQA(disflPath)
	if err != nil {
		return err
	}
	cmds, err := corpus.SNIPS(snipsDir)
	if err != nil {
		return err
	}
	d, err := evalDisfl(f, pairs)
	if err != nil {
		return err
	}
	in, err := evalIntents(f, cmds, joined, seed)
	if err != nil {
		return err
	}
	sp, err := evalSpeed(f, pairs, cmds)
	if err != nil {
		return err
	}
	fmt.Printf("Disfl-QA %s: %d pairs, %d where the original is a pure deletion from the input\n\n",
		filepath.Base(disflPath), d.all.n, d.del.n)
	printTable([][]string{
		{"measurement", "input unchanged", "fillers removed", "agent mode", "target", "met"},
		{"exact match, deletion-only pairs", pct(d.del.unchanged.em), pct(d.del.fillers.em), pct(d.del.agent.em), ">= 80%", met(d.del.agent.em >= 0.80)},
		{"exact match, all pairs", pct(d.all.unchanged.em), pct(d.all.fillers.em), pct(d.all.agent.em), ">= 62%", met(d.all.agent.em >= 0.62)},
		{"kept-word F1, deletion-only pairs", pct(d.del.unchanged.f1), pct(d.del.fillers.f1), pct(d.del.agent.f1), "", ""},
		{"kept-word F1, all pairs", pct(d.all.unchanged.f1), pct(d.all.fillers.f1), pct(d.all.agent.f1), "", ""},
		{"removed-word precision, deletion-only", "-", pct(d.del.fillers.prec), pct(d.del.agent.prec), ">= 97%", met(d.del.agent.prec >= 0.97)},
		{"removed-word recall, deletion-only", "-", pct(d.del.fillers.rec), pct(d.del.agent.rec), "", ""},
		{"fluent originals left unchanged", "100.0%", pct(d.fluentFillers), pct(d.fluentAgent), "", ""},
	})
	fmt.Printf("\nSNIPS: %d commands; %d utterances of 2-3 commands joined with \"and\", \"and then\", \"and also\", \",\" (seed %d)\n\n",
		len(cmds), joined, seed)
	printTable([][]string{
		{"measurement", "agent mode", "target", "met"},
		{"joined: utterances with every segment right", pct(in.allCorrect), ">= 98.5%", met(in.allCorrect >= 0.985)},
		{"joined: segments found exactly", pct(in.segments), "", ""},
		{"single commands split in two or more", pct(in.falseSplit), "< 1%", met(in.falseSplit < 0.01)},
		{fmt.Sprintf("joined, only the %d commands read as one request each: utterances all right (%d of them)", in.regularCmds, int(in.regular)),
			pct(in.regularAll), "", ""},
	})
	fmt.Printf("\nSpeed, one core (GOMAXPROCS=1), agent mode with o200k_base token counting\n\n")
	printTable([][]string{
		{"measurement", "earshot", "target", "met"},
		{"short utterances per second: voice commands (SNIPS)", fmt.Sprintf("%.0f", sp.commands), ">= 50000", met(sp.commands >= 50000)},
		{"short utterances per second: disfluent questions (Disfl-QA)", fmt.Sprintf("%.0f", sp.disfluent), ">= 50000", met(sp.disfluent >= 50000)},
		{"short utterances per second: both, mixed", fmt.Sprintf("%.0f", sp.perSecond), ">= 50000", met(sp.perSecond >= 50000)},
		{fmt.Sprintf("1-hour transcript (%d words, word timestamps), p50", sp.hourWords), fmt.Sprintf("%.1f ms", sp.hourP50), "<= 50 ms", met(sp.hourP50 <= 50)},
		{"1-hour transcript, p50 with max_tokens 8000", fmt.Sprintf("%.1f ms", sp.hourBudgetP50), "", ""},
	})
	return nil
}

// norm is the comparison form: lower case, punctuation stripped, single spaces.
func norm(s string) []string {
	var out []string
	for _, w := range strings.Fields(s) {
		if n := repair.Norm(w); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// agentText runs agent mode on text and returns its "text".
func agentText(f *agentmode.Formatter, s string) (string, []string, error) {
	out, err := f.FormatText(s, agentmode.Options{Mode: agentmode.Agent})
	if err != nil {
		return "", nil, err
	}
	var doc struct {
		Text    string `json:"text"`
		Intents []struct {
			Text string `json:"text"`
		} `json:"intents"`
	}
	if err := json.Unmarshal(out.JSON, &doc); err != nil {
		return "", nil, err
	}
	var intents []string
	for _, it := range doc.Intents {
		intents = append(intents, it.Text)
	}
	return doc.Text, intents, nil
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func printTable(rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i == 0 {
				b.WriteString(pad + c)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Println(b.String())
	}
}

type speed struct {
	commands      float64
	disfluent     float64
	perSecond     float64
	hourWords     int
	hourP50       float64
	hourBudgetP50 float64
}

// evalSpeed formats short utterances (the Disfl-QA inputs and SNIPS
// commands) in a loop on one core, and a 1-hour transcript built from the
// same sentences with a word every 0.4 s.
func evalSpeed(f *agentmode.Formatter, pairs []corpus.Pair, cmds []string) (speed, error) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	var texts []string
	for _, p := range pairs {
		texts = append(texts, p.Disfluent)
	}
	texts = append(texts, cmds...)
	opts := agentmode.Options{Mode: agentmode.Agent}
	for _, t := range texts { // warm up: encodings loaded, caches filled
		if _, err := f.FormatText(t, opts); err != nil {
			return speed{}, err
		}
	}
	var sp speed
	rate := func(texts []string) float64 {
		n, start := 0, time.Now()
		for time.Since(start) < 2*time.Second {
			for _, t := range texts {
				f.FormatText(t, opts)
			}
			n += len(texts)
		}
		return float64(n) / time.Since(start).Seconds()
	}
	sp.commands = rate(cmds)
	sp.disfluent = rate(texts[:len(pairs)])
	sp.perSecond = rate(texts)

	res := hourTranscript(texts)
	sp.hourWords = len(res.Words)
	p50 := func(o agentmode.Options) (float64, error) {
		var ds []float64
		for range 21 {
			t := time.Now()
			if _, err := f.Format(res, o); err != nil {
				return 0, err
			}
			ds = append(ds, float64(time.Since(t).Microseconds())/1000)
		}
		slices.Sort(ds)
		return ds[len(ds)/2], nil
	}
	var err error
	if sp.hourP50, err = p50(opts); err != nil {
		return sp, err
	}
	opts.MaxTokens = 8000
	if sp.hourBudgetP50, err = p50(opts); err != nil {
		return sp, err
	}
	return sp, nil
}

// hourTranscript is an hour of speech as whisper would give it with word
// timestamps: 30 s segments, a word every 0.4 s.
func hourTranscript(texts []string) *transcribe.Result {
	res := &transcribe.Result{Language: "en", Duration: 3600}
	t := 0.0
	var seg transcribe.Segment
	flush := func() {
		if len(seg.Tokens) > 0 {
			seg.ID = len(res.Segments)
			seg.End = t
			res.Segments = append(res.Segments, seg)
		}
		seg = transcribe.Segment{Start: t}
	}
	for i := 0; t < 3600; i++ {
		for _, w := range strings.Fields(texts[i%len(texts)]) {
			tok := transcribe.Token{Text: " " + w, P: 0.9, Start: t, End: t + 0.35}
			seg.Tokens = append(seg.Tokens, tok)
			seg.Text += tok.Text
			t += 0.4
			if t-seg.Start >= 30 {
				flush()
			}
		}
	}
	flush()
	res.Words = transcribe.Words(res.Segments)
	return res
}

// rng makes a seeded generator.
func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 3)) }
