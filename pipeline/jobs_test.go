package pipeline_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
	"github.com/earshot-dev/earshot/transcribe"
)

// Plan, pieces transcribed in any order, and Stitch give what Transcribe
// gives for the same chunked request.
func TestPlanPiecesStitch(t *testing.T) {
	var samples []float32
	for _, n := range []string{"jfk.wav", "librispeech-1995-1837-0001.wav", "cmu-arctic-aew-a0001.wav", "ljspeech-LJ002-0020.wav", "jfk.wav"} {
		samples = append(samples, clip(t, n)...)
		samples = append(samples, make([]float32, transcribe.SampleRate)...)
	}
	sv := transcribe.DefaultServerVAD()
	raw := agentmode.Options{Mode: agentmode.Raw}
	req := pipeline.Request{ID: "job_1", Samples: samples, Chunking: &sv, Format: &raw}
	want, err := withVAD(t, &pipelinetest.Engine{Text: "One two. Three four."}, 1).Transcribe(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	p := withVAD(t, &pipelinetest.Engine{Text: "One two. Three four."}, 1)
	plan, err := p.Plan(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Pieces) != want.Result.Chunks || len(plan.Pieces) < 2 {
		t.Fatalf("%d pieces, Transcribe made %d chunks", len(plan.Pieces), want.Result.Chunks)
	}
	results := make([]*transcribe.Result, len(plan.Pieces))
	for _, i := range rand.Perm(len(plan.Pieces)) {
		if results[i], err = p.TranscribePiece(context.Background(), req, plan.Pieces[i]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := p.Stitch(context.Background(), req, plan, results, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	g, w := got.Result, want.Result
	if g.Text() != w.Text() || len(g.Segments) != len(w.Segments) || g.Duration != w.Duration || len(g.Speech) != len(w.Speech) || g.Chunks != w.Chunks {
		t.Fatalf("stitched %q (%d segments, %.2f s, %d regions, %d chunks), Transcribe %q (%d, %.2f s, %d, %d)", g.Text(), len(g.Segments),
			g.Duration, len(g.Speech), g.Chunks, w.Text(), len(w.Segments), w.Duration, len(w.Speech), w.Chunks)
	}
	for i := range g.Segments {
		a, b := g.Segments[i], w.Segments[i]
		if a.ID != b.ID || math.Abs(a.Start-b.Start) > 1e-3 || math.Abs(a.End-b.End) > 1e-3 {
			t.Errorf("segment %d: %.4f-%.4f (id %d), Transcribe %.4f-%.4f (id %d)", i, a.Start, a.End, a.ID, b.Start, b.End, b.ID)
		}
	}
	if got.Output == nil || len(got.Output.JSON) == 0 {
		t.Error("no formatted output")
	}
}
