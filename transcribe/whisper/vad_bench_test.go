//go:build cgo

package whisper_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/vadtest"
	"github.com/earshot-dev/earshot/transcribe/whisper"
)

// minuteOfSpeech is jfk.wav repeated to one minute.
func minuteOfSpeech(b *testing.B) []float32 {
	jfk := vadtest.Load(b, "jfk.wav")
	s := make([]float32, 0, 60*transcribe.SampleRate)
	for len(s) < cap(s) {
		s = append(s, jfk[:min(len(jfk), cap(s)-len(s))]...)
	}
	return s
}

// BenchmarkVAD is the cost of VAD per minute of audio (reported as
// ms/audio-min), for Silero in whisper.cpp and for the energy fallback, to
// set against a tiny-model transcription of the same audio (make bench):
//
//	go test -run '^$' -bench BenchmarkVAD -benchtime 5x ./transcribe/whisper/
func BenchmarkVAD(b *testing.B) {
	s := minuteOfSpeech(b)
	o := transcribe.DefaultVADOptions()
	run := func(b *testing.B, v transcribe.VAD) {
		for b.Loop() {
			if _, err := v.Detect(context.Background(), s, o); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/audio-min")
	}
	for _, threads := range []int{1, 2} {
		b.Run("silero-v5/threads="+strconv.Itoa(threads), func(b *testing.B) {
			v, err := whisper.LoadVAD(vadtest.SileroModel(b, "v5"), whisper.VADLoadOptions{Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			run(b, v)
		})
	}
	b.Run("energy", func(b *testing.B) { run(b, transcribe.EnergyVAD{}) })
}
