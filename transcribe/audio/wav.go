package audio

import (
	"encoding/binary"
	"fmt"
	"math"
)

// WAV is decoded here rather than with github.com/go-audio/wav: that library
// reads 32-bit float WAV as integers, does not handle A-law/µ-law, and reads
// one sample per io.Reader call (too slow for the 200x real-time target).
// RIFF is small enough to parse directly from the bytes in memory.

const (
	wavPCM        = 0x0001
	wavFloat      = 0x0003
	wavALaw       = 0x0006
	wavMuLaw      = 0x0007
	wavExtensible = 0xfffe
)

type wavFormat struct {
	tag        int
	channels   int
	rate       int
	blockAlign int
	bits       int
}

func (f wavFormat) codec() string {
	switch f.tag {
	case wavPCM:
		if f.bits == 8 {
			return "pcm_u8"
		}
		return fmt.Sprintf("pcm_s%dle", f.bits)
	case wavFloat:
		return fmt.Sprintf("pcm_f%dle", f.bits)
	case wavALaw:
		return "pcm_alaw"
	case wavMuLaw:
		return "pcm_mulaw"
	}
	return fmt.Sprintf("wav format %#04x", f.tag)
}

func decodeWAV(data []byte, lim Limits) (*Audio, error) {
	if len(data) < 12 {
		return nil, fmt.Errorf("%w: wav header is truncated", ErrCorrupt)
	}
	if string(data[:4]) == "RIFX" {
		return nil, fmt.Errorf("%w: big-endian wav (RIFX)", ErrUnsupported)
	}
	rf64 := string(data[:4]) == "RF64"
	var (
		f       *wavFormat
		pcm     []byte
		rf64Len uint64
	)
	for off := 12; off+8 <= len(data) && pcm == nil; {
		id := string(data[off : off+4])
		size := uint64(binary.LittleEndian.Uint32(data[off+4 : off+8]))
		body := off + 8
		rest := uint64(len(data) - body)
		switch id {
		case "ds64":
			if size < 16 || rest < 16 {
				return nil, fmt.Errorf("%w: rf64 ds64 chunk is truncated", ErrCorrupt)
			}
			rf64Len = binary.LittleEndian.Uint64(data[body+8 : body+16])
		case "fmt ":
			if size < 16 || rest < size {
				return nil, fmt.Errorf("%w: wav fmt chunk is truncated", ErrCorrupt)
			}
			var err error
			if f, err = parseWAVFormat(data[body : body+int(size)]); err != nil {
				return nil, err
			}
		case "data":
			if f == nil {
				return nil, fmt.Errorf("%w: wav data comes before its format", ErrCorrupt)
			}
			switch {
			case rf64 && size == 0xffffffff:
				size = min(rf64Len, rest)
			case size == 0 || size == 0xffffffff:
				// Written by a recorder that never came back to fill in the
				// length (streaming): the data runs to the end of the file.
				size = rest
			case size > rest:
				return nil, fmt.Errorf("%w: wav is truncated: the header declares %d bytes of audio, the file holds %d", ErrCorrupt, size, rest)
			}
			pcm = data[body : body+int(size)]
		}
		if pcm != nil {
			break
		}
		if size > rest {
			return nil, fmt.Errorf("%w: wav %q chunk is truncated", ErrCorrupt, id)
		}
		off = body + int(size) + int(size&1) // chunks are padded to even sizes
	}
	if f == nil {
		return nil, fmt.Errorf("%w: wav has no fmt chunk", ErrCorrupt)
	}
	if pcm == nil {
		return nil, fmt.Errorf("%w: wav has no data chunk", ErrCorrupt)
	}
	frames := int64(len(pcm) / f.blockAlign)
	if frames > lim.maxFrames(f.rate) {
		return nil, lim.tooLong(frames, f.rate)
	}
	mono := make([]float32, frames)
	if err := wavToMono(mono, pcm, *f); err != nil {
		return nil, err
	}
	return &Audio{
		Samples:    Resample(mono, f.rate),
		Format:     "wav",
		Codec:      f.codec(),
		SampleRate: f.rate,
		Channels:   f.channels,
	}, nil
}

