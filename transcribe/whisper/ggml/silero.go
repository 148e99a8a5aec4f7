package ggml

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrVADModel is wrapped by every error about a ggml VAD file that is not
// one whisper.cpp can load.
var ErrVADModel = errors.New("ggml: not a Silero VAD model")

// SileroVersion is the Silero VAD release a converted file says it holds.
// whisper.cpp only prints it; the ONNX files carry no version beyond their
// major number, so minor and patch are 0.
type SileroVersion struct{ Major, Minor, Patch int }

func (v SileroVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// The 16 kHz Silero network (v5 and v6 have the same shapes), as whisper.cpp
// 1.9.1 loads it in whisper_vad_init_with_params.
const (
	sileroType     = "silero-16k"
	sileroWindow   = 512 // samples per probability, 32 ms at 16 kHz
	sileroContext  = 64
	sileroLayers   = 4
	sileroKernel   = 3
	sileroLSTM     = 128
	sileroFinalIn  = 128
	sileroFinalOut = 1
)

var (
	sileroEncIn  = [sileroLayers]int{129, 128, 64, 64}
	sileroEncOut = [sileroLayers]int{128, 64, 64, 128}
)

// sileroTensor is one tensor of the ggml VAD file: its name there (the
// PyTorch name with whisper.cpp's "_model." prefix), its ggml shape
// (innermost first) and whether it is stored as f16.
type sileroTensor struct {
	name string
	ne   []int
	f16  bool
}

// sileroTensors are the tensors in the order whisper.cpp's converter
// (models/convert-silero-vad-to-ggml.py) writes them.
var sileroTensors = func() []sileroTensor {
	var ts []sileroTensor
	for i := range sileroLayers {
		ts = append(ts,
			sileroTensor{fmt.Sprintf("_model.encoder.%d.reparam_conv.weight", i), []int{sileroKernel, sileroEncIn[i], sileroEncOut[i]}, true},
			sileroTensor{fmt.Sprintf("_model.encoder.%d.reparam_conv.bias", i), []int{sileroEncOut[i]}, false})
	}
	return append(ts,
		sileroTensor{"_model.decoder.rnn.weight_ih", []int{sileroLSTM, 4 * sileroLSTM}, false},
		sileroTensor{"_model.decoder.rnn.weight_hh", []int{sileroLSTM, 4 * sileroLSTM}, false},
		sileroTensor{"_model.decoder.rnn.bias_ih", []int{4 * sileroLSTM}, false},
		sileroTensor{"_model.decoder.rnn.bias_hh", []int{4 * sileroLSTM}, false},
		sileroTensor{"_model.decoder.decoder.2.weight", []int{sileroFinalIn, sileroFinalOut}, true},
		sileroTensor{"_model.decoder.decoder.2.bias", []int{sileroFinalOut}, false},
		sileroTensor{"_model.stft.forward_basis_buffer", []int{256, 1, 258}, true},
	)
}()

func (t sileroTensor) elements() int {
	n := 1
	for _, d := range t.ne {
		n *= d
	}
	return n
}

// pytorchName is the tensor's name in the PyTorch model and so in an ONNX
// export of it.
func (t sileroTensor) pytorchName() string { return strings.TrimPrefix(t.name, "_model.") }

// ConvertSilero reads a Silero VAD ONNX model (as shipped by the npm package
// @ricky0123/vad-web, or exported from silero-vad's PyTorch model) and
// writes its 16 kHz network in whisper.cpp's ggml VAD format, as
// whisper.cpp's own converter would. The ONNX file holds a 16 kHz and an
// 8 kHz network (the two branches of an If node); the 16 kHz one is picked
// by its shapes.
func ConvertSilero(onnx []byte, w io.Writer, v SileroVersion) error {
	all, err := readONNXTensors(onnx)
	if err != nil {
		return err
	}
	weights, err := pickSilero16k(all)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	m := &modelWriter{w: bw}
	m.i32(magic)
	m.i32(len(sileroType))
	m.bytes([]byte(sileroType))
	m.i32(v.Major)
	m.i32(v.Minor)
	m.i32(v.Patch)
	m.i32(sileroWindow)
	m.i32(sileroContext)
	m.i32(sileroLayers)
	for i := range sileroLayers {
		m.i32(sileroEncIn[i])
		m.i32(sileroEncOut[i])
		m.i32(sileroKernel)
	}
	m.i32(sileroLSTM)
	m.i32(sileroLSTM)
	m.i32(sileroFinalIn)
	m.i32(sileroFinalOut)
	for i, t := range sileroTensors {
		typ := 0
		if t.f16 {
			typ = 1
		}
		m.i32(len(t.ne))
		m.i32(len(t.name))
		m.i32(typ)
		for _, d := range t.ne {
			m.i32(d)
		}
		m.bytes([]byte(t.name))
		// ONNX (like PyTorch) stores row-major with the outermost
		// dimension first; ggml's ne lists the innermost first, so the
		// same bytes are the same tensor with the shape reversed.
		for _, x := range weights[i] {
			if t.f16 {
				m.f16(x)
			} else {
				m.f32(x)
			}
		}
	}
	if m.err != nil {
		return m.err
	}
	return bw.Flush()
}

// pickSilero16k finds, among the ONNX tensors, the set that forms the 16 kHz
// network: tensors named PREFIX+pytorchName for one PREFIX, all with the
// element counts whisper.cpp expects. It returns their data in
// sileroTensors order.
func pickSilero16k(all []onnxTensor) ([][]float32, error) {
	byPrefix := map[string]map[string]onnxTensor{}
	for _, o := range all {
		for _, t := range sileroTensors {
			if p, ok := strings.CutSuffix(o.Name, t.pytorchName()); ok {
				if byPrefix[p] == nil {
					byPrefix[p] = map[string]onnxTensor{}
				}
				byPrefix[p][t.pytorchName()] = o
			}
		}
	}
	var prefixes []string
	for p := range byPrefix {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	var found [][]float32
	var why []string
	for _, p := range prefixes {
		set := byPrefix[p]
		var data [][]float32
		for _, t := range sileroTensors {
			o, ok := set[t.pytorchName()]
			if !ok {
				why = append(why, fmt.Sprintf("%q lacks %s", p, t.pytorchName()))
				break
			}
			if len(o.Data) != t.elements() {
				why = append(why, fmt.Sprintf("%q: %s has dims %v", p, t.pytorchName(), o.Dims))
				break
			}
			data = append(data, o.Data)
		}
		if len(data) != len(sileroTensors) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: more than one 16 kHz Silero network in the file", ErrONNX)
		}
		found = data
	}
	if found == nil {
		return nil, fmt.Errorf("%w: no 16 kHz Silero VAD network (%s)", ErrONNX, strings.Join(why, "; "))
	}
	return found, nil
}

// ConvertSileroFile converts the ONNX file at onnxPath into a ggml VAD file
// at out. It writes out.partial, checks it and only then renames it into
// place, so a file under the final name is always complete.
func ConvertSileroFile(onnxPath, out string, v SileroVersion) (err error) {
	onnx, err := os.ReadFile(onnxPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := ConvertSilero(onnx, f, v); err != nil {
		return fmt.Errorf("%s: %w", onnxPath, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := CheckVAD(f, st.Size()); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// VADHeader is what a ggml VAD file says about itself.
type VADHeader struct {
	Type    string // "silero-16k"
	Version SileroVersion
	Window  int // samples per probability
}

// CheckVAD reads a whole ggml VAD file and checks that whisper.cpp 1.9.1
// will load it: the header, the architecture (the only one whisper.cpp
// builds), every tensor's name, shape, type and size, nothing missing and
// nothing after the last tensor. whisper.cpp trusts lengths in the file, so
// nothing earshot has not checked is handed to it.
func CheckVAD(r io.ReaderAt, size int64) (VADHeader, error) {
	c := &checker{r: r, size: size, buf: make([]byte, 0, 64<<10)}
	var h VADHeader
	if c.u32() != magic {
		return h, fmt.Errorf("%w: bad magic", ErrVADModel)
	}
	n := c.i32()
	if c.err != nil || n <= 0 || n > 64 {
		return h, fmt.Errorf("%w: model type of length %d", ErrVADModel, n)
	}
	typ := make([]byte, n)
	c.read(typ)
	h.Type = string(typ)
	h.Version = SileroVersion{c.i32(), c.i32(), c.i32()}
	h.Window = c.i32()
	ctxSize := c.i32()
	want := []int{sileroLayers}
	for i := range sileroLayers {
		want = append(want, sileroEncIn[i], sileroEncOut[i], sileroKernel)
	}
	want = append(want, sileroLSTM, sileroLSTM, sileroFinalIn, sileroFinalOut)
	var got []int
	layers := c.i32()
	got = append(got, layers)
	if layers == sileroLayers {
		for range 3*sileroLayers + 4 {
			got = append(got, c.i32())
		}
	}
	if c.err != nil {
		return h, fmt.Errorf("%w: %v", ErrVADModel, c.err)
	}
	if h.Type != sileroType || h.Window != sileroWindow || ctxSize != sileroContext || fmt.Sprint(got) != fmt.Sprint(want) {
		return h, fmt.Errorf("%w: type %q, window %d, context %d, architecture %v (whisper.cpp builds %q, %d, %d, %v)",
			ErrVADModel, h.Type, h.Window, ctxSize, got, sileroType, sileroWindow, sileroContext, want)
	}
	seen := map[string]bool{}
	for c.off < size && c.err == nil {
		dims, nameLen, typ := c.i32(), c.i32(), c.i32()
		if c.err != nil {
			break
		}
		if dims < 0 || dims > 4 || nameLen <= 0 || nameLen > 256 || (typ != 0 && typ != 1) {
			return h, fmt.Errorf("%w: bad tensor header at byte %d", ErrVADModel, c.off-12)
		}
		ne := []int{1, 1, 1}
		count := 1
		for i := range dims {
			d := c.i32()
			if d <= 0 || d > 1<<20 {
				return h, fmt.Errorf("%w: bad tensor dimension %d", ErrVADModel, d)
			}
			if i < 3 {
				ne[i] = d
			} else if d != 1 {
				return h, fmt.Errorf("%w: 4-D tensor", ErrVADModel)
			}
			count *= d
		}
		name := make([]byte, nameLen)
		c.read(name)
		if c.err != nil {
			break
		}
		t, ok := lookupSilero(string(name))
		if !ok || seen[t.name] {
			return h, fmt.Errorf("%w: unexpected tensor %q", ErrVADModel, name)
		}
		seen[t.name] = true
		wantNE := []int{1, 1, 1}
		copy(wantNE, t.ne)
		wantTyp := 0
		if t.f16 {
			wantTyp = 1
		}
		if fmt.Sprint(ne) != fmt.Sprint(wantNE) || count != t.elements() || typ != wantTyp {
			return h, fmt.Errorf("%w: tensor %s has shape %v type %d, want %v type %d", ErrVADModel, t.name, ne, typ, wantNE, wantTyp)
		}
		bpe := int64(4)
		if typ == 1 {
			bpe = 2
		}
		c.skip(int64(count) * bpe)
	}
	if c.err != nil {
		return h, fmt.Errorf("%w: %v", ErrVADModel, c.err)
	}
	if len(seen) != len(sileroTensors) {
		return h, fmt.Errorf("%w: %d of %d tensors", ErrVADModel, len(seen), len(sileroTensors))
	}
	return h, nil
}

func lookupSilero(name string) (sileroTensor, bool) {
	for _, t := range sileroTensors {
		if t.name == name {
			return t, true
		}
	}
	return sileroTensor{}, false
}

// read fills b from the file at the current offset.
func (c *checker) read(b []byte) {
	if c.err != nil {
		return
	}
	if c.off+int64(len(b)) > c.size {
		c.err = fmt.Errorf("%w: truncated at byte %d", ErrInvalid, c.off)
		return
	}
	if _, err := c.r.ReadAt(b, c.off); err != nil && !errors.Is(err, io.EOF) {
		c.err = err
		return
	}
	c.off += int64(len(b))
}
