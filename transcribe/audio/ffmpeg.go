package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// decodeFFmpeg runs ffmpeg on data held in memory and reads 16 kHz mono
// float32 from its stdout (ffmpeg's own resampler, a windowed sinc). The
// input never touches the disk: it is an in-memory file where the platform
// has one (seekable, so MP4 with its index at the end works), else a pipe.
// ffmpeg is killed when ctx ends, after Limits.Timeout, or as soon as its
// output passes the duration limit.
func decodeFFmpeg(parent context.Context, ffmpeg, format string, data []byte, lim Limits) (*Audio, error) {
	ctx, cancel := context.WithTimeout(parent, lim.Timeout)
	defer cancel()
	in, err := ffmpegInput(data)
	if err != nil {
		return nil, err
	}
	defer in.close()
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-loglevel", "info", "-i", in.path,
		"-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", "16000", "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"}
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	in.attach(cmd)
	var stderr limitedBuffer
	stderr.max = 64 << 10
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("audio: ffmpeg: %w", err)
	}
	if err := cmd.Start(); err != nil {
		if parent.Err() != nil {
			return nil, parent.Err()
		}
		return nil, fmt.Errorf("%w: %s needs ffmpeg, which failed to start: %v", ErrUnsupported, format, err)
	}
	in.started()
	maxBytes := lim.maxFrames(16000) * 4
	var out bytes.Buffer
	n, readErr := out.ReadFrom(io.LimitReader(stdout, maxBytes+4))
	tooLong := n > maxBytes
	if tooLong {
		cancel() // stop decoding the rest
	}
	waitErr := cmd.Wait()
	switch {
	case tooLong:
		return nil, lim.tooLong(n/4, 16000)
	case parent.Err() != nil:
		return nil, parent.Err()
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: ffmpeg did not finish decoding the %s in %s", ErrCorrupt, format, lim.Timeout)
	case readErr != nil:
		return nil, fmt.Errorf("audio: reading ffmpeg's output: %w", readErr)
	case signalled(waitErr):
		return nil, fmt.Errorf("%w: ffmpeg was stopped (%v) while decoding the %s; the audio itself may be fine, so retry", ErrDecoderFailed, waitErr, format)
	case waitErr != nil:
		msg := ffmpegReason(stderr.String())
		if strings.Contains(msg, "matches no streams") || strings.Contains(msg, "does not contain any stream") {
			return nil, fmt.Errorf("%w: the %s file has no audio stream", ErrUnsupported, format)
		}
		return nil, fmt.Errorf("%w: ffmpeg cannot decode the %s: %s", ErrCorrupt, format, msg)
	}
	pcm := out.Bytes()
	samples := make([]float32, len(pcm)/4)
	for i := range samples {
		samples[i] = finite(math.Float32frombits(binary.LittleEndian.Uint32(pcm[4*i:])))
	}
	codec, rate, channels := ffmpegStream(stderr.String())
	return &Audio{
		Samples:    samples,
		Format:     format,
		Codec:      codec,
		SampleRate: rate,
		Channels:   channels,
	}, nil
}

// signalled is whether err is a process that ended by a signal, not by
// exiting (ExitCode is -1 then): ffmpeg exits with a code of its own when
// the data is bad.
func signalled(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit) && exit.ExitCode() == -1
}

var streamRE = regexp.MustCompile(`Stream #0:\d+[^:]*: Audio: ([A-Za-z0-9_]+)[^,\n]*, (\d+) Hz, ([^,\n]+)`)

// ffmpegStream reads the input's audio codec, sample rate and channel count
// from ffmpeg's stream description ("Audio: opus, 48000 Hz, mono, fltp").
func ffmpegStream(log string) (codec string, rate, channels int) {
	m := streamRE.FindStringSubmatch(log)
	if m == nil {
		return "", 0, 0
	}
	rate, _ = strconv.Atoi(m[2])
	layout := strings.TrimSpace(m[3])
	switch {
	case layout == "mono":
		channels = 1
	case layout == "stereo":
		channels = 2
	case strings.HasSuffix(layout, " channels"):
		channels, _ = strconv.Atoi(strings.TrimSuffix(layout, " channels"))
	default:
		// Layouts such as 2.1, quad, 5.1(side), 7.1: count the speakers.
		layouts := map[string]int{"2.1": 3, "3.0": 3, "quad": 4, "4.0": 4, "4.1": 5, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}
		channels = layouts[strings.SplitN(layout, "(", 2)[0]]
	}
	return m[1], rate, channels
}

// ffmpegReason is the last meaningful line ffmpeg printed.
func ffmpegReason(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "Conversion failed") {
			return l
		}
	}
	return "unknown error"
}

// limitedBuffer keeps the first max bytes written and drops the rest, so a
// chatty ffmpeg cannot grow memory without bound.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
