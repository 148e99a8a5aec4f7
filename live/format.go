package live

import (
	"context"
	"encoding/binary"

	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
)

// Format is how a session's input audio is encoded: OpenAI's three
// (audio/pcm at 24 kHz, audio/pcmu and audio/pcma at 8 kHz) and, as an
// earshot extension, audio/pcm at 16 kHz, which needs no resampling.
type Format struct {
	// Type is the GA name: "audio/pcm", "audio/pcmu" or "audio/pcma".
	Type string
	// Rate is the sample rate in Hz.
	Rate int
}

// The formats a session takes.
var (
	PCM24k = Format{Type: "audio/pcm", Rate: 24000}
	PCM16k = Format{Type: "audio/pcm", Rate: 16000}
	PCMU   = Format{Type: "audio/pcmu", Rate: 8000}
	PCMA   = Format{Type: "audio/pcma", Rate: 8000}
)

// beta is the format's name in the beta protocol (input_audio_format).
func (f Format) beta() string {
	switch f {
	case PCMU:
		return "g711_ulaw"
	case PCMA:
		return "g711_alaw"
	case PCM16k:
		return "pcm16_16000"
	}
	return "pcm16"
}

func betaFormat(name string) (Format, bool) {
	switch name {
	case "pcm16":
		return PCM24k, true
	case "pcm16_16000":
		return PCM16k, true
	case "g711_ulaw":
		return PCMU, true
	case "g711_alaw":
		return PCMA, true
	}
	return Format{}, false
}

// frameBytes is the size of one sample in the format.
func (f Format) frameBytes() int {
	if f.Type == "audio/pcm" {
		return 2
	}
	return 1
}

// wavTag is the WAVE format tag of the encoding.
func (f Format) wavTag() uint16 {
	switch f.Type {
	case "audio/pcmu":
		return 7
	case "audio/pcma":
		return 6
	}
	return 1
}

// converter turns a stream of input bytes into 16 kHz samples as they
// arrive. It decodes with transcribe/audio (G.711 expansion, the
// polyphase resampler), block by block with 10 ms of context on each side
// that is decoded again and thrown away, so that block edges leave no mark:
// the samples equal those of the whole stream resampled at once. A block
// waits for its right context, so samples lag the input by 10-30 ms until
// flush.
type converter struct {
	f       Format
	left    []byte // context already converted: the last ctx frames
	pending []byte // not converted yet
	dec     audio.Decoder
}

// Frames per block and of context: 20 ms and 10 ms, multiples of every
// rate's step (24 kHz input maps 3 frames to 2 samples).
func (c *converter) block() int { return c.f.Rate / 50 }
func (c *converter) ctx() int   { return c.f.Rate / 100 }

// push takes input bytes and returns the samples that can be produced.
func (c *converter) push(b []byte) ([]float32, error) {
	c.pending = append(c.pending, b...)
	fb := c.f.frameBytes()
	frames := len(c.pending) / fb
	k := (frames - c.ctx()) / c.block() * c.block()
	if k <= 0 {
		return nil, nil
	}
	return c.convert(k, (k+c.ctx())*fb)
}

// flush converts whatever is pending, as the end of the stream, and
// forgets the context: the next push starts a new stream.
func (c *converter) flush() ([]float32, error) {
	fb := c.f.frameBytes()
	k := len(c.pending) / fb
	out, err := c.convert(k, k*fb)
	c.left, c.pending = nil, nil
	return out, err
}

// convert decodes left + pending[:through] and returns the samples of the
// k frames after left; those k frames become the next left context.
func (c *converter) convert(k, through int) ([]float32, error) {
	if k <= 0 {
		return nil, nil
	}
	fb := c.f.frameBytes()
	in := make([]byte, 0, len(c.left)+through)
	in = append(append(in, c.left...), c.pending[:through]...)
	a, err := c.dec.Decode(context.Background(), wav(c.f, in))
	if err != nil {
		return nil, err
	}
	lo := len(c.left) / fb * transcribe.SampleRate / c.f.Rate
	hi := (len(c.left)/fb + k) * transcribe.SampleRate / c.f.Rate
	out := append([]float32(nil), a.Samples[lo:min(hi, len(a.Samples))]...)
	done := append(c.left, c.pending[:k*fb]...)
	c.left = append([]byte(nil), done[max(0, len(done)-c.ctx()*fb):]...)
	c.pending = append(c.pending[:0], c.pending[k*fb:]...)
	return out, nil
}

// wav wraps raw mono samples of format f in a WAVE header.
func wav(f Format, data []byte) []byte {
	fb := f.frameBytes()
	b := make([]byte, 44, 44+len(data))
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+len(data)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], f.wavTag())
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], uint32(f.Rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(f.Rate*fb))
	binary.LittleEndian.PutUint16(b[32:], uint16(fb))
	binary.LittleEndian.PutUint16(b[34:], uint16(8*fb))
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(len(data)))
	return append(b, data...)
}
