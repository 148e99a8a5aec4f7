package transcribe

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// VAD finds the stretches of speech in 16 kHz mono samples. Implementations
// are safe for concurrent use. transcribe/whisper.SileroVAD runs Silero VAD
// in whisper.cpp; EnergyVAD is the pure-Go fallback for when no Silero
// weights are present.
type VAD interface {
	// Name says which detector this is ("silero-v6", "energy"), for logs
	// and for raw mode.
	Name() string
	// Detect returns the speech regions of samples, in order, not
	// overlapping, within [0, duration of samples]. No speech is an empty
	// slice and no error. It stops early with ctx's error.
	Detect(ctx context.Context, samples []float32, o VADOptions) ([]Speech, error)
}

// Speech is one region of speech, as offsets from the start of the audio.
type Speech struct {
	Start time.Duration `json:"start"`
	End   time.Duration `json:"end"`
}

// VADOptions say what counts as speech. They are whisper.cpp's VAD
// parameters (and Silero's), which OpenAI's server_vad options map onto:
// threshold, silence_duration_ms (MinSilence) and prefix_padding_ms (Pad).
type VADOptions struct {
	// Threshold is the speech probability, 0..1, above which a 32 ms frame
	// is speech; 0 means 0.5. Speech ends when the probability falls below
	// Threshold-0.15 (Silero's hysteresis).
	Threshold float32 `json:"threshold"`
	// MinSpeech drops regions shorter than this.
	MinSpeech time.Duration `json:"min_speech"`
	// MinSilence is how long the probability must stay low to end a
	// region; shorter pauses stay inside it.
	MinSilence time.Duration `json:"min_silence"`
	// Pad extends each region by this much on both sides (less where two
	// regions would meet: the gap is then shared).
	Pad time.Duration `json:"pad"`
	// MaxSpeech, when set, splits a region longer than this at its last
	// pause of at least 98 ms. A region with no such pause is cut at the
	// limit and, as in whisper.cpp, joined again by the 200 ms merge, so it
	// can still be longer: ServerVAD.Chunks cuts what is left.
	MaxSpeech time.Duration `json:"max_speech"`
}

// DefaultVADOptions are whisper.cpp's defaults (whisper_vad_default_params).
func DefaultVADOptions() VADOptions {
	return VADOptions{Threshold: 0.5, MinSpeech: 250 * time.Millisecond, MinSilence: 100 * time.Millisecond, Pad: 30 * time.Millisecond}
}

// Validate checks the options' ranges.
func (o VADOptions) Validate() error {
	switch {
	case math.IsNaN(float64(o.Threshold)) || o.Threshold < 0 || o.Threshold >= 1:
		return fmt.Errorf("%w: VAD threshold %v is outside 0..1", ErrInvalidOptions, o.Threshold)
	case o.MinSpeech < 0 || o.MinSilence < 0 || o.Pad < 0 || o.MaxSpeech < 0:
		return fmt.Errorf("%w: VAD durations must not be negative", ErrInvalidOptions)
	case o.MinSpeech > time.Hour || o.MinSilence > time.Hour || o.Pad > time.Minute:
		return fmt.Errorf("%w: VAD durations are too long", ErrInvalidOptions)
	case o.MaxSpeech != 0 && o.MaxSpeech < time.Second:
		return fmt.Errorf("%w: VAD max speech %s is under 1s", ErrInvalidOptions, o.MaxSpeech)
	}
	return nil
}

func (o VADOptions) threshold() float32 {
	if o.Threshold == 0 {
		return 0.5
	}
	return o.Threshold
}

// CheckSamples is the validation every VAD does before looking at audio:
// the samples must be finite.
func CheckSamples(samples []float32) error {
	for i, s := range samples {
		if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("%w: sample %d is %v", ErrInvalidAudio, i, s)
		}
	}
	return nil
}

// samplesToDuration converts a sample count at SampleRate to a duration.
func samplesToDuration(n int) time.Duration {
	return time.Duration(n) * time.Second / SampleRate
}

func durationToSamples(d time.Duration) int {
	return int(d * SampleRate / time.Second)
}

