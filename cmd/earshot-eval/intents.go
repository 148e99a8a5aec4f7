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
}

// connectors are how people chain requests in one breath.
var connectors = []string{" and ", " and then ", " and also ", ", "}

// evalIntents joins 2-3 commands per utterance and checks that agent mode
// splits them back exactly; and that single commands stay whole.
func evalIntents(f *agentmode.Formatter, cmds []string, joined int, seed uint64) (intentResult, error) {
	var r intentResult
	g := rng(seed)
	all, segs, segsOK := 0, 0, 0
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
