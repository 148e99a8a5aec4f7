package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcripts"
)

func clip(t *testing.T, name string) []float32 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "audio", name))
	if err != nil {
		t.Fatal(err)
	}
	a, err := audio.Decoder{}.Decode(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return a.Samples
}

func withVAD(t *testing.T, e pipeline.Engine, parallel int) *pipeline.Pipeline {
	t.Helper()
	f, err := agentmode.New()
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.New(pipeline.Config{Engine: e, Decoder: audio.Decoder{}, Formatter: f,
		Transcripts: transcripts.New(0, 0), VAD: transcribe.EnergyVAD{}, ChunkParallel: parallel})
}

// Silence and noise answer "" without whisper running at all.
func TestNoWordsOnSilence(t *testing.T) {
	for _, name := range []string{"silence-digital-1.5s.wav", "silence-noise-1.5s.wav"} {
		e := &pipelinetest.Engine{Text: "Thank you."}
		p := withVAD(t, e, 1)
		raw := agentmode.Options{Mode: agentmode.Raw}
		res, err := p.Transcribe(context.Background(), pipeline.Request{Samples: clip(t, name), Format: &raw})
		if err != nil {
			t.Fatal(err)
		}
		if e.Calls() != 0 || res.Result.Text() != "" || res.Result.VAD != "energy" || res.Result.Speech == nil || len(res.Result.Speech) != 0 {
			t.Errorf("%s: %d engine calls, text %q, vad %q, speech %v", name, e.Calls(), res.Result.Text(), res.Result.VAD, res.Result.Speech)
		}
	}
}

