package audio

import (
	"math"
	"slices"

	"github.com/earshot-dev/earshot/transcribe"
)

// Resampling is a polyphase windowed-sinc filter (Kaiser window, beta 8.6,
// 16 zero crossings a side), written here because no maintained pure-Go
// resampler exists (the Go ports of libsamplerate and soxr need cgo or are
// unmaintained). For a rate ratio L/M (reduced), the filter is tabulated for
// each of the L output phases once, so each output sample costs one dot
// product of about 2*16*max(1, M/L)/0.95 taps. The cutoff sits at 0.95 of the lower
// Nyquist frequency, so a tone above 8 kHz in 44.1 kHz audio is attenuated by
// more than 80 dB instead of folding back into the speech band, and the
// passband (speech up to about 7.6 kHz) is flat. Linear or nearest-sample
// resampling would alias, and whisper's log-mel features would see it.

const (
	zeroCrossings = 16
	kaiserBeta    = 8.6
	cutoffShare   = 0.95
	maxPhases     = 4096 // larger L tabulates per output sample instead
)

// Resample converts mono samples at rate hz to transcribe.SampleRate.
func Resample(in []float32, hz int) []float32 {
	out := transcribe.SampleRate
	if hz == out || len(in) == 0 {
		return in
	}
	g := gcd(hz, out)
	L, M := out/g, hz/g // output = input * L / M

	// The filter runs at the upsampled rate hz*L; its cutoff is the lower of
	// the two Nyquist frequencies, as a fraction of the upsampled rate.
	fc := cutoffShare * 0.5 / float64(max(L, M))
	// Half-length in upsampled samples: zeroCrossings lobes of the sinc.
	half := int(math.Ceil(zeroCrossings / (2 * fc)))
	// Output i sits at upsampled position pos = i*M = base*L + phase and
	// sums x[base-d] * h(d*L + phase) over the d with |d*L + phase| <= half,
	// d from dmin(phase) up.
	dmin := func(phase int) int { return -((half + phase) / L) }
	// taps are stored in input order (oldest sample first), so the inner
	// loop walks both slices forward and the compiler drops bounds checks.
	taps := func(phase int) []float32 {
		var h []float32
		for d := dmin(phase); d*L+phase <= half; d++ {
			h = append(h, float32(kernel(float64(d*L+phase), fc, half)*float64(L)))
		}
		slices.Reverse(h)
		return h
	}

	n := int(int64(len(in)) * int64(L) / int64(M))
	res := make([]float32, n)
	var table [][]float32
	if L <= maxPhases {
		table = make([][]float32, L)
	}
	for i := range res {
		pos := int64(i) * int64(M) // position in the upsampled signal
		base := int(pos / int64(L))
		phase := int(pos % int64(L))
		var h []float32
		if table != nil {
			if table[phase] == nil {
				table[phase] = taps(phase)
			}
			h = table[phase]
		} else {
			h = taps(phase)
		}
		first := base - dmin(phase) - len(h) + 1 // input sample under h[0]
		var sum float32
		if first >= 0 && first+len(h) <= len(in) {
			sum = dot(in[first:first+len(h)], h)
		} else {
			for j, c := range h {
				if k := first + j; k >= 0 && k < len(in) {
					sum += in[k] * c
				}
			}
		}
		res[i] = sum
	}
	return res
}

// dot is the inner product of x and h (same length), with four
// accumulators so the additions do not wait on each other.
func dot(x, h []float32) float32 {
	x = x[:len(h)]
	var s0, s1, s2, s3 float32
	j := 0
	for ; j+4 <= len(h); j += 4 {
		s0 += x[j] * h[j]
		s1 += x[j+1] * h[j+1]
		s2 += x[j+2] * h[j+2]
		s3 += x[j+3] * h[j+3]
	}
	for ; j < len(h); j++ {
		s0 += x[j] * h[j]
	}
	return (s0 + s1) + (s2 + s3)
}

// kernel is the Kaiser-windowed sinc at t upsampled samples from the centre.
func kernel(t, fc float64, half int) float64 {
	x := t / float64(half)
	if x < -1 || x > 1 {
		return 0
	}
	w := bessel0(kaiserBeta*math.Sqrt(1-x*x)) / bessel0(kaiserBeta)
	arg := 2 * fc * t
	s := 2 * fc
	if arg != 0 {
		s *= math.Sin(math.Pi*arg) / (math.Pi * arg)
	}
	return s * w
}

// bessel0 is the modified Bessel function of the first kind, order 0.
func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-12*sum {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
