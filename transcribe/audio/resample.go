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
	maxPhases     = 640 // filter phases tabulated at most: 11025 Hz needs 640, the most of any standard rate
)

// Resample converts mono samples at rate hz to transcribe.SampleRate.
func Resample(in []float32, hz int) []float32 {
	if hz == transcribe.SampleRate || len(in) == 0 {
		return in
	}
	r := newResampler(hz)
	r.push(in)
	return r.finish()
}

// resampler converts a stream pushed in blocks, keeping only the input the
// next outputs still need: decoders of compressed audio feed it frame by
// frame, so a small file that expands to hours of high-rate audio never
// holds that audio at its source rate.
type resampler struct {
	L, M  int64 // output = input * L / M
	half  int
	fc    float64
	table [][]float32

	in    []float32 // input from absolute index inOff on
	inOff int64
	total int64 // input samples pushed
	outN  int64 // outputs produced
	out   []float32
	pass  bool // same rate: copy through
}

func newResampler(hz int) *resampler {
	out := transcribe.SampleRate
	if hz == out {
		return &resampler{pass: true}
	}
	if out/gcd(hz, out) > maxPhases {
		// An odd rate (44101 Hz, or a damaged header) would need a filter
		// phase per output sample, each costing thousands of kernel
		// evaluations. Resample as if from the nearest multiple of 25 Hz
		// (which needs at most 640 phases): at most 12 Hz off, a timing
		// error below 0.05% at 25 kHz and up.
		hz = max(25, (hz+12)/25*25)
	}
	g := gcd(hz, out)
	r := &resampler{L: int64(out / g), M: int64(hz / g)}
	// The filter runs at the upsampled rate hz*L; its cutoff is the lower of
	// the two Nyquist frequencies, as a fraction of the upsampled rate.
	r.fc = cutoffShare * 0.5 / float64(max(r.L, r.M))
	// Half-length in upsampled samples: zeroCrossings lobes of the sinc.
	r.half = int(math.Ceil(zeroCrossings / (2 * r.fc)))
	r.table = make([][]float32, r.L)
	return r
}

// Output i sits at upsampled position pos = i*M = base*L + phase and sums
// x[base-d] * h(d*L + phase) over the d with |d*L + phase| <= half, d from
// dmin(phase) up.
func (r *resampler) dmin(phase int) int { return -((r.half + phase) / int(r.L)) }

// taps are stored in input order (oldest sample first), so the inner loop
// walks both slices forward and the compiler drops bounds checks.
func (r *resampler) taps(phase int) []float32 {
	if h := r.table[phase]; h != nil {
		return h
	}
	L := int(r.L)
	var h []float32
	for d := r.dmin(phase); d*L+phase <= r.half; d++ {
		h = append(h, float32(kernel(float64(d*L+phase), r.fc, r.half)*float64(L)))
	}
	slices.Reverse(h)
	r.table[phase] = h
	return h
}

func (r *resampler) push(x []float32) {
	if r.pass {
		r.out = append(r.out, x...)
		return
	}
	r.in = append(r.in, x...)
	r.total += int64(len(x))
	r.produce(false)
}

// finish produces the outputs that need input past the end (zeros) and
// returns everything produced.
func (r *resampler) finish() []float32 {
	if !r.pass {
		r.produce(true)
	}
	return r.out
}

func (r *resampler) produce(final bool) {
	n := r.total * r.L / r.M // outputs the whole input makes
	for ; r.outN < n; r.outN++ {
		pos := r.outN * r.M // position in the upsampled signal
		base, phase := pos/r.L, int(pos%r.L)
		h := r.taps(phase)
		first := base - int64(r.dmin(phase)) - int64(len(h)) + 1 // input sample under h[0]
		if !final && first+int64(len(h)) > r.total {
			break // needs input not pushed yet
		}
		lo := first - r.inOff // index into r.in
		var sum float32
		if lo >= 0 && lo+int64(len(h)) <= int64(len(r.in)) {
			sum = dot(r.in[lo:lo+int64(len(h))], h)
		} else {
			for j, c := range h {
				if k := lo + int64(j); k >= 0 && k < int64(len(r.in)) {
					sum += r.in[k] * c
				}
			}
		}
		r.out = append(r.out, sum)
	}
	// Drop the input that no later output reaches.
	if r.outN < n || final {
		pos := r.outN * r.M
		phase := int(pos % r.L)
		keep := pos/r.L - int64(r.dmin(phase)) - int64(len(r.taps(phase))) + 1
		if drop := keep - r.inOff; drop > int64(len(r.in)/2) && drop > 0 {
			r.in = append(r.in[:0], r.in[drop:]...)
			r.inOff = keep
		}
	}
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