func parseWAVFormat(b []byte) (*wavFormat, error) {
	f := &wavFormat{
		tag:        int(binary.LittleEndian.Uint16(b[0:2])),
		channels:   int(binary.LittleEndian.Uint16(b[2:4])),
		rate:       int(binary.LittleEndian.Uint32(b[4:8])),
		blockAlign: int(binary.LittleEndian.Uint16(b[12:14])),
		bits:       int(binary.LittleEndian.Uint16(b[14:16])),
	}
	if f.tag == wavExtensible {
		if len(b) < 40 {
			return nil, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE fmt chunk is truncated", ErrCorrupt)
		}
		// The sub-format GUID starts with the real format tag.
		f.tag = int(binary.LittleEndian.Uint16(b[24:26]))
	}
	switch {
	case f.channels < 1 || f.channels > 64:
		return nil, fmt.Errorf("%w: wav declares %d channels", ErrCorrupt, f.channels)
	case f.rate < 1000 || f.rate > 768000:
		return nil, fmt.Errorf("%w: wav declares a sample rate of %d Hz", ErrCorrupt, f.rate)
	}
	valid := false
	switch f.tag {
	case wavPCM:
		valid = f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32
	case wavFloat:
		valid = f.bits == 32 || f.bits == 64
	case wavALaw, wavMuLaw:
		valid = f.bits == 8
	default:
		return nil, fmt.Errorf("%w: wav with %s", ErrUnsupported, f.codec())
	}
	if !valid {
		return nil, fmt.Errorf("%w: wav with %s at %d bits", ErrUnsupported, f.codec(), f.bits)
	}
	if want := f.channels * f.bits / 8; f.blockAlign != want {
		// Some writers get block align wrong; the sample layout is what counts.
		f.blockAlign = want
	}
	return f, nil
}

// wavToMono converts interleaved frames to mono float32, averaging channels.
func wavToMono(dst []float32, pcm []byte, f wavFormat) error {
	bps := f.bits / 8
	var sample func(b []byte) float32
	switch {
	case f.tag == wavPCM && bps == 1:
		sample = func(b []byte) float32 { return (float32(b[0]) - 128) / 128 }
	case f.tag == wavPCM && bps == 2:
		sample = func(b []byte) float32 { return float32(int16(binary.LittleEndian.Uint16(b))) / (1 << 15) }
	case f.tag == wavPCM && bps == 3:
		sample = func(b []byte) float32 {
			return float32(int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24)>>8) / (1 << 23)
		}
	case f.tag == wavPCM && bps == 4:
		sample = func(b []byte) float32 { return float32(float64(int32(binary.LittleEndian.Uint32(b))) / (1 << 31)) }
	case f.tag == wavFloat && bps == 4:
		sample = func(b []byte) float32 { return finite(math.Float32frombits(binary.LittleEndian.Uint32(b))) }
	case f.tag == wavFloat && bps == 8:
		sample = func(b []byte) float32 { return finite(float32(math.Float64frombits(binary.LittleEndian.Uint64(b)))) }
	case f.tag == wavALaw:
		sample = func(b []byte) float32 { return float32(alaw(b[0])) / (1 << 15) }
	case f.tag == wavMuLaw:
		sample = func(b []byte) float32 { return float32(mulaw(b[0])) / (1 << 15) }
	default:
		return fmt.Errorf("%w: wav with %s", ErrUnsupported, f.codec())
	}
	if f.channels == 1 && f.tag == wavPCM && bps == 2 {
		// The common case (16-bit mono), without the per-sample call.
		for i := range dst {
			dst[i] = float32(int16(binary.LittleEndian.Uint16(pcm[2*i:]))) / (1 << 15)
		}
		return nil
	}
	scale := 1 / float32(f.channels)
	for i := range dst {
		frame := pcm[i*f.blockAlign:]
		var sum float32
		for c := range f.channels {
			sum += sample(frame[c*bps:])
		}
		dst[i] = sum * scale
	}
	return nil
}

// finite clamps float samples to [-1, 1] and turns NaN into silence, so that
// a damaged float WAV cannot poison the model's input.
func finite(v float32) float32 {
	switch {
	case v != v:
		return 0
	case v > 1:
		return 1
	case v < -1:
		return -1
	}
	return v
}

// alaw and mulaw decode G.711 bytes to 16-bit linear PCM (ITU-T G.711).
func alaw(a byte) int16 {
	a ^= 0x55
	t := int16(a&0x0f) << 4
	seg := (a & 0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return t
	}
	return -t
}

func mulaw(u byte) int16 {
	u = ^u
	t := (int16(u&0x0f) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return 0x84 - t
	}
	return t - 0x84
}
