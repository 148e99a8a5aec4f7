// Command earshot-train trains agent mode's self-repair model on the
// Disfl-QA training set and writes agentmode/repair/weights.txt.gz
// (`make train`). Training is deterministic for a given seed.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/agentmode/repair"
	"github.com/earshot-dev/earshot/internal/corpus"
)

func main() {
	train := flag.String("train", "testdata/disfluency/train.json", "Disfl-QA training pairs")
	dev := flag.String("dev", "testdata/disfluency/dev.json", "Disfl-QA dev pairs, to report on")
	out := flag.String("out", "agentmode/repair/weights.txt.gz", "where to write the model")
	epochs := flag.Int("epochs", 12, "passes over the training data")
	seed := flag.Uint64("seed", 1, "shuffling seed")
	prune := flag.Float64("prune", 1, "leave out weights smaller than this")
	folds := flag.Int("cv", 0, "also report k-fold cross-validation on the training pairs")
	lengthCost := flag.Float64("length-cost", 1, "score subtracted per reparandum word at run time: precision over recall")
	flag.Parse()
	if *folds > 1 {
		if err := crossValidate(*train, *epochs, *seed, *folds, *lengthCost); err != nil {
			fmt.Fprintln(os.Stderr, "earshot-train:", err)
			os.Exit(1)
		}
	}
	if err := run(*train, *dev, *out, *epochs, *seed, *prune, *lengthCost); err != nil {
		fmt.Fprintln(os.Stderr, "earshot-train:", err)
		os.Exit(1)
	}
}

// fillers are inserted into fluent sentences to make negatives: speech is
// full of filled pauses that correct nothing.
var fillers = []string{"uh", "um", "er", "uh,", "um,"}

// examples turns pairs into training examples: each disfluent question
// with its fluent original, the original alone (no repair), and the
// original with a filled pause inserted (no repair either).
func examples(pairs []corpus.Pair, seed uint64) []repair.Example {
	rng := rand.New(rand.NewPCG(seed, 2))
	var exs []repair.Example
	for _, p := range pairs {
		exs = append(exs, agentmode.TrainingExample(p.Disfluent, p.Original))
		exs = append(exs, agentmode.TrainingExample(p.Original, ""))
		ws := strings.Fields(p.Original)
		if len(ws) > 2 {
			at := 1 + rng.IntN(len(ws)-1)
			ins := append(append(append([]string{}, ws[:at]...), fillers[rng.IntN(len(fillers))]), ws[at:]...)
			exs = append(exs, agentmode.TrainingExample(strings.Join(ins, " "), ""))
		}
	}
	return exs
}

// crossValidate trains on k-1 folds of the pairs and measures exact
// resolution on the fold left out, k times.
func crossValidate(trainPath string, epochs int, seed uint64, k int, lengthCost float64) error {
	pairs, err := corpus.DisflQA(trainPath)
	if err != nil {
		return err
	}
	correct, total, reach, deletion := 0, 0, 0, 0
	for fold := range k {
		var tr, te []corpus.Pair
		for i, p := range pairs {
			if i%k == fold {
				te = append(te, p)
			} else {
				tr = append(tr, p)
			}
		}
		trained, _ := repair.Train(examples(tr, seed), epochs, seed)
		trained.LengthCost = lengthCost
		m := repair.New(trained)
		for _, p := range te {
			total++
			ex := agentmode.TrainingExample(p.Disfluent, p.Original)
			if repair.Resolves(m, ex) {
				correct++
			}
			if m.Reachable(ex) {
				reach++
			}
			if isDeletion(ex) {
				deletion++
			}
		}
	}
	fmt.Printf("%d-fold cross-validation on %d training pairs: exact %.1f%% (%.1f%% of the %d pure deletions), reachable %.1f%%\n",
		k, total, 100*float64(correct)/float64(total), 100*float64(correct)/float64(deletion), deletion, 100*float64(reach)/float64(total))
	return nil
}

// isDeletion reports whether the fluent form is the disfluent one with
// words taken out.
func isDeletion(ex repair.Example) bool {
	j := 0
	for _, w := range ex.Words {
		if n := repair.Norm(w.Lower); n != "" && j < len(ex.Want) && ex.Want[j] == n {
			j++
		}
	}
	return j == len(ex.Want)
}

func run(trainPath, devPath, out string, epochs int, seed uint64, prune, lengthCost float64) error {
	pairs, err := corpus.DisflQA(trainPath)
	if err != nil {
		return err
	}
	exs := examples(pairs, seed)
	trained, used := repair.Train(exs, epochs, seed)
	trained.LengthCost = lengthCost
	fmt.Printf("trained on %d of %d examples, %d features, %d word pairs\n", used, len(exs), len(trained.Weights), len(trained.Bigrams))
	var buf bytes.Buffer
	if err := repair.Write(&buf, trained, prune); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes)\n", out, buf.Len())
	if devPath == "" {
		return nil
	}
	devPairs, err := corpus.DisflQA(devPath)
	if err != nil {
		return err
	}
	m, err := repair.Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return err
	}
	var reach, correct, total, fluentKept, fluentTotal int
	for _, p := range devPairs {
		ex := agentmode.TrainingExample(p.Disfluent, p.Original)
		fl := agentmode.TrainingExample(p.Original, "")
		fluentTotal++
		if len(m.Find(fl.Words)) == 0 {
			fluentKept++
		}
		total++
		if m.Reachable(ex) {
			reach++
		}
		if repair.Resolves(m, ex) {
			correct++
		}
	}
	fmt.Printf("dev: exact %d/%d (%.1f%%), reachable %d (%.1f%%); fluent originals left alone %d/%d (%.1f%%)\n",
		correct, total, 100*float64(correct)/float64(total), reach, 100*float64(reach)/float64(total),
		fluentKept, fluentTotal, 100*float64(fluentKept)/float64(fluentTotal))
	return nil
}
