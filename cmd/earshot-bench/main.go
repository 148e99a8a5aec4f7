// Command earshot-bench measures earshot against whisper.cpp's own whisper-cli,
// built from the same sources, on a synthetic tiny-sized model and jfk.wav,
// and prints the results side by side; then `earshot serve` in its default,
// adaptive shape against whisper-server (one client, 8 clients, a mixed load
// of short clips and a long file), speech-aware decoding (VAD cost, a long
// file cut at pauses), audio decoding speed next to plain ffmpeg, and live
// sessions (turn latency, partial interval, concurrent sessions). `make
// bench` runs it.
//
// The synthetic model has whisper tiny's dimensions, so it costs what tiny
// costs to run, but its words are meaningless: the benchmark measures time
// and memory, never text. Both sides decode greedily with the same threads,
// language and temperature fallback; the settings are printed with the table.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcribe/whisper"
	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
)

func main() {
	var (
		whisperRoot = flag.String("whisper", "", "whisper.cpp build root (holds bin/whisper-cli)")
		earshotBin  = flag.String("earshot", "bin/earshot", "earshot binary, for the cold-start row")
		wav         = flag.String("audio", "testdata/audio/jfk.wav", "audio file")
		runs        = flag.Int("runs", 5, "runs per measurement")
		threads     = flag.Int("threads", 2, "threads per request")
		modelPath   = flag.String("model", "", "model file (default: a synthetic tiny model in the cache)")
		only        = flag.String("only", "", "print one table: engine, http, speech, decode or live (default all)")
		vadPath     = flag.String("vad", "", "Silero VAD model (ggml) for the speech table (default: the energy VAD only)")
		liveTurns   = flag.Int("live-turns", 20, "turns the live session benchmark times")
		speechLong  = flag.Bool("speech-long", true, "time 10 minutes chunked against one run in the speech table (about 15 minutes)")
		load        = flag.Duration("load", 60*time.Second, "how long the HTTP load test runs (split in two rounds per server)")
		clients     = flag.Int("clients", 8, "clients of the HTTP load test")
		mixed       = flag.Duration("mixed", 30*time.Second, "how long 4 clients of short clips run alone in the mixed load")
		long        = flag.Duration("long", 10*time.Minute, "length of the long file in the mixed load (0: no mixed load)")
		serveFlags  = flag.String("serve-flags", "", "more flags for earshot serve, space-separated (e.g. \"--threads 2 --workers 1\" for the fixed shape)")
		mixedCap    = flag.Duration("mixed-cap", 10*time.Minute, "the longest the mixed load waits for the long file")
	)
	flag.Parse()
	model, err := benchModel(*modelPath)
	if err == nil && *whisperRoot == "" && *only != "decode" && *only != "live" {
		err = fmt.Errorf("-whisper is required (make bench passes it)")
	}
	if err == nil && (*only == "" || *only == "engine") {
		err = run(*whisperRoot, *earshotBin, *wav, model, *runs, *threads)
	}
	if err == nil && (*only == "" || *only == "http") {
		err = httpBench(*whisperRoot, *earshotBin, model, *wav, *runs, *threads, httpLoad{load: *load, clients: *clients, mixed: *mixed, long: *long, cap: *mixedCap, flags: strings.Fields(*serveFlags)})
	}
	if err == nil && (*only == "" || *only == "speech") {
		err = speechBench(model, *vadPath, filepath.Dir(*wav), *runs, *threads, *speechLong)
	}
	if err == nil && (*only == "" || *only == "decode") {
		err = decodeBench(filepath.Dir(*wav), max(*runs, 15))
	}
	if err == nil && (*only == "" || *only == "live") {
		err = liveBench(model, *threads, *liveTurns)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "earshot-bench:", err)
		os.Exit(1)
	}
}

// benchModel is the model to measure: the one given, or a synthetic
// tiny-sized model written once into the cache.
func benchModel(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	path = filepath.Join(cache, "earshot", "models", ggml.Tiny.FileName())
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, ggml.SynthesizeFile(path, ggml.Tiny, 1)
}

