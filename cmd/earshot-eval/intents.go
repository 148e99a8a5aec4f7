package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/internal/recipe"
)

// intentResult sums figures over folds.
type intentResult struct {
	joined, allRight, segs, segsOK int
	singles, falseSplit            int
	categories, singleCats         map[string]int
	examples                       map[string][]string
}

// evalIntents joins 2-3 commands per utterance, as recipe.Join does for
// training but from commands the models never saw, and checks that agent
// mode splits them back exactly; and that single commands stay whole.
func evalIntents(f *agentmode.Formatter, cmds []string, joined int, seed uint64, r *intentResult, dt *destructive, set string) error {
	if r.categories == nil {
		r.categories, r.singleCats, r.examples = map[string]int{}, map[string]int{}, map[string][]string{}
	}
	g := rand.New(rand.NewPCG(seed, 3))
	for range joined {
		j := recipe.Join(cmds, g)
		text := j.Text()
		out, intents, err := agentText(f, text)
		if err != nil {
			return err
		}
		r.joined++
		got := make([][]string, len(intents))
		for i, it := range intents {
			got[i] = norm(it)
		}
		ok := len(got) == len(j.Cmds)
		var want []string
		for i, c := range j.Cmds {
			w := norm(c)
			want = append(want, w...)
			r.segs++
			if slices.ContainsFunc(got, func(g []string) bool { return slices.Equal(g, w) }) {
				r.segsOK++
			}
			if ok && !slices.Equal(got[i], w) {
				ok = false
			}
		}
		dt.add(set+" joined", text, want, norm(out))
		if ok {
			r.allRight++
			continue
		}
		cat := "split in the wrong place"
		switch {
		case len(got) < len(j.Cmds):
			cat = "requests not split"
		case len(got) > len(j.Cmds):
			cat = "split too often"
		case !slices.Equal(norm(out), want):
			cat = "words removed or kept wrongly"
		}
		r.categories[cat]++
		if len(r.examples[cat]) < maxExamples {
			r.examples[cat] = append(r.examples[cat], fmt.Sprintf("%q -> %q", text, intents))
		}
	}
	for _, c := range cmds {
		out, intents, byModel, err := agentSplits(f, c)
		if err != nil {
			return err
		}
		r.singles++
		if len(intents) > 1 {
			r.falseSplit++
			cat := "single command split by the boundary model"
			if slices.Contains(byModel, false) {
				cat = "single command split at a sentence end of its own (a title with ! or ?)"
			}
			r.singleCats[cat]++
			if len(r.examples["single command split"]) < maxExamples {
				r.examples["single command split"] = append(r.examples["single command split"], fmt.Sprintf("%q -> %q", c, intents))
			}
		}
		dt.add(set+" single commands", c, norm(c), norm(out))
	}
	return nil
}

// destructive counts fluent inputs that lost words, by set.
type destructive struct {
	order    []string
	inputs   map[string]int
	lostAny  map[string]int
	lostCont map[string]int
	examples map[string][]string
	// explain, when set, says what agent mode removed from an input, for
	// the examples.
	explain func(string) string
}

func newDestructive() *destructive {
	return &destructive{inputs: map[string]int{}, lostAny: map[string]int{}, lostCont: map[string]int{}, examples: map[string][]string{}}
}

// functionWords may go without a change of meaning being counted as a
// lost content word (a repeated "the", a connector).
var functionWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields("the a an and or but to of in on at for with by from is are was were be it this that " +
		"i me my you your we our please then also so now just") {
		functionWords[w] = true
	}
}

// add records a fluent input whose output should hold every word of want.
func (d *destructive) add(set, input string, want, got []string) {
	if _, ok := d.inputs[set]; !ok {
		d.order = append(d.order, set)
	}
	d.inputs[set]++
	have, kept := map[string]int{}, map[string]bool{}
	for _, w := range got {
		have[w]++
		kept[w] = true
	}
	var lost []string
	content := false
	for _, w := range want {
		if have[w] > 0 {
			have[w]--
			continue
		}
		lost = append(lost, w)
		// A content word is lost when the output no longer has it at
		// all: a doubled word made single ("able do do if ...", a typo in
		// a Disfl-QA original) still says it, and counts under "lost any
		// word" only.
		content = content || !functionWords[w] && !kept[w]
	}
	if len(lost) == 0 {
		return
	}
	d.lostAny[set]++
	if content {
		d.lostCont[set]++
		if len(d.examples[set]) < maxExamples {
			e := fmt.Sprintf("%q lost %q", input, lost)
			if d.explain != nil {
				e += ": " + d.explain(input)
			}
			d.examples[set] = append(d.examples[set], e)
		}
	}
}

// maxExamples is how many examples of each kind of error are kept.
var maxExamples = 3
