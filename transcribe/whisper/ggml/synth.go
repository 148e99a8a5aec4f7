// Package ggml reads and writes the ggml whisper model format.
//
// Synthesize writes synthetic whisper models: valid ggml whisper files
// with random weights. whisper.cpp loads and runs them exactly as it runs a
// real model, at the same cost for the same dimensions, but the words they
// produce are meaningless. They exist for tests and benchmarks on machines
// that cannot download real weights; never use one to transcribe.
//
// The output is deterministic: the same Size and seed give the same bytes.
// Everything here is pure Go and safe for concurrent use.
package ggml

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"

	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
	"github.com/x448/float16"
)

// Size is a model's dimensions.
type Size struct {
	Name       string
	State      int // n_audio_state = n_text_state
	Heads      int
	AudioLayer int
	TextLayer  int
	TextCtx    int
	Vocab      int // 51865: multilingual, 51864: English only
}

// Sizes are the dimensions earshot's tests and benchmarks use.
var (
	// Test is a few MB and fast: for unit tests.
	Test = Size{Name: "test", State: 64, Heads: 2, AudioLayer: 1, TextLayer: 1, TextCtx: 448, Vocab: 51865}
	// Tiny has the dimensions of whisper's tiny model (about 75 MB) and costs
	// what tiny costs to run: for benchmarks.
	Tiny = Size{Name: "tiny", State: 384, Heads: 6, AudioLayer: 4, TextLayer: 4, TextCtx: 448, Vocab: 51865}
)

// FileName is the conventional name of a cached synthetic model.
func (s Size) FileName() string {
	return fmt.Sprintf("ggml-synthetic-%s-v%d.bin", s.Name, SynthVersion)
}

// SizeByName returns Test or Tiny.
func SizeByName(name string) (Size, error) {
	switch name {
	case Test.Name:
		return Test, nil
	case Tiny.Name:
		return Tiny, nil
	}
	return Size{}, fmt.Errorf("ggml: unknown size %q (want %q or %q)", name, Test.Name, Tiny.Name)
}

// SynthVersion changes whenever Synthesize writes different bytes for the
// same size and seed; cached synthetic models carry it in their names.
const SynthVersion = 2

const (
	magic    = 0x67676d6c // "ggml"
	audioCtx = 1500       // whisper.cpp requires 1500 (30 s of audio)
	nMels    = 80
	nFFT     = 201 // 1 + 400/2 bins of whisper's 400-point FFT
	ftypeF16 = 1
	typeF32  = 0
	typeF16  = 1
)

// SynthesizeFile writes a model to path atomically: a temporary file in the same
// folder, renamed into place once complete.
func SynthesizeFile(path string, size Size, seed uint64) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".synth-*.partial")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := Synthesize(f, size, seed); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Synthesize writes a model with the given dimensions and random weights drawn
// from seed.
func Synthesize(w io.Writer, size Size, seed uint64) error {
	if size.State <= 0 || size.Heads <= 0 || size.State%size.Heads != 0 || size.AudioLayer <= 0 ||
		size.TextLayer <= 0 || size.TextCtx <= 0 || size.Vocab < 51864 {
		return fmt.Errorf("ggml: invalid size %+v", size)
	}
	vocab, err := gpt2Vocab()
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	mw := &modelWriter{w: bw, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}

	mw.i32(magic)
	for _, v := range []int{size.Vocab, audioCtx, size.State, size.Heads, size.AudioLayer,
		size.TextCtx, size.State, size.Heads, size.TextLayer, nMels, ftypeF16} {
		mw.i32(v)
	}
	mw.i32(nMels)
	mw.i32(nFFT)
	for _, f := range melFilters() {
		mw.f32(f)
	}
	mw.i32(len(vocab))
	for _, word := range vocab {
		mw.i32(len(word))
		mw.bytes([]byte(word))
	}

	s := size.State
	// Weight scale ~ 1/sqrt(fan in) keeps activations bounded through the
	// layers, so whisper decodes tokens and timestamps rather than NaNs.
	ws := float32(1 / math.Sqrt(float64(s)))
	mw.tensor("encoder.positional_embedding", typeF32, 0.02, []int{s, audioCtx})
	mw.tensor("encoder.conv1.weight", typeF16, float32(1/math.Sqrt(3*nMels)), []int{3, nMels, s})
	mw.tensor("encoder.conv1.bias", typeF32, 0, []int{1, s})
	mw.tensor("encoder.conv2.weight", typeF16, float32(1/math.Sqrt(float64(3*s))), []int{3, s, s})
	mw.tensor("encoder.conv2.bias", typeF32, 0, []int{1, s})
	for i := range size.AudioLayer {
		mw.block(fmt.Sprintf("encoder.blocks.%d.", i), s, ws, false)
	}
	mw.norm("encoder.ln_post", s)
	mw.tensor("decoder.positional_embedding", typeF32, 0.02, []int{s, size.TextCtx})
	// A small embedding scale keeps the output distribution flat, as an
	// untrained model's is: whisper then emits timestamps and ends segments
	// instead of looping on one token, so runs cost what real ones do.
	mw.tensor("decoder.token_embedding.weight", typeF16, 0.02, []int{s, size.Vocab})
	for i := range size.TextLayer {
		mw.block(fmt.Sprintf("decoder.blocks.%d.", i), s, ws, true)
	}
	mw.norm("decoder.ln", s)
	if mw.err != nil {
		return mw.err
	}
	return bw.Flush()
}

