// Command earshot-train trains agent mode's models (`make train`) and
// writes them where the build embeds them: the self-repair model
// (agentmode/repair/weights.txt.gz) on Disfl-QA train and dev, with SNIPS
// commands as fluent text, and the boundary model
// (agentmode/boundary/weights.txt.gz) on SNIPS training commands joined
// the ways people join requests. The recipe is package internal/recipe,
// which `make eval` cross-validates. Training is deterministic for a seed.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/earshot-dev/earshot/agentmode/boundary"
	"github.com/earshot-dev/earshot/agentmode/repair"
	"github.com/earshot-dev/earshot/internal/corpus"
	"github.com/earshot-dev/earshot/internal/recipe"
)

func main() {
	disfl := flag.String("disfl", "testdata/disfluency/train.json,testdata/disfluency/dev.json", "Disfl-QA files, comma-separated")
	snips := flag.String("snips", "testdata/intents/snips-train", "folder of SNIPS train_*_full.json files")
	repairOut := flag.String("repair-out", "agentmode/repair/weights.txt.gz", "where to write the repair model")
	boundaryOut := flag.String("boundary-out", "agentmode/boundary/weights.txt.gz", "where to write the boundary model")
	seed := flag.Uint64("seed", 1, "shuffling seed")
	prune := flag.Float64("prune", 1, "leave out repair weights smaller than this")
	flag.Parse()
	if err := run(*disfl, *snips, *repairOut, *boundaryOut, *seed, *prune); err != nil {
		fmt.Fprintln(os.Stderr, "earshot-train:", err)
		os.Exit(1)
	}
}

func run(disfl, snips, repairOut, boundaryOut string, seed uint64, prune float64) error {
	pairs, err := corpus.DisflQAFiles(disfl)
	if err != nil {
		return err
	}
	cmds, err := corpus.SNIPS(snips)
	if err != nil {
		return err
	}
	rt, used := recipe.TrainRepair(pairs, cmds, seed)
	var buf bytes.Buffer
	if err := repair.Write(&buf, rt, prune); err != nil {
		return err
	}
	if err := os.WriteFile(repairOut, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("repair: %d Disfl-QA pairs and %d SNIPS commands, %d examples used, %d features, confidence scale %.3g; wrote %s (%d bytes)\n",
		len(pairs), len(cmds), used, len(rt.Weights), rt.Scale, repairOut, buf.Len())
	bt := recipe.TrainBoundary(cmds, pairs, seed)
	buf.Reset()
	if err := boundary.Write(&buf, bt); err != nil {
		return err
	}
	if err := os.WriteFile(boundaryOut, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("boundary: %d features; wrote %s (%d bytes)\n", len(bt.Weights), boundaryOut, buf.Len())
	return nil
}
