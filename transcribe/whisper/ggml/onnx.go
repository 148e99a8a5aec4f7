package ggml

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/x448/float16"
	"google.golang.org/protobuf/encoding/protowire"
)

// ErrONNX is wrapped by every error about an ONNX file that cannot be read.
var ErrONNX = errors.New("ggml: bad ONNX file")

// onnxTensor is one constant tensor of an ONNX graph: an initializer or the
// value of a Constant node, with its data as float32.
type onnxTensor struct {
	Name string
	Dims []int64 // ONNX order: outermost first
	Data []float32
}

// ONNX field numbers (onnx/onnx.proto3).
const (
	modelGraph = 7 // ModelProto.graph

	graphNode        = 1 // GraphProto.node
	graphInitializer = 5 // GraphProto.initializer

	nodeOutput    = 2 // NodeProto.output
	nodeOpType    = 4 // NodeProto.op_type
	nodeAttribute = 5 // NodeProto.attribute

	attrName   = 1  // AttributeProto.name
	attrT      = 5  // AttributeProto.t
	attrG      = 6  // AttributeProto.g
	attrGraphs = 11 // AttributeProto.graphs

	tensorDims         = 1  // TensorProto.dims
	tensorDataType     = 2  // TensorProto.data_type
	tensorFloatData    = 4  // TensorProto.float_data
	tensorName         = 8  // TensorProto.name
	tensorRawData      = 9  // TensorProto.raw_data
	tensorExternalData = 13 // TensorProto.external_data

	onnxFloat   = 1  // TensorProto.FLOAT
	onnxFloat16 = 10 // TensorProto.FLOAT16
)

// maxGraphDepth bounds subgraph nesting (If/Loop bodies) so a hostile file
// cannot recurse without end.
const maxGraphDepth = 16

// readONNXTensors returns the floating-point constant tensors of an ONNX
// model, from the main graph and every subgraph (If branches, loop bodies).
// Tensors of other element types (shapes, indices) are skipped.
func readONNXTensors(model []byte) ([]onnxTensor, error) {
	var out []onnxTensor
	found := false
	err := eachField(model, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == modelGraph && typ == protowire.BytesType {
			found = true
			return readGraph(v, 0, &out)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no graph", ErrONNX)
	}
	return out, nil
}

func readGraph(b []byte, depth int, out *[]onnxTensor) error {
	if depth > maxGraphDepth {
		return fmt.Errorf("%w: subgraphs nested deeper than %d", ErrONNX, maxGraphDepth)
	}
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case graphInitializer:
			t, ok, err := readTensor(v, "")
			if err != nil {
				return err
			}
			if ok {
				*out = append(*out, t)
			}
		case graphNode:
			return readNode(v, depth, out)
		}
		return nil
	})
}

// readNode keeps the value of a Constant node (named after its output) and
// descends into the subgraphs held in any node's attributes.
func readNode(b []byte, depth int, out *[]onnxTensor) error {
	var (
		opType, output string
		attrs          [][]byte
	)
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case nodeOpType:
			opType = string(v)
		case nodeOutput:
			if output == "" {
				output = string(v)
			}
		case nodeAttribute:
			attrs = append(attrs, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, a := range attrs {
		var name string
		var value []byte
		err := eachField(a, func(num protowire.Number, typ protowire.Type, v []byte) error {
			if typ != protowire.BytesType {
				return nil
			}
			switch num {
			case attrName:
				name = string(v)
			case attrT:
				value = v
			case attrG, attrGraphs:
				return readGraph(v, depth+1, out)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if opType == "Constant" && name == "value" && value != nil {
			t, ok, err := readTensor(value, output)
			if err != nil {
				return err
			}
			if ok {
				*out = append(*out, t)
			}
		}
	}
	return nil
}

// readTensor decodes a FLOAT or FLOAT16 TensorProto; ok is false for other
// element types. name, when set, replaces the tensor's own name.
func readTensor(b []byte, name string) (t onnxTensor, ok bool, err error) {
	var (
		dtype  uint64
		raw    []byte
		floats []float32
		hasRaw bool
	)
	t.Name = name
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == tensorDims && typ == protowire.VarintType:
			d, _ := protowire.ConsumeVarint(v)
			t.Dims = append(t.Dims, int64(d))
		case num == tensorDims && typ == protowire.BytesType: // packed
			for len(v) > 0 {
				d, n := protowire.ConsumeVarint(v)
				if n < 0 {
					return fmt.Errorf("%w: bad tensor dims", ErrONNX)
				}
				t.Dims = append(t.Dims, int64(d))
				v = v[n:]
			}
		case num == tensorDataType && typ == protowire.VarintType:
			dtype, _ = protowire.ConsumeVarint(v)
		case num == tensorName && typ == protowire.BytesType && name == "":
			t.Name = string(v)
		case num == tensorRawData && typ == protowire.BytesType:
			raw, hasRaw = v, true
		case num == tensorFloatData && typ == protowire.BytesType: // packed
			if len(v)%4 != 0 {
				return fmt.Errorf("%w: float_data of %d bytes", ErrONNX, len(v))
			}
			for i := 0; i < len(v); i += 4 {
				floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(v[i:])))
			}
		case num == tensorFloatData && typ == protowire.Fixed32Type:
			floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(v)))
		case num == tensorExternalData:
			return fmt.Errorf("%w: tensor data stored outside the file", ErrONNX)
		}
		return nil
	})
	if err != nil {
		return onnxTensor{}, false, err
	}
	if dtype != onnxFloat && dtype != onnxFloat16 {
		return onnxTensor{}, false, nil
	}
	n := int64(1)
	for _, d := range t.Dims {
		if d <= 0 || d > 1<<30 || n*d > 1<<30 {
			return onnxTensor{}, false, fmt.Errorf("%w: tensor %q has dims %v", ErrONNX, t.Name, t.Dims)
		}
		n *= d
	}
	switch {
	case hasRaw && dtype == onnxFloat:
		if int64(len(raw)) != 4*n {
			return onnxTensor{}, false, fmt.Errorf("%w: tensor %q: %d bytes for %d floats", ErrONNX, t.Name, len(raw), n)
		}
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case hasRaw && dtype == onnxFloat16:
		if int64(len(raw)) != 2*n {
			return onnxTensor{}, false, fmt.Errorf("%w: tensor %q: %d bytes for %d halves", ErrONNX, t.Name, len(raw), n)
		}
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32()
		}
	case dtype == onnxFloat:
		if int64(len(floats)) != n {
			return onnxTensor{}, false, fmt.Errorf("%w: tensor %q: %d floats for dims %v", ErrONNX, t.Name, len(floats), t.Dims)
		}
		t.Data = floats
	default: // float16 in int32_data: not produced by exporters earshot reads
		return onnxTensor{}, false, nil
	}
	return t, true, nil
}

// eachField calls f with every field of a protobuf message: for varints and
// fixed-size fields v is the field's bytes as encoded, for length-delimited
// fields the payload.
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrONNX, protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			p, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("%w: %v", ErrONNX, protowire.ParseError(m))
			}
			v, n = p, m
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return fmt.Errorf("%w: %v", ErrONNX, protowire.ParseError(m))
			}
			v, n = b[:m], m
		}
		if err := f(num, typ, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
