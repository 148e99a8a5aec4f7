package ggml

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
	"google.golang.org/protobuf/encoding/protowire"
)

// onnxModel builds an ONNX ModelProto the way the vad-web export is laid
// out: the main graph holds an If node whose two branches each hold the
// network's initializers under a branch prefix, one with 16 kHz shapes and
// one with 8 kHz shapes. Values come from seed.
func onnxModel(t testing.TB, seed uint64, asConstants bool) ([]byte, map[string][]float32) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	want := map[string][]float32{}
	branch := func(prefix string, scale int) []byte {
		var g []byte
		for _, st := range sileroTensors {
			dims := make([]int64, len(st.ne))
			for i, d := range st.ne {
				dims[len(dims)-1-i] = int64(d)
			}
			if scale != 1 && st.pytorchName() == "stft.forward_basis_buffer" {
				dims = []int64{130, 1, 128} // 8 kHz: a different shape
			}
			n := int64(1)
			for _, d := range dims {
				n *= d
			}
			data := make([]float32, n)
			for i := range data {
				data[i] = rng.Float32()*2 - 1
			}
			if scale == 1 {
				want[st.name] = data
			}
			var tp []byte
			for _, d := range dims {
				tp = protowire.AppendTag(tp, tensorDims, protowire.VarintType)
				tp = protowire.AppendVarint(tp, uint64(d))
			}
			tp = protowire.AppendTag(tp, tensorDataType, protowire.VarintType)
			tp = protowire.AppendVarint(tp, onnxFloat)
			name := prefix + st.pytorchName()
			raw := make([]byte, 4*len(data))
			for i, x := range data {
				binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
			}
			tp = protowire.AppendTag(tp, tensorRawData, protowire.BytesType)
			tp = protowire.AppendBytes(tp, raw)
			if asConstants {
				var attr []byte
				attr = protowire.AppendTag(attr, attrName, protowire.BytesType)
				attr = protowire.AppendString(attr, "value")
				attr = protowire.AppendTag(attr, attrT, protowire.BytesType)
				attr = protowire.AppendBytes(attr, tp)
				var node []byte
				node = protowire.AppendTag(node, nodeOutput, protowire.BytesType)
				node = protowire.AppendString(node, name)
				node = protowire.AppendTag(node, nodeOpType, protowire.BytesType)
				node = protowire.AppendString(node, "Constant")
				node = protowire.AppendTag(node, nodeAttribute, protowire.BytesType)
				node = protowire.AppendBytes(node, attr)
				g = protowire.AppendTag(g, graphNode, protowire.BytesType)
				g = protowire.AppendBytes(g, node)
			} else {
				tp = protowire.AppendTag(tp, tensorName, protowire.BytesType)
				tp = protowire.AppendString(tp, name)
				g = protowire.AppendTag(g, graphInitializer, protowire.BytesType)
				g = protowire.AppendBytes(g, tp)
			}
		}
		return g
	}
	var node []byte
	node = protowire.AppendTag(node, nodeOpType, protowire.BytesType)
	node = protowire.AppendString(node, "If")
	for _, b := range []struct {
		name, prefix string
		scale        int
	}{{"then_branch", "If_0_then_branch__Inline_0__", 1}, {"else_branch", "If_0_else_branch__Inline_0__", 2}} {
		var attr []byte
		attr = protowire.AppendTag(attr, attrName, protowire.BytesType)
		attr = protowire.AppendString(attr, b.name)
		attr = protowire.AppendTag(attr, attrG, protowire.BytesType)
		attr = protowire.AppendBytes(attr, branch(b.prefix, b.scale))
		node = protowire.AppendTag(node, nodeAttribute, protowire.BytesType)
		node = protowire.AppendBytes(node, attr)
	}
	var graph []byte
	graph = protowire.AppendTag(graph, graphNode, protowire.BytesType)
	graph = protowire.AppendBytes(graph, node)
	var model []byte
	model = protowire.AppendTag(model, 1, protowire.VarintType) // ir_version
	model = protowire.AppendVarint(model, 8)
	model = protowire.AppendTag(model, modelGraph, protowire.BytesType)
	model = protowire.AppendBytes(model, graph)
	return model, want
}

