package live

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
)

func TestAgree(t *testing.T) {
	w := strings.Fields
	for _, tc := range []struct {
		name            string
		prev, cur, sent string
		want            string
	}{
		{"first decode", "", "hello there", "", ""},
		{"two agree", "hello there", "hello there how", "", "hello there"},
		{"grows", "hello there how", "hello there how are", "hello there", "hello there how"},
		{"disagree after sent", "hello there how", "hello where how", "hello", "hello"},
		{"disagree with sent", "yellow there", "yellow there now", "hello", "hello"},
		{"shorter", "hello there how are you", "hello there", "hello", "hello there"},
		{"never shrinks", "a b", "a", "a b", "a b"},
	} {
		if got := strings.Join(agree(w(tc.prev), w(tc.cur), w(tc.sent)), " "); got != tc.want {
			t.Errorf("%s: agree(%q, %q, sent %q) = %q, want %q", tc.name, tc.prev, tc.cur, tc.sent, got, tc.want)
		}
	}
}

func TestExtend(t *testing.T) {
	w := strings.Fields
	for _, tc := range []struct{ sent, final, want string }{
		{"", "one two", "one two"},
		{"one", "one two", "one two"},
		{"one two", "one two", "one two"},
		{"one two", "won two three", "one two three"},
		{"one two three", "one", "one two three"},
	} {
		got := strings.Join(extend(w(tc.sent), w(tc.final)), " ")
		if got != tc.want {
			t.Errorf("extend(%q, %q) = %q, want %q", tc.sent, tc.final, got, tc.want)
		}
		if !strings.HasPrefix(got, tc.sent) {
			t.Errorf("extend(%q, %q) = %q does not begin with what was sent", tc.sent, tc.final, got)
		}
	}
}

func TestSemanticSilence(t *testing.T) {
	for _, tc := range []struct {
		eagerness, text string
		want            time.Duration
	}{
		{"auto", "Book a table for two.", 500 * time.Millisecond},
		{"auto", "Book a table for two and", 4 * time.Second},
		{"high", "Book a table for, um", 2 * time.Second},
		{"low", "Send it to the", 8 * time.Second},
		{"medium", "Book a table,", 4 * time.Second},
		{"medium", "Book a table for two", time.Second},
		{"low", "What time is it?", 900 * time.Millisecond},
		{"high", "", 500 * time.Millisecond},
	} {
		if got := semanticSilence(tc.eagerness, tc.text); got != tc.want {
			t.Errorf("semanticSilence(%s, %q) = %s, want %s", tc.eagerness, tc.text, got, tc.want)
		}
	}
}

// Converting block by block, in chunks of any size, gives the samples of
// the whole stream decoded at once.
func TestConverterMatchesWholeDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range []Format{PCM24k, PCM16k, PCMU, PCMA} {
		n := f.Rate * 3 / 2 * f.frameBytes() // 1.5 s
		raw := make([]byte, n)
		if f.frameBytes() == 2 {
			for i := 0; i < n/2; i++ {
				v := int16(8000 * math.Sin(float64(i)*0.05) * (1 + 0.3*rng.Float64()))
				raw[2*i], raw[2*i+1] = byte(v), byte(uint16(v)>>8)
			}
		} else {
			for i := range raw {
				raw[i] = byte(rng.IntN(256))
			}
		}
		whole, err := audio.Decoder{}.Decode(context.Background(), wav(f, raw))
		if err != nil {
			t.Fatal(err)
		}
		c := converter{f: f}
		var got []float32
		for off := 0; off < len(raw); {
			k := min(1+rng.IntN(3000), len(raw)-off) // odd sizes split samples
			out, err := c.push(raw[off : off+k])
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out...)
			off += k
		}
		out, err := c.flush()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out...)
		if len(got) != len(whole.Samples) {
			t.Fatalf("%v: %d samples, want %d", f, len(got), len(whole.Samples))
		}
		for i := range got {
			if d := math.Abs(float64(got[i] - whole.Samples[i])); d > 1e-5 {
				t.Fatalf("%v: sample %d is %v, want %v", f, i, got[i], whole.Samples[i])
			}
		}
	}
}

// The energy detector finds the two sentences of turns.wav where they are.
func TestVADDetectorFindsSpeech(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "turns.wav"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := audio.Decoder{}.Decode(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := VADDetector{transcribe.EnergyVAD{}}.Detect(context.Background(), a.Samples, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	want := []Span{{800 * time.Millisecond, 3371 * time.Millisecond}, {4971 * time.Millisecond, 7196 * time.Millisecond}}
	// espeak pauses between words are shorter than a turn's silence but
	// may split a sentence: join spans closer than 400 ms.
	var joined []Span
	for _, s := range spans {
		if k := len(joined) - 1; k >= 0 && s.Start-joined[k].End < 400*time.Millisecond {
			joined[k].End = s.End
			continue
		}
		joined = append(joined, s)
	}
	if len(joined) != len(want) {
		t.Fatalf("spans %v, want about %v", spans, want)
	}
	for i, s := range joined {
		if d := s.Start - want[i].Start; d.Abs() > 100*time.Millisecond {
			t.Errorf("span %d starts at %s, want %s", i, s.Start, want[i].Start)
		}
		if d := s.End - want[i].End; d.Abs() > 100*time.Millisecond {
			t.Errorf("span %d ends at %s, want %s", i, s.End, want[i].End)
		}
	}
	quiet, _ := VADDetector{transcribe.EnergyVAD{}}.Detect(context.Background(), make([]float32, 32000), 0.5)
	if len(quiet) != 0 {
		t.Errorf("silence has speech: %v", quiet)
	}
}

func FuzzSettings(f *testing.F) {
	f.Add([]byte(`{"type":"transcription","audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"turn_detection":null}}}`), false)
	f.Add([]byte(`{"input_audio_format":"pcm16","turn_detection":{"type":"server_vad","silence_duration_ms":300}}`), true)
	f.Add([]byte(`{"audio":{"input":{"turn_detection":{"type":"semantic_vad","eagerness":"low"}}},"earshot":{"mode":"agent"}}`), false)
	f.Fuzz(func(t *testing.T, b []byte, beta bool) {
		s := defaultSettings("whisper-1")
		apply := s.applyGA
		if beta {
			apply = s.applyBeta
		}
		got, err := apply(b, func(string) error { return nil })
		if err != nil {
			if got != s {
				t.Errorf("a refused update changed the settings")
			}
			return
		}
		if _, ok := map[Format]bool{PCM24k: true, PCM16k: true, PCMU: true, PCMA: true}[got.format]; !ok {
			t.Errorf("format %v", got.format)
		}
		if td := got.turn; td != nil && (td.Threshold < 0 || td.Threshold > 1 || td.SilenceDurationMS < 0) {
			t.Errorf("turn detection %+v", td)
		}
	})
}