// SpeechFromProbs turns per-frame speech probabilities (frame samples each,
// as Silero gives one every 512 samples) into speech regions of audio that
// is n samples long. It is whisper.cpp 1.9.1's
// whisper_vad_segments_from_probs (itself silero-vad's get_speech_timestamps)
// in Go, so both detectors share one decision rule and it can be
// interrupted between frames; it returns times to the sample where
// whisper.cpp rounds to centiseconds.
func SpeechFromProbs(probs []float32, frame, n int, o VADOptions) []Speech {
	if frame <= 0 || len(probs) == 0 {
		return nil
	}
	threshold := o.threshold()
	minSilence := durationToSamples(o.MinSilence)
	minSpeech := durationToSamples(o.MinSpeech)
	pad := durationToSamples(o.Pad)
	audioLen := len(probs) * frame
	maxSpeech := math.MaxInt / 2
	if o.MaxSpeech > 0 {
		if m := durationToSamples(o.MaxSpeech) - frame - 2*pad; m > 0 {
			maxSpeech = m
		}
	}
	// A pause this long is where an over-long region may be cut (silero).
	minSilenceAtMax := SampleRate * 98 / 1000
	neg := max(threshold-0.15, 0.01)

	type span struct{ start, end int }
	var speeches []span
	var (
		inSpeech                    bool
		tempEnd, prevEnd, nextStart int
		curStart                    int
		hasCur                      bool
	)
	for i, p := range probs {
		cur := frame * i
		if p >= threshold && tempEnd != 0 {
			tempEnd = 0
			if nextStart < prevEnd {
				nextStart = cur
			}
		}
		if p >= threshold && !inSpeech {
			inSpeech, curStart, hasCur = true, cur, true
			continue
		}
		if inSpeech && cur-curStart > maxSpeech {
			if prevEnd != 0 {
				speeches = append(speeches, span{curStart, prevEnd})
				hasCur = true
				if nextStart < prevEnd {
					inSpeech, hasCur = false, false
				} else {
					curStart = nextStart
				}
				prevEnd, nextStart, tempEnd = 0, 0, 0
			} else {
				speeches = append(speeches, span{curStart, cur})
				prevEnd, nextStart, tempEnd = 0, 0, 0
				inSpeech, hasCur = false, false
				continue
			}
		}
		if p < neg && inSpeech {
			if tempEnd == 0 {
				tempEnd = cur
			}
			if cur-tempEnd > minSilenceAtMax {
				prevEnd = tempEnd
			}
			if cur-tempEnd < minSilence {
				continue
			}
			if tempEnd-curStart > minSpeech {
				speeches = append(speeches, span{curStart, tempEnd})
			}
			prevEnd, nextStart, tempEnd = 0, 0, 0
			inSpeech, hasCur = false, false
			continue
		}
	}
	if hasCur && audioLen-curStart > minSpeech {
		speeches = append(speeches, span{curStart, audioLen})
	}
	// Merge regions less than 200 ms apart (whisper.cpp's post-processing).
	maxGap := SampleRate * 200 / 1000
	for i := 0; i < len(speeches)-1; i++ {
		if speeches[i+1].start-speeches[i].end < maxGap {
			speeches[i].end = speeches[i+1].end
			speeches = slices.Delete(speeches, i+1, i+2)
			i--
		}
	}
	speeches = slices.DeleteFunc(speeches, func(s span) bool { return s.end-s.start < minSpeech })
	for i := range speeches {
		if i == 0 {
			speeches[i].start = max(speeches[i].start-pad, 0)
		}
		if i < len(speeches)-1 {
			gap := speeches[i+1].start - speeches[i].end
			if gap < 2*pad {
				speeches[i].end += gap / 2
				speeches[i+1].start = max(speeches[i+1].start-gap/2, 0)
			} else {
				speeches[i].end = min(speeches[i].end+pad, audioLen)
				speeches[i+1].start = max(speeches[i+1].start-pad, 0)
			}
		} else {
			speeches[i].end = min(speeches[i].end+pad, audioLen)
		}
	}
	out := make([]Speech, 0, len(speeches))
	for _, s := range speeches {
		// Frames cover the zero-padded tail; regions end with the audio.
		start, end := min(s.start, n), min(s.end, n)
		if end > start {
			out = append(out, Speech{Start: samplesToDuration(start), End: samplesToDuration(end)})
		}
	}
	return out
}

// EnergyFrame is the frame EnergyVAD scores, the same 32 ms as Silero's.
const EnergyFrame = 512

// EnergyVAD is a pure-Go voice activity detector for when no Silero weights
// are present: a frame is speech when its level stands well above the
// recording's noise floor. It is far cruder than Silero (loud noise counts
// as speech, whispering may not), which is why callers should log when it
// is the one in use. The zero value is ready to use and safe for
// concurrent use.
type EnergyVAD struct {
	// Margin is how far above the noise floor, in dB, a frame must be to
	// count as speech at probability 0.5 (default 6: four times the
	// background power).
	Margin float64
	// Floor is the quietest level, in dBFS, ever counted as speech
	// (default -75): digital silence and dither never are.
	Floor float64
}

// Name is "energy".
func (EnergyVAD) Name() string { return "energy" }

// Detect finds speech by frame energy; see EnergyVAD.
func (e EnergyVAD) Detect(ctx context.Context, samples []float32, o VADOptions) ([]Speech, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := CheckSamples(samples); err != nil {
		return nil, err
	}
	probs, err := e.Probabilities(ctx, samples)
	if err != nil {
		return nil, err
	}
	return SpeechFromProbs(probs, EnergyFrame, len(samples), o), nil
}

// Probabilities scores every EnergyFrame samples (the last frame
// zero-padded) with a pseudo-probability of speech in 0..1: a logistic of
// the frame's level above the noise floor. The floor is the 10th
// percentile of frame levels (a recording's quietest tenth is taken for its
// background) when levels spread over 15 dB or more between that and the
// 90th percentile. A recording that spread less is uniform, all speech or
// all noise, and relative levels cannot tell which: the floor is then at
// most -45 dBFS, so steady speech stands out from it and steady faint
// noise does not.
func (e EnergyVAD) Probabilities(ctx context.Context, samples []float32) ([]float32, error) {
	margin, floor := e.Margin, e.Floor
	if margin == 0 {
		margin = 6
	}
	if floor == 0 {
		floor = -75
	}
	n := (len(samples) + EnergyFrame - 1) / EnergyFrame
	levels := make([]float64, n)
	for i := range n {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		var sum float64
		for _, s := range samples[i*EnergyFrame : min((i+1)*EnergyFrame, len(samples))] {
			sum += float64(s) * float64(s)
		}
		levels[i] = 10 * math.Log10(sum/EnergyFrame+1e-12) // dBFS of the frame's RMS
	}
	sorted := slices.Clone(levels)
	slices.Sort(sorted)
	noise := -120.0
	if n > 0 {
		noise = sorted[n/10]
		if sorted[n*9/10]-noise < 15 {
			noise = min(noise, -45)
		}
	}
	probs := make([]float32, n)
	for i, l := range levels {
		if l < floor {
			continue
		}
		// 3 dB per unit: a frame 6 dB over the margin is ~0.88.
		probs[i] = float32(1 / (1 + math.Exp(-(l-noise-margin)/3)))
	}
	return probs, nil
}
