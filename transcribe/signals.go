package transcribe

import (
	"bytes"
	"compress/zlib"
	"math"
)

// CompressionRatio is OpenAI whisper's repetition signal: the text's bytes
// over its zlib-compressed bytes, to three decimals. Looping text
// compresses well and scores high (whisper treats > 2.4 as a failed
// decode); empty text scores 0.
func CompressionRatio(text string) float64 {
	if text == "" {
		return 0
	}
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write([]byte(text)) // writes to a bytes.Buffer cannot fail
	zw.Close()
	return math.Round(float64(len(text))/float64(buf.Len())*1000) / 1000
}