// readVAD parses a converted file back into its tensors.
func readVAD(t *testing.T, b []byte) map[string][]float32 {
	t.Helper()
	if _, err := CheckVAD(bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	off := 4 + 4 + len(sileroType) + 4*(5+1+3*sileroLayers+4)
	got := map[string][]float32{}
	for off < len(b) {
		dims := int(binary.LittleEndian.Uint32(b[off:]))
		nameLen := int(binary.LittleEndian.Uint32(b[off+4:]))
		typ := int(binary.LittleEndian.Uint32(b[off+8:]))
		off += 12
		n := 1
		for range dims {
			n *= int(binary.LittleEndian.Uint32(b[off:]))
			off += 4
		}
		name := string(b[off : off+nameLen])
		off += nameLen
		data := make([]float32, n)
		for i := range data {
			if typ == 1 {
				data[i] = float16.Frombits(binary.LittleEndian.Uint16(b[off:])).Float32()
				off += 2
			} else {
				data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[off:]))
				off += 4
			}
		}
		got[name] = data
	}
	return got
}

func TestConvertSileroCarriesThe16kNetwork(t *testing.T) {
	for _, asConstants := range []bool{false, true} {
		model, want := onnxModel(t, 7, asConstants)
		var out bytes.Buffer
		if err := ConvertSilero(model, &out, SileroVersion{5, 1, 2}); err != nil {
			t.Fatal(err)
		}
		h, err := CheckVAD(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if h.Type != "silero-16k" || h.Version != (SileroVersion{5, 1, 2}) || h.Window != 512 {
			t.Errorf("header = %+v", h)
		}
		got := readVAD(t, out.Bytes())
		for _, st := range sileroTensors {
			g, w := got[st.name], want[st.name]
			if len(g) != len(w) {
				t.Fatalf("%s: %d values, want %d", st.name, len(g), len(w))
			}
			for i := range g {
				exp := w[i]
				if st.f16 {
					exp = float16.Fromfloat32(w[i]).Float32()
				}
				if g[i] != exp {
					t.Fatalf("%s[%d] = %v, want %v", st.name, i, g[i], exp)
				}
			}
		}
		var again bytes.Buffer
		if err := ConvertSilero(model, &again, SileroVersion{5, 1, 2}); err != nil || !bytes.Equal(again.Bytes(), out.Bytes()) {
			t.Errorf("second conversion differs (err %v)", err)
		}
	}
}

func TestConvertSileroRejects(t *testing.T) {
	model, _ := onnxModel(t, 1, false)
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not protobuf", []byte("\xff\xff\xff\xff")},
		{"truncated", model[:len(model)/2]},
		{"no graph", protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 8)},
	} {
		if err := ConvertSilero(c.data, &bytes.Buffer{}, SileroVersion{5, 0, 0}); !errors.Is(err, ErrONNX) {
			t.Errorf("%s: err = %v, want ErrONNX", c.name, err)
		}
	}
}

func TestCheckVADRejectsDamage(t *testing.T) {
	model, _ := onnxModel(t, 1, false)
	var out bytes.Buffer
	if err := ConvertSilero(model, &out, SileroVersion{5, 0, 0}); err != nil {
		t.Fatal(err)
	}
	good := out.Bytes()
	put := func(off int, v uint32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	hdr := 4 + 4 + len(sileroType) + 4*(5+1+3*sileroLayers+4)
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"bad magic", put(0, 0x12345678)},
		{"huge type length", put(4, 1<<30)},
		{"window 256", put(4+4+len(sileroType)+12, 256)},
		{"three layers", put(4+4+len(sileroType)+20, 3)},
		{"first tensor 5-D", put(hdr, 5)},
		{"first tensor as f32", put(hdr+8, 0)},
		{"first tensor shape", put(hdr+12, 4)},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"last tensor missing", good[:len(good)-(12+12+len("_model.stft.forward_basis_buffer")+2*256*258)]},
	} {
		if _, err := CheckVAD(bytes.NewReader(c.data), int64(len(c.data))); !errors.Is(err, ErrVADModel) {
			t.Errorf("%s: err = %v, want ErrVADModel", c.name, err)
		}
	}
}

func FuzzConvertSilero(f *testing.F) {
	model, _ := onnxModel(f, 1, false)
	f.Add(model)
	f.Add(model[:200])
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		if err := ConvertSilero(b, &out, SileroVersion{5, 0, 0}); err != nil {
			return
		}
		if _, err := CheckVAD(bytes.NewReader(out.Bytes()), int64(out.Len())); err != nil {
			t.Fatalf("converted file fails its check: %v", err)
		}
	})
}

func FuzzCheckVAD(f *testing.F) {
	model, _ := onnxModel(f, 1, false)
	var out bytes.Buffer
	if err := ConvertSilero(model, &out, SileroVersion{5, 0, 0}); err != nil {
		f.Fatal(err)
	}
	f.Add(out.Bytes()[:400])
	f.Add(out.Bytes()[:4000])
	f.Fuzz(func(t *testing.T, b []byte) {
		CheckVAD(bytes.NewReader(b), int64(len(b)))
	})
}
