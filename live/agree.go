package live

import (
	"strings"
	"time"
	"unicode"

	"github.com/earshot-dev/earshot/agentmode/repair"
)

// agree is local agreement between two successive decodes of the open
// turn: the words both begin with. Words already sent are never taken
// back, so agreement only counts when it begins with them; otherwise
// the stable prefix stays what was sent.
func agree(prev, cur, sent []string) []string {
	n := 0
	for n < len(prev) && n < len(cur) && prev[n] == cur[n] {
		n++
	}
	if n <= len(sent) || !hasPrefix(cur[:n], sent) {
		return sent
	}
	return cur[:n]
}

// extend is a turn's final words given those already sent: the final
// decode where it begins with them; where it does not (whisper changed
// its mind on the longer audio), the sent words stand and the final
// decode's words after as many words follow them.
func extend(sent, final []string) []string {
	if hasPrefix(final, sent) {
		return final
	}
	out := append([]string(nil), sent...)
	if len(final) > len(sent) {
		out = append(out, final[len(sent):]...)
	}
	return out
}

func hasPrefix(words, prefix []string) bool {
	if len(prefix) > len(words) {
		return false
	}
	for i, w := range prefix {
		if words[i] != w {
			return false
		}
	}
	return true
}

// dangling are words after which a sentence cannot end: a turn that stops
// on one is waiting for more.
var dangling = map[string]bool{
	"and": true, "or": true, "but": true, "so": true, "because": true, "then": true, "if": true, "that": true,
	"the": true, "a": true, "an": true, "my": true, "your": true, "this": true, "to": true, "of": true,
	"for": true, "with": true, "in": true, "on": true, "at": true, "from": true, "like": true, "is": true,
	"are": true, "was": true, "i": true, "we": true, "you": true, "it's": true, "i'm": true, "which": true,
}

// semanticBounds are the least and most silence that ends a turn for
// each eagerness; the most are OpenAI's documented maximum timeouts.
var semanticBounds = map[string][2]time.Duration{
	"high":   {250 * time.Millisecond, 2 * time.Second},
	"medium": {500 * time.Millisecond, 4 * time.Second},
	"auto":   {500 * time.Millisecond, 4 * time.Second},
	"low":    {900 * time.Millisecond, 8 * time.Second},
}

// semanticSilence is how long semantic_vad waits in silence after text:
// the least for a complete sentence (it ends in . ? or !), the most for
// text that stops on a filler (um, uh: agentmode's list), a comma or a
// word such as "and" or "the", and twice the least for anything else
// (or no text yet).
func semanticSilence(eagerness, text string) time.Duration {
	b, ok := semanticBounds[eagerness]
	if !ok {
		b = semanticBounds["auto"]
	}
	text = strings.TrimSpace(text)
	words := strings.Fields(text)
	if len(words) == 0 {
		return 2 * b[0]
	}
	last := words[len(words)-1]
	bare := strings.ToLower(strings.TrimFunc(last, func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' }))
	switch {
	case strings.HasSuffix(last, ",") || strings.HasSuffix(last, "-") || strings.HasSuffix(last, "...") ||
		repair.IsFiller(bare) || dangling[bare]:
		return b[1]
	case strings.HasSuffix(last, ".") || strings.HasSuffix(last, "?") || strings.HasSuffix(last, "!"):
		return b[0]
	}
	return 2 * b[0]
}