func run(whisperRoot, earshotBin, wav, modelPath string, runs, threads int) error {
	cli := filepath.Join(whisperRoot, "bin", "whisper-cli")
	_, a, err := loadAudio(wav)
	if err != nil {
		return err
	}
	st, err := os.Stat(modelPath)
	if err != nil {
		return err
	}
	modelMB := float64(st.Size()) / 1e6
	opts := transcribe.Options{Language: "en"}
	fmt.Printf("earshot benchmark: %s (%.1f s), synthetic tiny model %s (%.0f MB, random weights)\n",
		filepath.Base(wav), a.Duration().Seconds(), filepath.Base(modelPath), modelMB)
	fmt.Printf("settings: greedy, temperature 0 with fallback, language en, %d threads per request, %d runs each interleaved with the baseline's, median\n\n", threads, runs)

	cliArgs := []string{"-m", modelPath, "-f", wav, "-t", strconv.Itoa(threads), "-l", "en", "-bs", "1", "-bo", "5", "-np"}
	cold, err := interleaved(runs,
		func() error { return quietRun(cli, cliArgs...) },
		func() error {
			return quietRun(earshotBin, "transcribe", "--model", modelPath, "--language", "en", "--threads", strconv.Itoa(threads), "--format", "json", wav)
		})
	if err != nil {
		return err
	}
	cliTime, coldTime := cold[0], cold[1]

	// One engine for the warm and parallel rows: 4 workers of one thread for
	// the parallel batch; the warm single request uses `threads` threads.
	e, err := whisper.NewEngine(modelPath, whisper.LoadOptions{}, transcribe.EngineOptions{Threads: threads, Workers: 4})
	if err != nil {
		return err
	}
	defer e.Close()
	one := func(o transcribe.Options) error {
		_, err := e.Transcribe(context.Background(), transcribe.Request{Samples: a.Samples, Options: o})
		return err
	}
	if err := one(opts); err != nil { // warm up
		return err
	}
	// The warm request against whisper-cli, interleaved again, so that both
	// sides of each row ran in the same spell of this machine.
	warm, err := interleaved(runs, func() error { return quietRun(cli, cliArgs...) }, func() error { return one(opts) })
	if err != nil {
		return err
	}
	warmCLI, warmTime := warm[0], warm[1]
	rss1 := peakRSS()

	single := opts
	single.Threads = 1
	const batch = 4
	seqTime, err := medianOf(runs, func() error {
		for range batch {
			if err := one(single); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	seqBest, err := medianOf(runs, func() error {
		for range batch {
			if err := one(opts); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	parTime, err := medianOf(runs, func() error {
		var wg sync.WaitGroup
		errs := make([]error, batch)
		for i := range batch {
			wg.Go(func() { errs[i] = one(single) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rss4 := peakRSS()
	perWorker := (rss4 - rss1) / 3

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tearshot\tbaseline\tratio\ttarget\tmet\t")
	row := func(name string, ours, base time.Duration, target float64, higherBetter bool) {
		ratio := ours.Seconds() / base.Seconds()
		met := ratio <= target
		cmp := "<="
		if higherBetter {
			ratio = base.Seconds() / ours.Seconds()
			met = ratio >= target
			cmp = ">="
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s %.2f\t%s\t\n", name, fmtDur(ours), fmtDur(base), ratio, cmp, target, yes(met))
	}
	row(fmt.Sprintf("warm engine request vs whisper-cli (%d threads)", threads), warmTime, warmCLI, 0.95, false)
	row("earshot transcribe cold start vs whisper-cli", coldTime, cliTime, 1.05, false)
	row("4 parallel (4 workers x 1 thread) vs sequential x 1 thread: throughput", parTime, seqTime, 1.0, true)
	row(fmt.Sprintf("4 parallel (4 workers x 1 thread) vs sequential x %d threads: throughput", threads), parTime, seqBest, 1.0, true)
	fmt.Fprintf(tw, "peak RSS, 1 worker -> 4 workers\t%.0f MB\t%.0f MB\t+%.0f MB/worker\t< %.0f MB (model)\t%s\t\n",
		rss4, rss1, perWorker, modelMB, yes(perWorker < modelMB))
	return tw.Flush()
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func medianOf(n int, f func() error) (time.Duration, error) {
	times := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		times = append(times, time.Since(start))
	}
	return median(times), nil
}

// loadAudio reads a file and decodes it as earshot does.
func loadAudio(path string) ([]byte, *audio.Audio, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	a, err := audio.Decoder{}.Decode(context.Background(), data)
	return data, a, err
}

// interleaved runs each function n times, in turn (a, b, a, b, ...), and
// returns their medians: a machine whose speed drifts slows both alike.
func interleaved(n int, fs ...func() error) ([]time.Duration, error) {
	times := make([][]time.Duration, len(fs))
	for range n {
		for i, f := range fs {
			start := time.Now()
			if err := f(); err != nil {
				return nil, err
			}
			times[i] = append(times[i], time.Since(start))
		}
	}
	meds := make([]time.Duration, len(fs))
	for i, t := range times {
		meds[i] = median(t)
	}
	return meds, nil
}

func median(times []time.Duration) time.Duration {
	s := append([]time.Duration{}, times...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func quietRun(name string, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, lastLine(stderr.String()))
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// peakRSS is this process's peak resident set in MB (VmHWM).
func peakRSS() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
