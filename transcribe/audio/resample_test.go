package audio

import (
	"math"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
)

func sine(hz, rate int, freq, amp float64, seconds float64) []float32 {
	n := int(float64(rate) * seconds)
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	_ = hz
	return out
}

// tone measures the amplitude of freq in x (16 kHz) by correlating with a
// sine and a cosine over the middle of the signal, away from the edges.
func tone(x []float32, freq float64) float64 {
	lo, hi := len(x)/4, 3*len(x)/4
	var s, c float64
	for i := lo; i < hi; i++ {
		ph := 2 * math.Pi * freq * float64(i) / transcribe.SampleRate
		s += float64(x[i]) * math.Sin(ph)
		c += float64(x[i]) * math.Cos(ph)
	}
	n := float64(hi - lo)
	return 2 * math.Hypot(s, c) / n
}

func rms(x []float32) float64 {
	lo, hi := len(x)/4, 3*len(x)/4
	var sum float64
	for _, v := range x[lo:hi] {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(hi-lo))
}

func TestResampleKeepsToneAndRejectsAliases(t *testing.T) {
	for _, rate := range []int{8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000} {
		in := sine(0, rate, 1000, 0.5, 1)
		out := Resample(in, rate)
		if want := transcribe.SampleRate; math.Abs(float64(len(out)-want)) > 1 {
			t.Errorf("%d Hz: got %d samples, want %d", rate, len(out), want)
		}
		if got := tone(out, 1000); math.Abs(got-0.5) > 0.005 {
			t.Errorf("%d Hz: 1 kHz amplitude got %.4f, want 0.5", rate, got)
		}
		// All energy must stay at 1 kHz: the residual after removing it is noise.
		if got, at := rms(out), tone(out, 1000)/math.Sqrt2; math.Abs(got-at) > 0.002 {
			t.Errorf("%d Hz: rms %.4f differs from the tone's %.4f: energy moved to other frequencies", rate, got, at)
		}
		if rate <= 2*9000 {
			continue
		}
		// A 9 kHz tone cannot be represented at 16 kHz; it must vanish, not
		// fold back to 7 kHz.
		hi := Resample(sine(0, rate, 9000, 0.5, 1), rate)
		if got := rms(hi); got > 0.5*1e-3 {
			t.Errorf("%d Hz: 9 kHz tone leaks rms %.6f (alias at 7 kHz: %.6f)", rate, got, tone(hi, 7000))
		}
	}
}

// Odd rates resample in bounded time (snapped to a nearby rate) and keep the tone.
func TestResampleOddRates(t *testing.T) {
	for _, rate := range []int{44101, 7919, 655349, 3001} {
		start := time.Now()
		out := Resample(sine(0, rate, 440, 0.5, 2), rate)
		// A guard against the per-sample filter path (minutes), not a speed test.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%d Hz: took %v", rate, d)
		}
		snapped := rate
		if transcribe.SampleRate/gcd(rate, transcribe.SampleRate) > maxPhases {
			snapped = (rate + 12) / 25 * 25
		}
		// The snapped rate shifts the tone by the same ratio.
		if got := tone(out, 440*float64(snapped)/float64(rate)); math.Abs(got-0.5) > 0.02 {
			t.Errorf("%d Hz: 440 Hz amplitude %.4f, want 0.5", rate, got)
		}
		if want := 2 * transcribe.SampleRate; math.Abs(float64(len(out)-want)) > float64(want)/100 {
			t.Errorf("%d Hz: %d samples, want about %d", rate, len(out), want)
		}
	}
}

func BenchmarkResample44k(b *testing.B) {
	in := sine(0, 44100, 440, 0.5, 10)
	b.SetBytes(int64(len(in) * 4))
	for b.Loop() {
		Resample(in, 44100)
	}
}
