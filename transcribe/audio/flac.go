package audio

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/mewkiz/flac"
)

// decodeFLAC decodes FLAC with github.com/mewkiz/flac. A stream that breaks
// after some good frames (a corrupt last frame is common in the wild) keeps
// the audio before the damage and says so in Audio.Warning.
func decodeFLAC(data []byte, lim Limits) (a *Audio, err error) {
	defer func() {
		if r := recover(); r != nil {
			a, err = nil, fmt.Errorf("%w: flac decoder failed: %v", ErrCorrupt, r)
		}
	}()
	s, err := flac.New(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: flac: %v", ErrCorrupt, err)
	}
	info := s.Info
	rate, channels, bps := int(info.SampleRate), int(info.NChannels), int(info.BitsPerSample)
	if rate < 1000 || channels < 1 || bps < 4 || bps > 32 {
		return nil, fmt.Errorf("%w: flac declares %d Hz, %d channels, %d bits", ErrCorrupt, rate, channels, bps)
	}
	// STREAMINFO gives the length up front (0 means unknown).
	if n := int64(info.NSamples); n > lim.maxFrames(rate) {
		return nil, lim.tooLong(n, rate)
	}
	// Frames go to the resampler as they are decoded: FLAC compresses
	// silence to almost nothing, so a small file can hold hours of audio.
	rs := newResampler(rate)
	var block []float32
	var frames int64
	scale := 1 / float32(int64(1)<<(bps-1)) / float32(channels)
	var warning string
	for {
		f, err := s.ParseNext()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if frames == 0 {
				return nil, fmt.Errorf("%w: flac: %v", ErrCorrupt, err)
			}
			warning = fmt.Sprintf("flac: damaged frame after %.2f s (%v); decoded the audio before it", float64(frames)/float64(rate), err)
			break
		}
		if len(f.Subframes) != channels {
			return nil, fmt.Errorf("%w: flac frame has %d channels, stream %d", ErrCorrupt, len(f.Subframes), channels)
		}
		n := f.Subframes[0].NSamples
		frames += int64(n)
		if frames > lim.maxFrames(rate) {
			return nil, lim.tooLong(frames, rate)
		}
		block = block[:0]
		for i := range n {
			var sum int64
			for _, sf := range f.Subframes {
				if i < len(sf.Samples) {
					sum += int64(sf.Samples[i])
				}
			}
			block = append(block, float32(sum)*scale)
		}
		rs.push(block)
	}
	return &Audio{
		Samples:    rs.finish(),
		Format:     "flac",
		Codec:      "flac",
		SampleRate: rate,
		Channels:   channels,
		Warning:    warning,
	}, nil
}
