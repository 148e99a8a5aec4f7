package transcribe

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
)

// CompressionRatioThreshold is whisper's compression_ratio_threshold: text
// whose zlib compression ratio is above it is taken for a repetition loop.
const CompressionRatioThreshold = 2.4

// Repetition says why a segment's text looks like a decoding loop.
type Repetition struct {
	// Reason is for people and for raw mode: `compression ratio 3.10 >
	// 2.4` or `"thank you" 6 times in a row`.
	Reason string `json:"reason"`
	// CompressionRatio is the text's zlib ratio (bytes in / bytes out), as
	// whisper computes it.
	CompressionRatio float64 `json:"compression_ratio"`
	// Phrase and Count are the repeated n-gram and its consecutive copies,
	// when that is what gave it away.
	Phrase string `json:"phrase,omitempty"`
	Count  int    `json:"count,omitempty"`
}

// CompressionRatio is len(text) / len(zlib(text)), whisper's measure of
// how repetitive a text is (whisper.transcribe's get_compression_ratio).
func CompressionRatio(text string) float64 {
	if text == "" {
		return 0
	}
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(text))
	w.Close()
	return float64(len(text)) / float64(b.Len())
}

// DetectRepetition reports whether text (one segment, or a window's
// segments joined) is a repetition loop: its compression ratio is over
// CompressionRatioThreshold, or one phrase of 1 to 8 words repeats back to
// back at least 5 times, or at least 3 times when the copies add up to 12
// words or more. People do repeat themselves ("no, no, no"), so shorter
// runs are not flagged. Case and punctuation are ignored in the comparison.
func DetectRepetition(text string) (Repetition, bool) {
	ratio := CompressionRatio(text)
	r := Repetition{CompressionRatio: ratio}
	words := strings.FieldsFunc(strings.ToLower(text), func(c rune) bool {
		return !(c == '\'' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c > 127)
	})
	bestN, bestCount, bestAt := 0, 0, 0
	for n := 1; n <= 8 && 2*n <= len(words); n++ {
		for at := 0; at+2*n <= len(words); at++ {
			count := 1
			for at+(count+1)*n <= len(words) && equalWords(words[at:at+n], words[at+count*n:at+(count+1)*n]) {
				count++
			}
			if loop(n, count) && count*n > bestCount*bestN {
				bestN, bestCount, bestAt = n, count, at
			}
		}
	}
	if bestCount > 0 {
		r.Phrase = strings.Join(words[bestAt:bestAt+bestN], " ")
		r.Count = bestCount
		r.Reason = fmt.Sprintf("%q %d times in a row", r.Phrase, r.Count)
		return r, true
	}
	if ratio > CompressionRatioThreshold {
		r.Reason = fmt.Sprintf("compression ratio %.2f > %.1f", ratio, CompressionRatioThreshold)
		return r, true
	}
	return r, false
}

func loop(n, count int) bool { return count >= 5 || (count >= 3 && n*count >= 12) }

func equalWords(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
