package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcribe/whisper"
)

// speechBench measures speech-aware decoding: what a VAD costs next to the
// transcription it saves, a 10-minute recording cut at pauses and decoded
// on every worker against one unchunked run on the same threads, and how
// fast a file of silence is answered with and without VAD.
func speechBench(modelPath, vadPath, audioDir string, runs, threads int, long10 bool) error {
	clips := []string{"jfk.wav", "librispeech-1995-1837-0001.wav", "cmu-arctic-aew-a0001.wav", "ljspeech-LJ002-0020.wav"}
	var speech []float32
	for _, c := range clips {
		_, a, err := loadAudio(filepath.Join(audioDir, c))
		if err != nil {
			return err
		}
		speech = append(speech, a.Samples...)
		speech = append(speech, make([]float32, transcribe.SampleRate)...) // a 1 s pause
	}
	repeat := func(d time.Duration) []float32 {
		var out []float32
		for time.Duration(len(out))*time.Second/transcribe.SampleRate < d {
			out = append(out, speech...)
		}
		return out[:int(d.Seconds()*transcribe.SampleRate)]
	}
	minute, tenMinutes := repeat(time.Minute), repeat(10*time.Minute)

	vads := []transcribe.VAD{transcribe.EnergyVAD{}}
	if vadPath != "" {
		if _, err := os.Stat(vadPath); err == nil {
			v, err := whisper.LoadVAD(vadPath, whisper.VADLoadOptions{})
			if err != nil {
				return err
			}
			defer v.Close()
			vads = append([]transcribe.VAD{v}, vads...)
		}
	}
	fmt.Printf("\nspeech-aware decoding: %d clips with 1 s pauses, repeated; synthetic tiny model, %d threads, greedy, no temperature fallback\n\n", len(clips), threads)

	// Whisper on one minute, the cost the VAD is measured against.
	one, err := whisper.NewEngine(modelPath, whisper.LoadOptions{}, transcribe.EngineOptions{Threads: threads, Workers: 1})
	if err != nil {
		return err
	}
	defer one.Close()
	opts := transcribe.Options{Language: "en"}
	fmt.Println("timing whisper on one minute, the VADs, then 10 minutes both ways (a few minutes)...")
	whisperMinute, err := medianOf(max(1, runs/2), func() error {
		_, err := one.Transcribe(context.Background(), transcribe.Request{Samples: minute, Options: opts})
		return err
	})
	if err != nil {
		return err
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tearshot\tbaseline\tratio\ttarget\tmet\t")
	for _, v := range vads {
		d, err := medianOf(runs, func() error {
			_, err := v.Detect(context.Background(), minute, transcribe.DefaultServerVAD().VADOptions())
			return err
		})
		if err != nil {
			return err
		}
		r := d.Seconds() / whisperMinute.Seconds()
		fmt.Fprintf(tw, "VAD (%s) on 1 min vs transcribing it\t%s\t%s\t%.3f\t<= 0.010\t%s\t\n", v.Name(), fmtDur(d), fmtDur(whisperMinute), r, yes(r <= 0.01))
	}

	// Silence: answered by the VAD alone, against whisper hearing it.
	_, quiet, err := loadAudio(filepath.Join(audioDir, "silence-noise-1.5s.wav"))
	if err != nil {
		return err
	}
	withVAD := pipeline.New(pipeline.Config{Engine: one, VAD: vads[0], Decoder: audio.Decoder{}})
	sil, err := interleaved(runs,
		func() error {
			_, err := withVAD.Transcribe(context.Background(), pipeline.Request{Samples: quiet.Samples, Options: opts})
			return err
		},
		func() error {
			_, err := withVAD.Transcribe(context.Background(), pipeline.Request{Samples: quiet.Samples, Options: opts, NoVAD: true})
			return err
		})
	if err != nil {
		return err
	}
	r := sil[0].Seconds() / sil[1].Seconds()
	fmt.Fprintf(tw, "1.5 s of noise, VAD (%s) vs whisper: latency\t%s\t%s\t%.3f\t<= 0.10\t%s\t\n", vads[0].Name(), fmtDur(sil[0]), fmtDur(sil[1]), r, yes(r <= 0.1))
	if !long10 {
		return tw.Flush()
	}
	// Ten minutes: cut at pauses on `threads` workers of one thread, against
	// one unchunked run with `threads` threads (the same cores).
	long := opts
	chunkedEngine, err := whisper.NewEngine(modelPath, whisper.LoadOptions{}, transcribe.EngineOptions{Threads: 1, Workers: threads, Queue: 64})
	if err != nil {
		return err
	}
	defer chunkedEngine.Close()
	chunked := pipeline.New(pipeline.Config{Engine: chunkedEngine, VAD: vads[0], ChunkParallel: threads})
	plain := pipeline.New(pipeline.Config{Engine: one})
	var pieces int
	times, err := interleaved(1,
		func() error {
			sv := transcribe.DefaultServerVAD()
			res, err := chunked.Transcribe(context.Background(), pipeline.Request{Samples: tenMinutes, Options: long, Chunking: &sv})
			if err == nil {
				pieces = res.Result.Chunks
			}
			return err
		},
		func() error {
			_, err := plain.Transcribe(context.Background(), pipeline.Request{Samples: tenMinutes, Options: long})
			return err
		})
	if err != nil {
		return err
	}
	r = times[0].Seconds() / times[1].Seconds()
	fmt.Fprintf(tw, "10 min, chunking auto (%d pieces, %d workers x 1 thread) vs one run (1 x %d threads): wall time\t%s\t%s\t%.2f\t<= 0.80\t%s\t\n",
		pieces, threads, threads, fmtDur(times[0]), fmtDur(times[1]), r, yes(r <= 0.8))

	return tw.Flush()
}
