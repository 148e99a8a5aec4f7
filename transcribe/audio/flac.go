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
	mono := make([]float32, 0, min(info.NSamples, uint64(lim.maxFrames(rate))))
	scale := 1 / float32(int64(1)<<(bps-1)) / float32(channels)
	var warning string
	for {
		f, err := s.ParseNext()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if len(mono) == 0 {
				return nil, fmt.Errorf("%w: flac: %v", ErrCorrupt, err)
			}
			warning = fmt.Sprintf("flac: damaged frame after %.2f s (%v); decoded the audio before it", float64(len(mono))/float64(rate), err)
			break
		}
		if len(f.Subframes) != channels {
			return nil, fmt.Errorf("%w: flac frame has %d channels, stream %d", ErrCorrupt, len(f.Subframes), channels)
		}
		n := f.Subframes[0].NSamples
		for i := range n {
			var sum int64
			for _, sf := range f.Subframes {
				if i < len(sf.Samples) {
					sum += int64(sf.Samples[i])
				}
			}
			mono = append(mono, float32(sum)*scale)
		}
		if int64(len(mono)) > lim.maxFrames(rate) {
			return nil, lim.tooLong(int64(len(mono)), rate)
		}
	}
	return &Audio{
		Samples:    Resample(mono, rate),
		Format:     "flac",
		Codec:      "flac",
		SampleRate: rate,
		Channels:   channels,
		Warning:    warning,
	}, nil
}
