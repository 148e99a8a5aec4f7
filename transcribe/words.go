package transcribe

import (
	"strings"
	"unicode/utf8"
)

// Words assembles words from the segments' tokens: a token whose text starts
// with a space (or a segment's first token) starts a new word, and the
// following tokens continue it, as in whisper's byte-pair vocabulary. A
// word's start is its first token's start, its end the last token's end, and
// its probability the mean of its tokens' probabilities. Special tokens are
// skipped. Token texts may split a UTF-8 sequence; words never do.
func Words(segments []Segment) []Word {
	var words []Word
	for _, s := range segments {
		var (
			cur   []byte
			start float64
			end   float64
			psum  float64
			n     int
		)
		flush := func() {
			text := strings.TrimSpace(strings.ToValidUTF8(string(cur), "\uFFFD"))
			if text != "" {
				words = append(words, Word{Word: text, Start: start, End: end, Probability: psum / float64(n)})
			}
			cur, psum, n = cur[:0], 0, 0
		}
		for _, t := range s.Tokens {
			if t.Special || t.Text == "" {
				continue
			}
			// A new word starts at a leading space, unless the bytes so far
			// end inside a UTF-8 sequence that this token completes.
			if (strings.HasPrefix(t.Text, " ") || n == 0) && utf8.Valid(cur) {
				if n > 0 {
					flush()
				}
				start = t.Start
			}
			cur = append(cur, t.Text...)
			end = t.End
			psum += t.P
			n++
		}
		if n > 0 {
			flush()
		}
	}
	return words
}
