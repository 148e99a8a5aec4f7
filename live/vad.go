package live

import (
	"context"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
)

// Span is a stretch of speech, from the start of the samples it was found
// in.
type Span struct {
	Start, End time.Duration
}

// SpeechDetector finds the speech in 16 kHz mono samples. A session calls
// it from one goroutine at a time, on a window of recent audio (a few
// seconds) every 100 ms of input; threshold is the client's
// turn_detection.threshold, 0..1 (higher needs louder or surer speech).
// Spans are in order and do not overlap.
type SpeechDetector interface {
	Detect(ctx context.Context, samples []float32, threshold float64) ([]Span, error)
}

// VADDetector is a SpeechDetector over earshot's voice activity detection
// (Silero where make build installed it, else its energy detector): the
// same detector batch requests use.
type VADDetector struct{ VAD transcribe.VAD }

// Detect implements SpeechDetector. Pauses down to 100 ms stay pauses and
// no padding is added: the session applies the client's silence_duration_ms
// and prefix_padding_ms itself.
func (d VADDetector) Detect(ctx context.Context, samples []float32, threshold float64) ([]Span, error) {
	o := transcribe.VADOptions{Threshold: float32(min(max(threshold, 0.01), 0.99)), MinSpeech: 60 * time.Millisecond, MinSilence: 100 * time.Millisecond}
	speech, err := d.VAD.Detect(ctx, samples, o)
	if err != nil {
		return nil, err
	}
	spans := make([]Span, len(speech))
	for i, s := range speech {
		spans[i] = Span{Start: s.Start, End: s.End}
	}
	return spans, nil
}
