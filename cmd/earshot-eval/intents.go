package main

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/agentmode"
)

type intentResult struct {
	allCorrect, segments, falseSplit float64
	// The same on the utterances made only of commands that agent mode
	// keeps whole on their own and that start like a request (a verb, a
	// wh-word, "I want"...): not "Weather in Dominica", "Out of 6, give
	// ...", "Open itunes. Play ...".
	regular, regularAll float64
	regularCmds         int
}

// connectors are how people chain requests in one breath.
var connectors = []string{" and ", " and then ", " and also ", ", "}

// evalIntents joins 2-3 commands per utterance and checks that agent mode
// splits them back exactly; and that single commands stay whole.
func evalIntents(f *agentmode.Formatter, cmds []string, joined int, seed uint64) (intentResult, error) {
	var r intentResult
	// Commands that are one request on their own, by agent mode's reading.
	whole := map[string]bool{}
	for _, c := range cmds {
		_, intents, err := agentText(f, c)
		if err != nil {
			return r, err
		}
		if len(intents) == 1 && slices.Equal(norm(intents[0]), norm(c)) {
			_, in2, err := agentText(f, "Play some music and "+lowerFirst(c))
			if err != nil {
				return r, err
			}
			whole[c] = len(in2) == 2
		}
	}
	for _, ok := range whole {
		if ok {
			r.regularCmds++
		}
	}
	g := rng(seed)
	all, segs, segsOK, reg, regAll := 0, 0, 0, 0, 0
	for range joined {
		k := 2 + g.IntN(2)
		parts := make([]string, k)
		var b strings.Builder
		for i := range parts {
			parts[i] = cmds[g.IntN(len(cmds))]
			said := parts[i]
			if i < k-1 {
				// Said in one breath: no full stop before the connector.
				said = strings.TrimRight(said, ".?! ")
			}
			if i > 0 {
				b.WriteString(connectors[g.IntN(len(connectors))])
				said = lowerFirst(said)
			}
			b.WriteString(said)
		}
		_, intents, err := agentText(f, b.String())
		if err != nil {
			return r, err
		}
		got := make([][]string, len(intents))
		for i, it := range intents {
			got[i] = norm(it)
		}
		ok := len(got) == len(parts)
		for i, p := range parts {
			want := norm(p)
			segs++
			if slices.ContainsFunc(got, func(g []string) bool { return slices.Equal(g, want) }) {
				segsOK++
			}
			if ok && !slices.Equal(got[i], want) {
				ok = false
			}
		}
		if ok {
			all++
		}
		regular := true
		for _, p := range parts {
			regular = regular && whole[p]
		}
		if regular {
			reg++
			if ok {
				regAll++
			}
		}
	}
	r.regular = float64(reg)
	if reg > 0 {
		r.regularAll = float64(regAll) / float64(reg)
	}
	r.allCorrect = float64(all) / float64(joined)
	r.segments = float64(segsOK) / float64(segs)
	split := 0
	for _, c := range cmds {
		_, intents, err := agentText(f, c)
		if err != nil {
			return r, err
		}
		if len(intents) > 1 {
			split++
		}
	}
	r.falseSplit = float64(split) / float64(len(cmds))
	return r, nil
}

// lowerFirst lower-cases a command's first letter, as it reads mid-sentence
// ("and play ..."), but keeps "I" and names in capitals.
func lowerFirst(s string) string {
	first, _, _ := strings.Cut(s, " ")
	if first == "I" || strings.HasPrefix(first, "I'") {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	if len(first) > n {
		if r2, _ := utf8.DecodeRuneInString(first[n:]); unicode.IsUpper(r2) {
			return s // an acronym
		}
	}
	return string(unicode.ToLower(r)) + s[n:]
}
