package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hajimehoshi/go-mp3"
)

// decodeMP3 decodes MPEG-1/2 layer III with github.com/hajimehoshi/go-mp3,
// which always produces 16-bit little-endian stereo at the source rate.
func decodeMP3(data []byte, lim Limits) (a *Audio, err error) {
	defer func() {
		// go-mp3 indexes tables with values read from the stream; a damaged
		// frame must be an error, not a crash of the server.
		if r := recover(); r != nil {
			a, err = nil, fmt.Errorf("%w: mp3 decoder failed: %v", ErrCorrupt, r)
		}
	}()
	d, err := mp3.NewDecoder(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: mp3: %v", ErrCorrupt, err)
	}
	rate := d.SampleRate()
	if rate <= 0 {
		return nil, fmt.Errorf("%w: mp3 declares no sample rate", ErrCorrupt)
	}
	// Length is known from the frame index go-mp3 builds before decoding.
	if declared := d.Length() / 4; declared > lim.maxFrames(rate) {
		return nil, lim.tooLong(declared, rate)
	}
	// Decoded blocks go to the resampler as they come, so audio at the
	// source rate is never held whole.
	rs := newResampler(rate)
	buf := make([]byte, 64<<10)
	mono := make([]float32, 0, len(buf)/4)
	var frames int64
	carry := 0 // bytes of a partial frame at the start of buf
	for {
		n, err := d.Read(buf[carry:])
		n += carry
		whole := n / 4 * 4
		mono = mono[:0]
		for i := 0; i < whole; i += 4 {
			l := int16(binary.LittleEndian.Uint16(buf[i:]))
			r := int16(binary.LittleEndian.Uint16(buf[i+2:]))
			mono = append(mono, (float32(l)+float32(r))/(2<<15))
		}
		rs.push(mono)
		frames += int64(len(mono))
		carry = copy(buf, buf[whole:n])
		if frames > lim.maxFrames(rate) {
			return nil, lim.tooLong(frames, rate)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if frames == 0 {
				return nil, fmt.Errorf("%w: mp3: %v", ErrCorrupt, err)
			}
			break // keep the audio decoded before the damage
		}
	}
	return &Audio{
		Samples:    rs.finish(),
		Format:     "mp3",
		Codec:      "mp3",
		SampleRate: rate,
		Channels:   mp3Channels(data),
	}, nil
}

// mp3Channels reads the channel mode of the first frame header (after any
// ID3v2 tag): 1 for mono, else 2. go-mp3 does not report it.
func mp3Channels(data []byte) int {
	off := 0
	if len(data) >= 10 && string(data[:3]) == "ID3" {
		size := int(data[6]&0x7f)<<21 | int(data[7]&0x7f)<<14 | int(data[8]&0x7f)<<7 | int(data[9]&0x7f)
		off = 10 + size
	}
	for i := off; i+3 < len(data) && i < off+64<<10; i++ {
		if data[i] == 0xff && data[i+1]&0xe0 == 0xe0 {
			if data[i+3]>>6 == 3 {
				return 1
			}
			return 2
		}
	}
	return 2
}
