package transcribe

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// SpliceGap is the silence Splice puts between two speech regions, so that
// whisper hears a pause where one was (whisper.cpp's own VAD path inserts
// the same 0.1 s).
const SpliceGap = 100 * time.Millisecond

// TimeMap maps times in spliced audio (what whisper saw) back to times in
// the original audio. It is monotone: a time inside a region moves by that
// region's offset, and a time inside an inserted gap maps proportionally
// onto the original pause it stands for, so segments keep their order and
// never overlap after mapping. The zero value maps every time to itself.
type TimeMap struct {
	pieces   []piece
	original float64 // seconds of original audio
}

// piece is one speech region: where it starts in the spliced audio and in
// the original, and its length, in seconds.
type piece struct{ spliced, original, length float64 }

// Regions are the speech regions the map was built from, in original time.
func (m TimeMap) Regions() []Speech {
	out := make([]Speech, len(m.pieces))
	for i, p := range m.pieces {
		out[i] = Speech{Start: seconds(p.original), End: seconds(p.original + p.length)}
	}
	return out
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// Original maps t, seconds in the spliced audio, to seconds in the original.
func (m TimeMap) Original(t float64) float64 {
	if len(m.pieces) == 0 {
		return t
	}
	// The last piece that starts at or before t.
	i := sort.Search(len(m.pieces), func(i int) bool { return m.pieces[i].spliced > t }) - 1
	if i < 0 {
		return m.pieces[0].original
	}
	p := m.pieces[i]
	if t <= p.spliced+p.length {
		return p.original + (t - p.spliced)
	}
	end := p.original + p.length
	if i+1 == len(m.pieces) {
		return min(end+(t-p.spliced-p.length), max(m.original, end))
	}
	// Inside the gap before piece i+1: spread it over the original pause.
	next := m.pieces[i+1]
	gap := next.spliced - (p.spliced + p.length)
	if gap <= 0 {
		return next.original
	}
	frac := (t - p.spliced - p.length) / gap
	return end + frac*(next.original-end)
}

// Splice builds the audio whisper should see when only speech is to be
// transcribed: the samples of each region (as a VAD returned them, padding
// included), in order, with gap of silence between regions, and the map
// from its times back to the original's. Regions are clamped to the audio;
// overlapping or touching regions are merged. No regions gives no samples.
func Splice(samples []float32, speech []Speech, gap time.Duration) ([]float32, TimeMap, error) {
	if gap < 0 {
		return nil, TimeMap{}, fmt.Errorf("%w: splice gap %v is negative", ErrInvalidOptions, gap)
	}
	m := TimeMap{original: float64(len(samples)) / SampleRate}
	regions := normalize(speech, len(samples))
	gapN := durationToSamples(gap)
	n := 0
	for _, r := range regions {
		n += r[1] - r[0]
	}
	if len(regions) > 1 {
		n += gapN * (len(regions) - 1)
	}
	out := make([]float32, 0, n)
	for i, r := range regions {
		if i > 0 {
			out = append(out, make([]float32, gapN)...)
		}
		m.pieces = append(m.pieces, piece{
			spliced:  float64(len(out)) / SampleRate,
			original: float64(r[0]) / SampleRate,
			length:   float64(r[1]-r[0]) / SampleRate,
		})
		out = append(out, samples[r[0]:r[1]]...)
	}
	return out, m, nil
}

// normalize turns regions into sorted, merged, clamped sample ranges.
func normalize(speech []Speech, n int) [][2]int {
	var rs [][2]int
	for _, s := range speech {
		a := min(max(durationToSamples(s.Start), 0), n)
		b := min(max(durationToSamples(s.End), 0), n)
		if b > a {
			rs = append(rs, [2]int{a, b})
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
	var out [][2]int
	for _, r := range rs {
		if k := len(out) - 1; k >= 0 && r[0] <= out[k][1] {
			out[k][1] = max(out[k][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// Remap moves every time in r (segments, tokens, words) from spliced time to
// original time with m, in place, and sets r.Duration to the original
// audio's length.
func (m TimeMap) Remap(r *Result) {
	if len(m.pieces) == 0 && m.original == 0 {
		return
	}
	for i := range r.Segments {
		s := &r.Segments[i]
		s.Start, s.End = m.Original(s.Start), m.Original(s.End)
		for j := range s.Tokens {
			t := &s.Tokens[j]
			t.Start, t.End = m.Original(t.Start), m.Original(t.End)
		}
	}
	for i := range r.Words {
		w := &r.Words[i]
		w.Start, w.End = m.Original(w.Start), m.Original(w.End)
	}
	r.Duration = m.original
}

// Shift moves every time in r (segments, tokens, words) later by offset
// seconds, in place: a chunk decoded on its own starts at 0, and this puts
// it back where it lies in the whole recording.
func Shift(r *Result, offset float64) {
	for i := range r.Segments {
		s := &r.Segments[i]
		s.Start += offset
		s.End += offset
		for j := range s.Tokens {
			s.Tokens[j].Start += offset
			s.Tokens[j].End += offset
		}
	}
	for i := range r.Words {
		r.Words[i].Start += offset
		r.Words[i].End += offset
	}
}

// MaxChunk is the longest chunk whisper decodes in one window.
const MaxChunk = 30 * time.Second

// ServerVAD is OpenAI's chunking_strategy {"type": "server_vad", ...}: how
// long audio is cut at pauses before it is decoded in parallel.
// DefaultServerVAD is OpenAI's defaults (also what "auto" means here).
type ServerVAD struct {
	// PrefixPadding is prefix_padding_ms: audio kept before detected
	// speech. earshot keeps as much after it.
	PrefixPadding time.Duration
	// SilenceDuration is silence_duration_ms: the pause that ends speech.
	SilenceDuration time.Duration
	// Threshold is the VAD threshold, 0..1 (0 means 0.5).
	Threshold float32
	// MaxChunk is the longest chunk (0, or anything over MaxChunk, means
	// MaxChunk).
	MaxChunk time.Duration
}

// DefaultServerVAD is OpenAI's server_vad defaults: 300 ms of padding,
// 200 ms of silence ends speech, threshold 0.5, and whisper's 30 s window.
func DefaultServerVAD() ServerVAD {
	return ServerVAD{PrefixPadding: 300 * time.Millisecond, SilenceDuration: 200 * time.Millisecond, Threshold: 0.5, MaxChunk: MaxChunk}
}

// ServerVADFromOpenAI takes the fields of OpenAI's server_vad object as
// sent (milliseconds; nil where absent, which keeps the default) and checks
// them.
func ServerVADFromOpenAI(prefixPaddingMS, silenceDurationMS *int, threshold *float64) (ServerVAD, error) {
	s := DefaultServerVAD()
	if prefixPaddingMS != nil {
		if *prefixPaddingMS < 0 || *prefixPaddingMS > 10000 {
			return s, fmt.Errorf("%w: prefix_padding_ms %d is outside 0..10000", ErrInvalidOptions, *prefixPaddingMS)
		}
		s.PrefixPadding = time.Duration(*prefixPaddingMS) * time.Millisecond
	}
	if silenceDurationMS != nil {
		if *silenceDurationMS < 0 || *silenceDurationMS > 10000 {
			return s, fmt.Errorf("%w: silence_duration_ms %d is outside 0..10000", ErrInvalidOptions, *silenceDurationMS)
		}
		s.SilenceDuration = time.Duration(*silenceDurationMS) * time.Millisecond
	}
	if threshold != nil {
		if math.IsNaN(*threshold) || *threshold <= 0 || *threshold >= 1 {
			return s, fmt.Errorf("%w: threshold %v is outside (0, 1)", ErrInvalidOptions, *threshold)
		}
		s.Threshold = float32(*threshold)
	}
	return s, nil
}

// VADOptions are the VAD settings these chunking options mean: Pad is the
// prefix padding, MinSilence the silence duration, MinSpeech whisper.cpp's
// default, and MaxSpeech the chunk limit, so that the VAD already cuts
// over-long speech at a pause.
func (s ServerVAD) VADOptions() VADOptions {
	return VADOptions{
		Threshold:  s.Threshold,
		MinSpeech:  DefaultVADOptions().MinSpeech,
		MinSilence: s.SilenceDuration,
		Pad:        s.PrefixPadding,
		MaxSpeech:  s.maxChunk(),
	}
}

func (s ServerVAD) maxChunk() time.Duration {
	if s.MaxChunk <= 0 || s.MaxChunk > MaxChunk {
		return MaxChunk
	}
	return s.MaxChunk
}

// Chunk is a stretch of the original audio decoded on its own: [Start, End)
// holds Speech, the regions in it (original time).
type Chunk struct {
	Start  time.Duration `json:"start"`
	End    time.Duration `json:"end"`
	Speech []Speech      `json:"speech"`
}

// Chunks cuts audio at pauses into chunks of at most s's MaxChunk for
// parallel decoding: consecutive speech regions are grouped while the group
// still fits; a region longer than the limit on its own is cut at its
// quietest 20 ms in the last half of each span that fits (the VAD normally
// did that already, at a real pause, via VADOptions.MaxSpeech). Chunks are
// in order and do not overlap; together they hold all the speech.
func (s ServerVAD) Chunks(samples []float32, speech []Speech) []Chunk {
	limit := durationToSamples(s.maxChunk())
	var pieces [][2]int
	for _, r := range normalize(speech, len(samples)) {
		for r[1]-r[0] > limit {
			cut := quietest(samples, r[0]+limit/2, r[0]+limit)
			pieces = append(pieces, [2]int{r[0], cut})
			r[0] = cut
		}
		pieces = append(pieces, r)
	}
	var out []Chunk
	var cur [][2]int
	flush := func() {
		if len(cur) == 0 {
			return
		}
		c := Chunk{Start: samplesToDuration(cur[0][0]), End: samplesToDuration(cur[len(cur)-1][1])}
		for _, p := range cur {
			c.Speech = append(c.Speech, Speech{Start: samplesToDuration(p[0]), End: samplesToDuration(p[1])})
		}
		out = append(out, c)
		cur = nil
	}
	for _, p := range pieces {
		if len(cur) > 0 && p[1]-cur[0][0] > limit {
			flush()
		}
		cur = append(cur, p)
	}
	flush()
	return out
}

// quietest returns the start of the quietest 20 ms frame in [from, to).
func quietest(samples []float32, from, to int) int {
	const frame = SampleRate / 50
	best, bestE := to, math.Inf(1)
	for at := from; at+frame <= to; at += frame {
		var e float64
		for _, x := range samples[at : at+frame] {
			e += float64(x) * float64(x)
		}
		if e < bestE {
			best, bestE = at, e
		}
	}
	return best
}
