package ggml

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrInvalid is wrapped by every error Check returns.
var ErrInvalid = errors.New("not a valid ggml whisper model")

// Header is what Check learns about a model file.
type Header struct {
	Vocab      int
	AudioCtx   int
	State      int
	AudioHeads int
	AudioLayer int
	TextCtx    int
	TextState  int
	TextHeads  int
	TextLayer  int
	Mels       int
	Ftype      int
	Words      int // vocabulary words stored in the file
	Tensors    int
}

// Multilingual reports whether the model has whisper's multilingual vocabulary.
func (h Header) Multilingual() bool { return h.Vocab >= 51865 }

// Check walks the whole structure of a ggml whisper file (header, filters,
// vocabulary, every tensor header, and that the data fills the file exactly)
// without reading the weights. whisper.cpp trusts the lengths it reads and
// can allocate without bound or abort the process on a damaged file, so
// earshot runs Check first and hands whisper.cpp only files that pass.
func Check(r io.ReaderAt, size int64) (Header, error) {
	c := checker{r: r, size: size, buf: make([]byte, 0, 64<<10)}
	var h Header
	if m := c.u32(); c.err == nil && m != magic {
		return h, fmt.Errorf("%w: bad magic %#08x (want %#08x)", ErrInvalid, m, magic)
	}
	for _, p := range []*int{&h.Vocab, &h.AudioCtx, &h.State, &h.AudioHeads, &h.AudioLayer,
		&h.TextCtx, &h.TextState, &h.TextHeads, &h.TextLayer, &h.Mels, &h.Ftype} {
		*p = c.i32()
	}
	if c.err != nil {
		return h, c.err
	}
	switch {
	case h.Vocab < 51864 || h.Vocab > 60000:
		return h, fmt.Errorf("%w: vocabulary size %d", ErrInvalid, h.Vocab)
	case h.AudioCtx != audioCtx:
		return h, fmt.Errorf("%w: audio context %d (want %d)", ErrInvalid, h.AudioCtx, audioCtx)
	case h.State <= 0 || h.State > 8192 || h.TextState != h.State:
		return h, fmt.Errorf("%w: state sizes %d/%d", ErrInvalid, h.State, h.TextState)
	case h.AudioHeads <= 0 || h.TextHeads <= 0 || h.State%h.AudioHeads != 0 || h.State%h.TextHeads != 0:
		return h, fmt.Errorf("%w: %d/%d attention heads for state %d", ErrInvalid, h.AudioHeads, h.TextHeads, h.State)
	case h.AudioLayer <= 0 || h.AudioLayer > 128 || h.TextLayer <= 0 || h.TextLayer > 128:
		return h, fmt.Errorf("%w: %d/%d layers", ErrInvalid, h.AudioLayer, h.TextLayer)
	case h.TextCtx <= 0 || h.TextCtx > 8192:
		return h, fmt.Errorf("%w: text context %d", ErrInvalid, h.TextCtx)
	case h.Mels != 80 && h.Mels != 128:
		return h, fmt.Errorf("%w: %d mel bands", ErrInvalid, h.Mels)
	}
	if _, ok := ftypes[h.Ftype%1000]; !ok || h.Ftype < 0 {
		return h, fmt.Errorf("%w: unknown weight type %d", ErrInvalid, h.Ftype)
	}

	nMel, nFFT := c.i32(), c.i32()
	if c.err == nil && (nMel <= 0 || nMel > 256 || nFFT <= 0 || nFFT > 4096) {
		return h, fmt.Errorf("%w: mel filters %dx%d", ErrInvalid, nMel, nFFT)
	}
	c.skip(int64(nMel) * int64(nFFT) * 4)

	h.Words = c.i32()
	if c.err == nil && (h.Words <= 0 || h.Words > h.Vocab) {
		return h, fmt.Errorf("%w: %d vocabulary words for %d tokens", ErrInvalid, h.Words, h.Vocab)
	}
	for i := 0; i < h.Words && c.err == nil; i++ {
		n := c.i32()
		if c.err == nil && (n < 0 || n > 1024) {
			return h, fmt.Errorf("%w: vocabulary word %d is %d bytes long", ErrInvalid, i, n)
		}
		c.skip(int64(n))
	}

	for c.err == nil && c.off < c.size {
		dims, nameLen, typ := c.i32(), c.i32(), c.i32()
		if c.err != nil {
			break
		}
		t, ok := ggmlTypes[typ]
		if dims < 1 || dims > 4 || nameLen < 1 || nameLen > 256 || !ok {
			return h, fmt.Errorf("%w: tensor %d has a bad header (%d dims, %d-byte name, type %d)", ErrInvalid, h.Tensors, dims, nameLen, typ)
		}
		elems := int64(1)
		for range dims {
			d := c.i32()
			if c.err == nil && (d <= 0 || int64(d)*elems > math.MaxInt32) {
				return h, fmt.Errorf("%w: tensor %d has a bad dimension %d", ErrInvalid, h.Tensors, d)
			}
			elems *= int64(d)
		}
		c.skip(int64(nameLen))
		if elems%t.block != 0 {
			return h, fmt.Errorf("%w: tensor %d has %d elements, not a multiple of its block %d", ErrInvalid, h.Tensors, elems, t.block)
		}
		c.skip(elems / t.block * t.size)
		if c.err == nil {
			h.Tensors++
		}
	}
	if c.err != nil {
		return h, c.err
	}
	if h.Tensors == 0 {
		return h, fmt.Errorf("%w: no tensors", ErrInvalid)
	}
	return h, nil
}

