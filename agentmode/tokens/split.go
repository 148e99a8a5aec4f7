package tokens

import (
	"unicode"
	"unicode/utf8"
)

// The split functions below cut text into the pieces that tiktoken's
// pre-tokenizer regular expression matches, one after another. Each follows
// its pattern's alternatives in order, with the backtracking a
// leftmost-first regexp engine does (regexp2, as tiktoken-go uses), so the
// pieces are the same. \s is unicode.IsSpace, as in regexp2; the input is
// valid UTF-8.

// o200k_base:
//
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
func splitO200k(s string, piece func(string)) {
	for pos := 0; pos < len(s); {
		end := o200kAt(s, pos)
		piece(s[pos:end])
		pos = end
	}
}

func o200kAt(s string, pos int) int {
	r, w := utf8.DecodeRuneInString(s[pos:])
	prefix := !isNewline(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r)
	// Alternative 1, with and then without the optional prefix.
	if prefix {
		if e, ok := upperLower(s, pos+w); ok {
			return contraction(s, e, true)
		}
	}
	if e, ok := upperLower(s, pos); ok {
		return contraction(s, e, true)
	}
	// Alternative 2: [prefix]? U+ L*.
	if prefix {
		if e := run(s, pos+w, isUpperish); e > pos+w {
			return contraction(s, run(s, e, isLowerish), true)
		}
	}
	if e := run(s, pos, isUpperish); e > pos {
		return contraction(s, run(s, e, isLowerish), true)
	}
	if e, ok := digits3(s, pos); ok {
		return e
	}
	if e, ok := punct(s, pos, func(r rune) bool { return isNewline(r) || r == '/' }); ok {
		return e
	}
	return spaces(s, pos, true)
}

// cl100k_base:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func splitCl100k(s string, piece func(string)) {
	for pos := 0; pos < len(s); {
		end := cl100kAt(s, pos)
		piece(s[pos:end])
		pos = end
	}
}

func cl100kAt(s string, pos int) int {
	if e := contraction(s, pos, true); e > pos {
		return e
	}
	r, w := utf8.DecodeRuneInString(s[pos:])
	if !isNewline(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r) {
		if e := run(s, pos+w, unicode.IsLetter); e > pos+w {
			return e
		}
	}
	if e := run(s, pos, unicode.IsLetter); e > pos {
		return e
	}
	if e, ok := digits3(s, pos); ok {
		return e
	}
	if e, ok := punct(s, pos, isNewline); ok {
		return e
	}
	return spaces(s, pos, true)
}

// p50k_base and r50k_base (GPT-2):
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func splitGPT2(s string, piece func(string)) {
	for pos := 0; pos < len(s); {
		end := gpt2At(s, pos)
		piece(s[pos:end])
		pos = end
	}
}

func gpt2At(s string, pos int) int {
	if e := contraction(s, pos, false); e > pos {
		return e
	}
	for _, class := range []func(rune) bool{unicode.IsLetter, unicode.IsNumber, isPunct} {
		if s[pos] == ' ' {
			if e := run(s, pos+1, class); e > pos+1 {
				return e
			}
		}
		if e := run(s, pos, class); e > pos {
			return e
		}
	}
	return spaces(s, pos, false)
}

func isNewline(r rune) bool { return r == '\r' || r == '\n' }

// isPunct is [^\s\p{L}\p{N}].
func isPunct(r rune) bool { return !unicode.IsSpace(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r) }

// isUpperish is [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], isLowerish [\p{Ll}\p{Lm}\p{Lo}\p{M}].
func isUpperish(r rune) bool {
	if r < utf8.RuneSelf {
		return 'A' <= r && r <= 'Z'
	}
	return unicode.In(r, unicode.Lu, unicode.Lt, unicode.Lm, unicode.Lo, unicode.M)
}

func isLowerish(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z'
	}
	return unicode.In(r, unicode.Ll, unicode.Lm, unicode.Lo, unicode.M)
}

// run is the end of the longest run of runes in class starting at pos.
func run(s string, pos int, class func(rune) bool) int {
	for pos < len(s) {
		r, w := utf8.DecodeRuneInString(s[pos:])
		if !class(r) {
			break
		}
		pos += w
	}
	return pos
}

// upperLower matches U*L+ at pos the way a backtracking engine does: U*
// takes the longest run, then gives runes back one at a time until L+ can
// match, and L+ then takes all it can.
func upperLower(s string, pos int) (int, bool) {
	var bounds [32]int
	b := append(bounds[:0], pos)
	for p := pos; p < len(s); {
		r, w := utf8.DecodeRuneInString(s[p:])
		if !isUpperish(r) {
			break
		}
		p += w
		b = append(b, p)
	}
	for k := len(b) - 1; k >= 0; k-- {
		if e := run(s, b[k], isLowerish); e > b[k] {
			return e, true
		}
	}
	return pos, false
}

// contraction extends a match at end by one of 's 't 're 've 'm 'll 'd,
// the first that matches; fold makes it case-insensitive.
func contraction(s string, end int, fold bool) int {
	if end+1 >= len(s) || s[end] != '\'' {
		return end
	}
	lower := func(c byte) byte {
		if fold && 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	c := lower(s[end+1])
	switch c {
	case 's', 't', 'm', 'd':
		return end + 2
	}
	if end+2 < len(s) {
		switch d := lower(s[end+2]); {
		case c == 'r' && d == 'e', c == 'v' && d == 'e', c == 'l' && d == 'l':
			return end + 3
		}
	}
	return end
}

// digits3 is \p{N}{1,3}.
func digits3(s string, pos int) (int, bool) {
	e := pos
	for n := 0; n < 3 && e < len(s); n++ {
		r, w := utf8.DecodeRuneInString(s[e:])
		if !unicode.IsNumber(r) {
			break
		}
		e += w
	}
	return e, e > pos
}

// punct is " ?[^\s\p{L}\p{N}]+" followed by any runes in tail.
func punct(s string, pos int, tail func(rune) bool) (int, bool) {
	for _, skip := range []int{1, 0} {
		if skip == 1 && s[pos] != ' ' {
			continue
		}
		if e := run(s, pos+skip, isPunct); e > pos+skip {
			return run(s, e, tail), true
		}
	}
	return pos, false
}

// spaces matches the whitespace alternatives at pos, which is whitespace:
// \s*[\r\n]+ (when newlines is set), then \s+(?!\S), then \s+.
func spaces(s string, pos int, newlines bool) int {
	end, last, lastNL := pos, pos, -1
	for end < len(s) {
		r, w := utf8.DecodeRuneInString(s[end:])
		if !unicode.IsSpace(r) {
			break
		}
		if isNewline(r) {
			lastNL = end + w
		}
		last = end
		end += w
	}
	if end == pos {
		// Not reachable for valid patterns: every rune matches some
		// alternative. Take one rune so that the split always advances.
		_, w := utf8.DecodeRuneInString(s[pos:])
		return pos + w
	}
	if newlines && lastNL > 0 {
		return lastNL
	}
	if end == len(s) || last == pos {
		return end
	}
	return last
}
