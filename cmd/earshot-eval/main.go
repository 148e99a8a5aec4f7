// Command earshot-eval measures agent mode (`make eval`) on data its
// models were not trained on: k-fold cross-validation over Disfl-QA train
// and dev (self-repair resolution) and SNIPS train (requests joined the
// way people chain them, split back; single commands kept whole), each
// fold's models trained by the same recipe as `make train` on the other
// folds. It prints each figure next to its target, the fluent inputs that
// lost words, the errors by category, the SNIPS validation sets as one
// more held-out set for the shipped models, and speed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/agentmode/boundary"
	"github.com/earshot-dev/earshot/agentmode/repair"
	"github.com/earshot-dev/earshot/internal/corpus"
	"github.com/earshot-dev/earshot/internal/recipe"
	"github.com/earshot-dev/earshot/transcribe"
)

func main() {
	disfl := flag.String("disfl", "testdata/disfluency/train.json,testdata/disfluency/dev.json", "Disfl-QA files, comma-separated")
	snipsTrain := flag.String("snips-train", "testdata/intents/snips-train", "folder of SNIPS train_*_full.json files")
	snipsVal := flag.String("snips", "testdata/intents/snips", "folder of SNIPS validate_*.json files (held out)")
	k := flag.Int("k", 5, "folds")
	joined := flag.Int("joined", 600, "joined multi-command utterances to build per fold")
	seed := flag.Uint64("seed", 7, "seed for joining commands")
	splitsOnly := flag.Bool("splits-only", false, "cross-validate only the boundary model (with the shipped repair model), quickly")
	repairsOnly := flag.Bool("repairs-only", false, "cross-validate only the repair model on Disfl-QA (with the shipped boundary model), quickly")
	speedOnly := flag.Bool("speed-only", false, "time the shipped models only")
	examples := flag.Int("examples", 3, "examples to print of each kind of error")
	explain := flag.Bool("explain", false, "with each example of a lost word, print what was removed and why (kind, confidence)")
	flag.Parse()
	maxExamples = *examples
	explainEdits = *explain
	if *speedOnly {
		if err := runSpeed(*disfl, *snipsTrain); err != nil {
			fmt.Fprintln(os.Stderr, "earshot-eval:", err)
			os.Exit(1)
		}
		return
	}
	if *repairsOnly {
		if err := runRepairs(*disfl, *snipsTrain, *k); err != nil {
			fmt.Fprintln(os.Stderr, "earshot-eval:", err)
			os.Exit(1)
		}
		return
	}
	if *splitsOnly {
		if err := runSplits(*disfl, *snipsTrain, *k, *joined, *seed); err != nil {
			fmt.Fprintln(os.Stderr, "earshot-eval:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*disfl, *snipsTrain, *snipsVal, *k, *joined, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "earshot-eval:", err)
		os.Exit(1)
	}
}

func run(disflPaths, snipsTrain, snipsVal string, k, joined int, seed uint64) error {
	pairs, err := corpus.DisflQAFiles(disflPaths)
	if err != nil {
		return err
	}
	cmds, err := corpus.SNIPS(snipsTrain)
	if err != nil {
		return err
	}
	val, err := corpus.SNIPS(snipsVal)
	if err != nil {
		return err
	}
	var d, rs disflResult
	var in intentResult
	dt := newDestructive()
	start := time.Now()
	for fold := range k {
		dTest, dTrain := recipe.Fold(pairs, fold, k)
		sTest, sTrain := recipe.Fold(cmds, fold, k)
		rt, _ := recipe.TrainRepair(dTrain, sTrain, 1)
		bt := recipe.TrainBoundary(sTrain, dTrain, 1)
		f := agentmode.NewWith(repair.New(rt), boundary.New(bt))
		dt.explain = explainer(f)
		if err := evalDisfl(f, dTest, &d, dt); err != nil {
			return err
		}
		if err := evalIntents(f, sTest, joined, seed+uint64(fold), &in, dt, "SNIPS train"); err != nil {
			return err
		}
		if err := evalDisfl(f, recipe.Restarts(sTest, 1, seed+uint64(fold)), &rs, newDestructive()); err != nil {
			return err
		}
	}
	trainTime := time.Since(start)
	shipped, err := agentmode.New()
	if err != nil {
		return err
	}
	var vin intentResult
	dt.explain = explainer(shipped)
	if err := evalIntents(shipped, val, 2000, seed, &vin, dt, "SNIPS validation"); err != nil {
		return err
	}
	var vrs disflResult
	if err := evalDisfl(shipped, recipe.Restarts(val, 1, seed), &vrs, newDestructive()); err != nil {
		return err
	}
	sp, err := evalSpeed(shipped, pairs, cmds)
	if err != nil {
		return err
	}

	fmt.Printf("%d-fold cross-validation (%s): each fold's models trained on the other folds by the recipe of `make train`.\n", k, trainTime.Round(time.Second))
	fmt.Printf("Disfl-QA train+dev: %d pairs, %d where the original is a pure deletion from the input.\n", d.all.n, d.del.n)
	fmt.Printf("SNIPS train: %d commands; %d utterances of 2-3 held-out commands joined with %q.\n\n", in.singles, in.joined, recipe.Joins)
	em := func(s scores, n int) float64 { return s.em / float64(n) }
	f1 := func(s scores, n int) float64 { return s.f1 / float64(n) }
	multi := ratio(in.allRight, in.joined)
	single := ratio(in.falseSplit, in.singles)
	lostCont := dt.lostCont["SNIPS train single commands"] + dt.lostCont["SNIPS train joined"] + dt.lostCont["Disfl-QA fluent originals"]
	printTable([][]string{
		{"measurement (cross-validated)", "input unchanged", "fillers removed", "agent mode", "target", "met"},
		{"exact match, deletion-only pairs", pct(em(d.del.unchanged, d.del.n)), pct(em(d.del.fillers, d.del.n)), pct(em(d.del.agent, d.del.n)), ">= 82%", met(em(d.del.agent, d.del.n) >= 0.82)},
		{"exact match, all pairs", pct(em(d.all.unchanged, d.all.n)), pct(em(d.all.fillers, d.all.n)), pct(em(d.all.agent, d.all.n)), ">= 64%", met(em(d.all.agent, d.all.n) >= 0.64)},
		{"kept-word F1, deletion-only pairs", pct(f1(d.del.unchanged, d.del.n)), pct(f1(d.del.fillers, d.del.n)), pct(f1(d.del.agent, d.del.n)), "", ""},
		{"removed-word precision, deletion-only", "-", pct2(d.del.fillers.prec()), pct2(d.del.agent.prec()), ">= 97.5%", met(d.del.agent.prec() >= 0.975)},
		{"removed-word recall, deletion-only", "-", pct(d.del.fillers.rec()), pct(d.del.agent.rec()), "", ""},
		{"fluent originals left unchanged", "100.0%", pct(ratio(d.fluentFillers, d.fluent)), pct(ratio(d.fluentAgent, d.fluent)), "", ""},
		{"multi-request commands, every request right", "-", "-", pct(multi), ">= 95%", met(multi >= 0.95)},
		{"multi-request commands, requests found exactly", "-", "-", pct(ratio(in.segsOK, in.segs)), "", ""},
		{"single commands split in two or more", "-", "-", pct(single), "< 0.5%", met(single < 0.005)},
		{"fluent inputs that lost a content word", "-", "-", fmt.Sprint(lostCont), "0", met(lostCont == 0)},
		{"commands said with a false start, exact match", pct(em(rs.all.unchanged, rs.all.n)), pct(em(rs.all.fillers, rs.all.n)), pct(em(rs.all.agent, rs.all.n)), "", ""},
	})
	vm, vs := ratio(vin.allRight, vin.joined), ratio(vin.falseSplit, vin.singles)
	fmt.Printf("\nSNIPS validation (%d commands, %d joined utterances), shipped models, never trained on\n\n", vin.singles, vin.joined)
	printTable([][]string{
		{"measurement", "agent mode", "target", "met"},
		{"multi-request commands, every request right", pct(vm), ">= 95%", met(vm >= 0.95)},
		{"single commands split in two or more", pct(vs), "< 0.5%", met(vs < 0.005)},
		{"commands said with a false start, exact match", pct(em(vrs.all.agent, vrs.all.n)), "", ""},
	})
	fmt.Printf("\nDestructive edits: fluent inputs that lost words (content words: other than articles, prepositions, connectors, pronouns)\n\n")
	rows := [][]string{{"fluent inputs", "inputs", "lost any word", "lost a content word"}}
	for _, set := range dt.order {
		rows = append(rows, []string{set, fmt.Sprint(dt.inputs[set]), fmt.Sprint(dt.lostAny[set]), fmt.Sprint(dt.lostCont[set])})
	}
	printTable(rows)
	for _, set := range dt.order {
		for _, e := range dt.examples[set] {
			fmt.Printf("  %s: %s\n", set, e)
		}
	}
	fmt.Printf("\nErrors by category (cross-validated)\n\n")
	rows = [][]string{{"set", "category", "count"}}
	for _, c := range sortedKeys(d.categories) {
		rows = append(rows, []string{"Disfl-QA deletion-only pairs", c, fmt.Sprint(d.categories[c])})
	}
	rows = append(rows, []string{"Disfl-QA pairs that need rewording", "out of reach of deletion", fmt.Sprint(d.all.n - d.del.n)})
	for _, c := range sortedKeys(in.categories) {
		rows = append(rows, []string{"SNIPS joined commands", c, fmt.Sprint(in.categories[c])})
	}
	for _, c := range sortedKeys(in.singleCats) {
		rows = append(rows, []string{"SNIPS single commands", c, fmt.Sprint(in.singleCats[c])})
	}
	printTable(rows)
	for _, c := range sortedKeys(in.examples) {
		for _, e := range in.examples[c] {
			fmt.Printf("  %s: %s\n", c, e)
		}
	}
	printSpeed(sp)
	return nil
}

// runSpeed times the shipped models alone.
func runSpeed(disflPaths, snipsTrain string) error {
	pairs, err := corpus.DisflQAFiles(disflPaths)
	if err != nil {
		return err
	}
	cmds, err := corpus.SNIPS(snipsTrain)
	if err != nil {
		return err
	}
	f, err := agentmode.New()
	if err != nil {
		return err
	}
	sp, err := evalSpeed(f, pairs, cmds)
	if err != nil {
		return err
	}
	printSpeed(sp)
	return nil
}

func printSpeed(sp speed) {
	fmt.Printf("\nSpeed, one core (GOMAXPROCS=1), agent mode with o200k_base token counting, shipped models\n\n")
	printTable([][]string{
		{"measurement", "earshot", "target", "met"},
		{fmt.Sprintf("30-word utterance, p99 (%d runs)", sp.shortRuns), fmt.Sprintf("%.3f ms", sp.shortP99), "< 1 ms", met(sp.shortP99 < 1)},
		{"30-word utterance, p50", fmt.Sprintf("%.3f ms", sp.shortP50), "", ""},
		{fmt.Sprintf("30-word utterance, p99 over %d utterances of each one's best of 3 runs", sp.shortTexts), fmt.Sprintf("%.3f ms", sp.shortBestP99), "", ""},
		{fmt.Sprintf("1-hour transcript (%d words, word timestamps), p99 (%d runs)", sp.hourWords, sp.hourRuns), fmt.Sprintf("%.1f ms", sp.hourP99), "< 100 ms", met(sp.hourP99 < 100)},
		{"1-hour transcript, p50", fmt.Sprintf("%.1f ms", sp.hourP50), "", ""},
	})
}

// runRepairs cross-validates the repair model alone, for trying changes
// to it quickly.
func runRepairs(disflPaths, snipsTrain string, k int) error {
	pairs, err := corpus.DisflQAFiles(disflPaths)
	if err != nil {
		return err
	}
	cmds, err := corpus.SNIPS(snipsTrain)
	if err != nil {
		return err
	}
	bm, err := boundary.Load()
	if err != nil {
		return err
	}
	var d disflResult
	dt := newDestructive()
	for fold := range k {
		dTest, dTrain := recipe.Fold(pairs, fold, k)
		_, sTrain := recipe.Fold(cmds, fold, k)
		rt, _ := recipe.TrainRepair(dTrain, sTrain, 1)
		f := agentmode.NewWith(repair.New(rt), bm)
		dt.explain = explainer(f)
		if err := evalDisfl(f, dTest, &d, dt); err != nil {
			return err
		}
	}
	fmt.Printf("exact deletion-only %s, all %s, removed-word precision %s, recall %s; fluent originals losing a content word %d\n",
		pct(d.del.agent.em/float64(d.del.n)), pct(d.all.agent.em/float64(d.all.n)), pct(d.del.agent.prec()), pct(d.del.agent.rec()),
		dt.lostCont["Disfl-QA fluent originals"])
	for _, e := range dt.examples["Disfl-QA fluent originals"] {
		fmt.Println(" ", e)
	}
	for _, c := range sortedKeys(d.categories) {
		fmt.Printf("  %s: %d\n", c, d.categories[c])
		for _, e := range d.examples[c] {
			fmt.Printf("    %s\n", e)
		}
	}
	return nil
}

// runSplits cross-validates the boundary model alone, for trying changes
// to it quickly.
func runSplits(disflPaths, snipsTrain string, k, joined int, seed uint64) error {
	pairs, err := corpus.DisflQAFiles(disflPaths)
	if err != nil {
		return err
	}
	cmds, err := corpus.SNIPS(snipsTrain)
	if err != nil {
		return err
	}
	rm, err := repair.Load()
	if err != nil {
		return err
	}
	var in intentResult
	dt := newDestructive()
	for fold := range k {
		_, dTrain := recipe.Fold(pairs, fold, k)
		sTest, sTrain := recipe.Fold(cmds, fold, k)
		f := agentmode.NewWith(rm, boundary.New(recipe.TrainBoundary(sTrain, dTrain, 1)))
		dt.explain = explainer(f)
		if err := evalIntents(f, sTest, joined, seed+uint64(fold), &in, dt, "SNIPS train"); err != nil {
			return err
		}
	}
	fmt.Printf("multi-request commands, every request right %s; single commands split %s (%d of %d)\n",
		pct(ratio(in.allRight, in.joined)), pct(ratio(in.falseSplit, in.singles)), in.falseSplit, in.singles)
	for _, c := range sortedKeys(in.categories) {
		fmt.Printf("  %s: %d\n", c, in.categories[c])
	}
	for _, set := range dt.order {
		fmt.Printf("  %s: %d lost a content word\n", set, dt.lostCont[set])
		for _, e := range dt.examples[set] {
			fmt.Printf("    %s\n", e)
		}
	}
	for _, c := range sortedKeys(in.examples) {
		for _, e := range in.examples[c] {
			fmt.Printf("  %s: %s\n", c, e)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
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

// explainEdits is set by -explain.
var explainEdits bool

// explainer returns what f removes from a text, as "kind "words" confidence"
// entries, when -explain is set.
func explainer(f *agentmode.Formatter) func(string) string {
	if !explainEdits {
		return nil
	}
	return func(s string) string {
		out, err := f.FormatText(s, agentmode.Options{Mode: agentmode.Agent})
		if err != nil {
			return err.Error()
		}
		var doc struct {
			Removed []struct {
				Kind       string  `json:"kind"`
				Text       string  `json:"text"`
				Confidence float64 `json:"confidence"`
			} `json:"removed"`
		}
		if err := json.Unmarshal(out.JSON, &doc); err != nil {
			return err.Error()
		}
		var parts []string
		for _, r := range doc.Removed {
			parts = append(parts, fmt.Sprintf("%s %q %.3f", r.Kind, r.Text, r.Confidence))
		}
		return strings.Join(parts, "; ")
	}
}

// agentText runs agent mode on text and returns its "text" and intents.
func agentText(f *agentmode.Formatter, s string) (string, []string, error) {
	text, intents, _, err := agentSplits(f, s)
	return text, intents, err
}

// agentSplits is agentText with, for each intent after the first, whether
// the boundary model split it off (rather than a sentence end).
func agentSplits(f *agentmode.Formatter, s string) (string, []string, []bool, error) {
	out, err := f.FormatText(s, agentmode.Options{Mode: agentmode.Agent})
	if err != nil {
		return "", nil, nil, err
	}
	var doc struct {
		Text    string `json:"text"`
		Intents []struct {
			Text     string   `json:"text"`
			Boundary *float64 `json:"boundary_confidence"`
		} `json:"intents"`
	}
	if err := json.Unmarshal(out.JSON, &doc); err != nil {
		return "", nil, nil, err
	}
	var intents []string
	var byModel []bool
	for i, it := range doc.Intents {
		intents = append(intents, it.Text)
		if i > 0 {
			byModel = append(byModel, it.Boundary != nil)
		}
	}
	return doc.Text, intents, byModel, nil
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

func pct2(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

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
	shortRuns, hourRuns, hourWords int
	shortTexts                     int
	shortP50, shortP99             float64
	shortBestP99                   float64
	hourP50, hourP99               float64
}

// evalSpeed times agent mode on one core: 30-word utterances cut from the
// Disfl-QA inputs and SNIPS commands, each formatted once, and a 1-hour
// transcript built from the same sentences with a word every 0.4 s.
func evalSpeed(f *agentmode.Formatter, pairs []corpus.Pair, cmds []string) (speed, error) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	runtime.GC() // the folds' models are garbage now: collect them before timing
	var words []string
	for i := range 3000 {
		words = append(words, strings.Fields(pairs[i%len(pairs)].Disfluent)...)
		words = append(words, strings.Fields(cmds[(7*i)%len(cmds)])...)
	}
	var texts []string
	for i := 0; i+30 <= len(words) && len(texts) < 5000; i += 30 {
		texts = append(texts, strings.Join(words[i:i+30], " "))
	}
	opts := agentmode.Options{Mode: agentmode.Agent}
	for _, t := range texts[:500] { // warm up: encodings loaded, caches filled
		if _, err := f.FormatText(t, opts); err != nil {
			return speed{}, err
		}
	}
	var sp speed
	var ds, best []float64
	for _, t := range texts {
		b := math.Inf(1)
		for range 3 {
			start := time.Now()
			if _, err := f.FormatText(t, opts); err != nil {
				return sp, err
			}
			d := float64(time.Since(start).Nanoseconds()) / 1e6
			ds = append(ds, d)
			b = min(b, d)
		}
		best = append(best, b)
	}
	sp.shortRuns, sp.shortTexts = len(ds), len(texts)
	sp.shortP50, sp.shortP99 = quantile(ds, 0.5), quantile(ds, 0.99)
	sp.shortBestP99 = quantile(best, 0.99)

	var sentences []string
	for _, p := range pairs {
		sentences = append(sentences, p.Disfluent)
	}
	sentences = append(sentences, cmds...)
	res := hourTranscript(sentences)
	sp.hourWords = len(res.Words)
	ds = ds[:0]
	for range 40 {
		start := time.Now()
		if _, err := f.Format(res, opts); err != nil {
			return sp, err
		}
		ds = append(ds, float64(time.Since(start).Microseconds())/1000)
	}
	sp.hourRuns = len(ds)
	sp.hourP50, sp.hourP99 = quantile(ds, 0.5), quantile(ds, 0.99)
	return sp, nil
}

func quantile(ds []float64, q float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
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
