package live

import (
	"context"
	"math"
	"slices"
	"time"
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

// EnergyDetector is a frame-energy speech detector: 20 ms frames whose
// level stands far enough above the noise floor (the quietest frames of the
// window) are speech, and speech frames closer than 100 ms are joined. It
// is small and needs no weights; earshot's Silero VAD is the better
// detector where it is plugged in (see Config.Detector).
type EnergyDetector struct{}

const (
	vadFrame = 20 * time.Millisecond
	vadJoin  = 100 * time.Millisecond
	vadMin   = 60 * time.Millisecond // shorter bursts (clicks) are not speech
)

// Detect implements SpeechDetector.
func (EnergyDetector) Detect(ctx context.Context, samples []float32, threshold float64) ([]Span, error) {
	n := int(vadFrame.Seconds() * 16000)
	frames := len(samples) / n
	if frames == 0 {
		return nil, ctx.Err()
	}
	db := make([]float64, frames)
	for i := range db {
		var sum float64
		for _, s := range samples[i*n : (i+1)*n] {
			sum += float64(s) * float64(s)
		}
		db[i] = 10 * math.Log10(sum/float64(n)+1e-10)
	}
	// The noise floor is the 10th percentile of the window (but never
	// below -70 dBFS, so a digitally silent gap does not make breath
	// noise speech); threshold 0.5 asks for 15 dB above it, capped at
	// -38 dBFS so a window that is all speech stays speech; each 0.1 of
	// threshold more asks for 3 dB more.
	floor := percentile(db, 0.1)
	need := min(max(floor, -70)+15, -38) + 30*(threshold-0.5)
	var spans []Span
	for i := 0; i < frames; {
		if db[i] < need {
			i++
			continue
		}
		j := i
		for j < frames && db[j] >= need {
			j++
		}
		s := Span{Start: time.Duration(i) * vadFrame, End: time.Duration(j) * vadFrame}
		if k := len(spans) - 1; k >= 0 && s.Start-spans[k].End < vadJoin {
			spans[k].End = s.End
		} else {
			spans = append(spans, s)
		}
		i = j
	}
	out := spans[:0]
	for _, s := range spans {
		if s.End-s.Start >= vadMin {
			out = append(out, s)
		}
	}
	return out, ctx.Err()
}

func percentile(x []float64, p float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}