// Speech is what whisper hears, and its times map back to the audio.
func TestSpeechRegionsOnly(t *testing.T) {
	silence := make([]float32, 3*transcribe.SampleRate)
	speech := clip(t, "jfk.wav")
	samples := append(append(append([]float32{}, silence...), speech...), silence...)
	e := &pipelinetest.Engine{}
	p := withVAD(t, e, 1)
	res, err := p.Transcribe(context.Background(), pipeline.Request{Samples: samples})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Result
	if got := e.Samples(); len(got) != 1 || got[0] >= len(samples)-4*transcribe.SampleRate {
		t.Errorf("whisper heard %v samples of %d: the silence was not left out", got, len(samples))
	}
	if r.Duration != float64(len(samples))/transcribe.SampleRate || len(r.Speech) == 0 {
		t.Fatalf("duration %v, speech %v", r.Duration, r.Speech)
	}
	first, last := r.Segments[0], r.Segments[len(r.Segments)-1]
	if first.Start < 2.5 || last.End > 14.5 || last.End < 12 {
		t.Errorf("segments span %.2f-%.2f s; the speech is at 3-14 s", first.Start, last.End)
	}
	// Turned off, whisper hears everything.
	if _, err := p.Transcribe(context.Background(), pipeline.Request{Samples: samples, NoVAD: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.Samples(); got[len(got)-1] != len(samples) {
		t.Errorf("vad off: whisper heard %d samples of %d", got[len(got)-1], len(samples))
	}
}

// Ten minutes of real clips with pauses between them are cut at the
// pauses, decoded on two workers at once and stitched: in order, no
// overlap, nothing lost or doubled, and a stream gets the same segments
// in the same order.
func TestLongAudioIsChunked(t *testing.T) {
	var samples []float32
	names := []string{"jfk.wav", "librispeech-1995-1837-0001.wav", "cmu-arctic-aew-a0001.wav", "ljspeech-LJ002-0020.wav"}
	for len(samples) < 10*60*transcribe.SampleRate {
		for _, n := range names {
			samples = append(samples, clip(t, n)...)
			samples = append(samples, make([]float32, transcribe.SampleRate)...) // a 1 s pause
		}
	}
	e := &pipelinetest.Engine{Text: "One two three. Four five six."}
	p := withVAD(t, e, 2)
	var streamed []transcribe.Segment
	res, err := p.Transcribe(context.Background(), pipeline.Request{Samples: samples,
		OnSegment: func(s transcribe.Segment) error { streamed = append(streamed, s); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Result
	t.Logf("%.0f s of audio: %d chunks, %d segments, %d speech regions", r.Duration, r.Chunks, len(r.Segments), len(r.Speech))
	if r.Chunks < 20 || e.Calls() != r.Chunks {
		t.Fatalf("%d chunks, %d engine calls, for 10 minutes", r.Chunks, e.Calls())
	}
	if len(r.Segments) != 2*r.Chunks || len(streamed) != len(r.Segments) {
		t.Fatalf("%d segments (%d streamed) from %d chunks, want two each", len(r.Segments), len(streamed), r.Chunks)
	}
	for i, s := range r.Segments {
		if s.ID != i || s.End <= s.Start || (i > 0 && s.Start < r.Segments[i-1].End-1e-6) {
			t.Fatalf("segment %d: %+v after %+v", i, s, r.Segments[max(0, i-1)])
		}
		if streamed[i].Start != s.Start || streamed[i].Text != s.Text {
			t.Fatalf("streamed segment %d = %+v, want %+v", i, streamed[i], s)
		}
	}
	if sec := r.Segments[len(r.Segments)-1].End; sec < 590 || sec > r.Duration {
		t.Errorf("the last segment ends at %.1f s of %.1f", sec, r.Duration)
	}
	for _, n := range e.Samples() {
		if n > 30*transcribe.SampleRate {
			t.Errorf("a chunk of %.1f s: longer than whisper's 30 s window", float64(n)/transcribe.SampleRate)
		}
	}
}

// Segments whisper itself thinks are not speech are dropped, and listed.
func TestNoSpeechSegmentsDropped(t *testing.T) {
	e := &pipelinetest.Engine{NoSpeech: true}
	p := withVAD(t, e, 1)
	res, err := p.Transcribe(context.Background(), pipeline.Request{Samples: clip(t, "jfk.wav")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Result.Segments) != 0 || len(res.Result.Dropped) != 2 || !strings.Contains(res.Result.Dropped[0].Reason, "no_speech_prob") {
		t.Errorf("segments %v, dropped %+v", res.Result.Segments, res.Result.Dropped)
	}
}

// A repetition loop is decoded again without context, and flagged when
// it still loops.
func TestRepetitionRetriedAndFlagged(t *testing.T) {
	e := &pipelinetest.Engine{Text: strings.Repeat("thank you ", 12) + "."}
	p := withVAD(t, e, 1)
	res, err := p.Transcribe(context.Background(), pipeline.Request{Samples: clip(t, "jfk.wav")})
	if err != nil {
		t.Fatal(err)
	}
	if e.Calls() != 2 || !e.Last().Options.NoContext {
		t.Errorf("%d calls, last without context %v; want a retry without context", e.Calls(), e.Last().Options.NoContext)
	}
	if rep := res.Result.Segments[0].Repetition; rep == nil || rep.Reason == "" {
		t.Errorf("the loop is not flagged: %+v", res.Result.Segments[0])
	}
}

func TestChunkingNeedsVAD(t *testing.T) {
	p := withVAD(t, &pipelinetest.Engine{}, 1)
	sv := transcribe.DefaultServerVAD()
	_, err := p.Transcribe(context.Background(), pipeline.Request{Samples: clip(t, "jfk.wav"), NoVAD: true, Chunking: &sv})
	if e := pipeline.Classify(err); e.Param != "chunking_strategy" {
		t.Errorf("chunking without VAD: %v", err)
	}
	// Asked for, chunking runs on short audio too.
	res, err := p.Transcribe(context.Background(), pipeline.Request{Samples: clip(t, "jfk.wav"), Chunking: &sv})
	if err != nil || res.Result.Chunks < 1 {
		t.Errorf("chunking_strategy on 11 s: %v, %d chunks", err, res.Result.Chunks)
	}
	_ = time.Second
}

// Raw mode says what the VAD found: no speech at all as an empty list,
// else the regions, and the segments it dropped.
func TestRawModeShowsSpeech(t *testing.T) {
	raw := agentmode.Options{Mode: agentmode.Raw}
	for _, tc := range []struct {
		name   string
		engine *pipelinetest.Engine
		clip   string
		want   []string
	}{
		{"silence", &pipelinetest.Engine{}, "silence-noise-1.5s.wav", []string{`"vad":"energy"`, `"speech":[]`}},
		{"speech", &pipelinetest.Engine{}, "jfk.wav", []string{`"vad":"energy"`, `"speech":[{"start":`}},
		{"dropped", &pipelinetest.Engine{NoSpeech: true}, "jfk.wav", []string{`"dropped":[{"start":`, `"reason":"no speech`}},
	} {
		p := withVAD(t, tc.engine, 1)
		res, err := p.Transcribe(context.Background(), pipeline.Request{Samples: clip(t, tc.clip), Format: &raw})
		if err != nil {
			t.Fatal(err)
		}
		js := string(res.Output.JSON)
		for _, w := range tc.want {
			if !strings.Contains(js, w) {
				t.Errorf("%s: raw output lacks %s: %s", tc.name, w, js)
			}
		}
		if err := agentmode.Validate(res.Output.JSON); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// peakEngine records how many requests run at once.
type peakEngine struct {
	mu        sync.Mutex
	now, peak int
	took      time.Duration
}

func (e *peakEngine) Transcribe(ctx context.Context, req transcribe.Request) (*transcribe.Result, error) {
	e.mu.Lock()
	e.now++
	e.peak = max(e.peak, e.now)
	e.mu.Unlock()
	time.Sleep(e.took)
	e.mu.Lock()
	e.now--
	e.mu.Unlock()
	d := float64(len(req.Samples)) / transcribe.SampleRate
	return &transcribe.Result{Language: "en", Duration: d, Segments: []transcribe.Segment{{Start: 0, End: d, Text: " One."}}}, nil
}

// A long file's pieces run side by side while nobody else waits for the
// engine, and one at a time while others do, so that short requests are
// not stuck behind a file holding every worker.
func TestChunkedYieldsToWaitingRequests(t *testing.T) {
	var samples []float32
	for len(samples) < 4*60*transcribe.SampleRate {
		samples = append(samples, clip(t, "jfk.wav")...)
		samples = append(samples, make([]float32, transcribe.SampleRate)...)
	}
	for _, tt := range []struct {
		name     string
		waiting  int
		wantPeak int
	}{
		{"nobody waiting", 0, 3},
		{"others waiting", 2, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := &peakEngine{took: 20 * time.Millisecond}
			p := pipeline.New(pipeline.Config{Engine: e, Decoder: audio.Decoder{}, Transcripts: transcripts.New(0, 0),
				VAD: transcribe.EnergyVAD{}, ChunkParallel: 3, Waiting: func() int { return tt.waiting }})
			res, err := p.Transcribe(context.Background(), pipeline.Request{Samples: samples})
			if err != nil {
				t.Fatal(err)
			}
			if res.Result.Chunks < 6 {
				t.Fatalf("%d chunks for 4 minutes", res.Result.Chunks)
			}
			if e.peak != tt.wantPeak {
				t.Errorf("%d pieces ran at once, want %d", e.peak, tt.wantPeak)
			}
		})
	}
}