type modelWriter struct {
	w   *bufio.Writer
	rng *rand.Rand
	err error
	buf [4]byte
}

func (m *modelWriter) bytes(b []byte) {
	if m.err == nil {
		_, m.err = m.w.Write(b)
	}
}

func (m *modelWriter) i32(v int) {
	binary.LittleEndian.PutUint32(m.buf[:], uint32(int32(v)))
	m.bytes(m.buf[:])
}

func (m *modelWriter) f32(v float32) {
	binary.LittleEndian.PutUint32(m.buf[:], math.Float32bits(v))
	m.bytes(m.buf[:])
}

func (m *modelWriter) f16(v float32) {
	binary.LittleEndian.PutUint16(m.buf[:2], float16.Fromfloat32(v).Bits())
	m.bytes(m.buf[:2])
}

// tensor writes a header and uniform random data in [-scale, scale]; scale 0
// writes zeros and a negative scale writes ones (layer-norm gains).
func (m *modelWriter) tensor(name string, typ int, scale float32, dims []int) {
	m.i32(len(dims))
	m.i32(len(name))
	m.i32(typ)
	n := 1
	for _, d := range dims {
		m.i32(d)
		n *= d
	}
	m.bytes([]byte(name))
	for range n {
		var v float32
		switch {
		case scale < 0:
			v = 1
		case scale > 0:
			v = (2*m.rng.Float32() - 1) * scale
		}
		if typ == typeF16 {
			m.f16(v)
		} else {
			m.f32(v)
		}
	}
}

func (m *modelWriter) norm(prefix string, s int) {
	m.tensor(prefix+".weight", typeF32, -1, []int{s})
	m.tensor(prefix+".bias", typeF32, 0, []int{s})
}

// block writes one transformer block: self-attention, cross-attention for
// decoder blocks, and the MLP, in whisper.cpp's names and shapes.
func (m *modelWriter) block(prefix string, s int, ws float32, cross bool) {
	attn := func(name string) {
		m.norm(prefix+name+"_ln", s)
		m.tensor(prefix+name+".query.weight", typeF16, ws, []int{s, s})
		m.tensor(prefix+name+".query.bias", typeF32, 0.01, []int{s})
		m.tensor(prefix+name+".key.weight", typeF16, ws, []int{s, s})
		m.tensor(prefix+name+".value.weight", typeF16, ws, []int{s, s})
		m.tensor(prefix+name+".value.bias", typeF32, 0.01, []int{s})
		m.tensor(prefix+name+".out.weight", typeF16, ws, []int{s, s})
		m.tensor(prefix+name+".out.bias", typeF32, 0.01, []int{s})
	}
	attn("attn")
	if cross {
		attn("cross_attn")
	}
	m.norm(prefix+"mlp_ln", s)
	m.tensor(prefix+"mlp.0.weight", typeF16, ws, []int{s, 4 * s})
	m.tensor(prefix+"mlp.0.bias", typeF32, 0.01, []int{4 * s})
	m.tensor(prefix+"mlp.2.weight", typeF16, ws/2, []int{4 * s, s})
	m.tensor(prefix+"mlp.2.bias", typeF32, 0.01, []int{s})
}

// gpt2Vocab returns the GPT-2 byte-pair vocabulary in rank order plus
// "<|endoftext|>": the 50257 words of whisper's English vocabulary, from
// tiktoken's offline r50k_base ranks. It holds " ", " -" and " '", which
// whisper.cpp looks up by text.
func gpt2Vocab() ([]string, error) {
	ranks, err := tiktokenloader.NewOfflineLoader().LoadTiktokenBpe("r50k_base.tiktoken")
	if err != nil {
		return nil, fmt.Errorf("ggml: loading the GPT-2 vocabulary: %w", err)
	}
	words := make([]string, 0, len(ranks)+1)
	for w := range ranks {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool { return ranks[words[i]] < ranks[words[j]] })
	for i, w := range words {
		if ranks[w] != i {
			return nil, fmt.Errorf("ggml: GPT-2 ranks are not dense at %d", i)
		}
	}
	return append(words, "<|endoftext|>"), nil
}

// melFilters is a Slaney-style mel filterbank (the one whisper was trained
// with): nMels triangular filters over nFFT bins of 16 kHz audio, row-major.
func melFilters() []float32 {
	const sr = 16000.0
	hzToMel := func(f float64) float64 {
		if f < 1000 {
			return 3 * f / 200
		}
		return 15 + 27*math.Log(f/1000)/math.Log(6.4)
	}
	melToHz := func(m float64) float64 {
		if m < 15 {
			return 200 * m / 3
		}
		return 1000 * math.Exp(math.Log(6.4)*(m-15)/27)
	}
	lo, hi := hzToMel(0), hzToMel(sr/2)
	pts := make([]float64, nMels+2)
	for i := range pts {
		pts[i] = melToHz(lo + (hi-lo)*float64(i)/float64(nMels+1))
	}
	out := make([]float32, nMels*nFFT)
	for m := range nMels {
		l, c, r := pts[m], pts[m+1], pts[m+2]
		norm := 2 / (r - l)
		for k := range nFFT {
			f := float64(k) * sr / 2 / float64(nFFT-1)
			var v float64
			switch {
			case f > l && f <= c:
				v = (f - l) / (c - l)
			case f > c && f < r:
				v = (r - f) / (r - c)
			}
			out[m*nFFT+k] = float32(v * norm)
		}
	}
	return out
}