// ftypes are the whole-model weight types whisper.cpp accepts (after
// removing the quantization version, ftype % 1000).
var ftypes = map[int]bool{0: true, 1: true, 2: true, 3: true, 7: true, 8: true, 9: true,
	10: true, 11: true, 12: true, 13: true, 14: true, 15: true, 16: true, 17: true, 18: true}

// ggmlTypes are the tensor types whisper models use: block size in elements
// and bytes per block, from ggml's type traits.
var ggmlTypes = map[int]struct{ block, size int64 }{
	0:  {1, 4},     // f32
	1:  {1, 2},     // f16
	2:  {32, 18},   // q4_0
	3:  {32, 20},   // q4_1
	6:  {32, 22},   // q5_0
	7:  {32, 24},   // q5_1
	8:  {32, 34},   // q8_0
	10: {256, 84},  // q2_K
	11: {256, 110}, // q3_K
	12: {256, 144}, // q4_K
	13: {256, 176}, // q5_K
	14: {256, 210}, // q6_K
	30: {1, 2},     // bf16
}

// checker reads through a window of the file: the vocabulary is tens of
// thousands of tiny fields, and one ReadAt each would be as many syscalls.
type checker struct {
	r      io.ReaderAt
	size   int64
	off    int64
	err    error
	buf    []byte // the file's bytes from bufOff
	bufOff int64
}

func (c *checker) u32() uint32 {
	if c.err != nil {
		return 0
	}
	if c.off < c.bufOff || c.off+4 > c.bufOff+int64(len(c.buf)) {
		n, err := c.r.ReadAt(c.buf[:cap(c.buf)], c.off)
		if n < 4 && err != nil {
			c.err = fmt.Errorf("%w: truncated at byte %d", ErrInvalid, c.off)
			return 0
		}
		c.buf, c.bufOff = c.buf[:n], c.off
	}
	i := c.off - c.bufOff
	c.off += 4
	return binary.LittleEndian.Uint32(c.buf[i : i+4])
}

func (c *checker) i32() int { return int(int32(c.u32())) }

func (c *checker) skip(n int64) {
	if c.err != nil {
		return
	}
	if n < 0 || c.off+n > c.size {
		c.err = fmt.Errorf("%w: truncated at byte %d (needs %d more of %d)", ErrInvalid, c.off, n, c.size)
		return
	}
	c.off += n
}
