package ggml_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
)

func synth(t testing.TB, seed uint64) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := ggml.Synthesize(&b, ggml.Test, seed); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSynthesizeIsDeterministicAndValid(t *testing.T) {
	a, b, c := synth(t, 1), synth(t, 1), synth(t, 2)
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Error("same seed gave different files")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds gave the same file")
	}
	h, err := ggml.Check(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	s := ggml.Test
	// 5 encoder tensors + ln_post (2) + 15 per encoder block;
	// 2 embeddings + ln (2) + 24 per decoder block.
	want := 5 + 2 + 15*s.AudioLayer + 2 + 2 + 24*s.TextLayer
	if h.Tensors != want || h.State != s.State || h.Vocab != s.Vocab || h.Words != 50257 || !h.Multilingual() {
		t.Errorf("header %+v, want %d tensors and test dimensions", h, want)
	}
	if len(a) > 10<<20 {
		t.Errorf("test model is %d bytes; it should be a few MB", len(a))
	}
}

func TestCheckRejectsDamage(t *testing.T) {
	good := synth(t, 1)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"magic", append([]byte("ggml"), good[4:]...)},
		{"truncated", good[:len(good)-2]},
		{"trailing byte", append(bytes.Clone(good), 1)},
		{"vocab size", patch(good, 4, 0x7fffffff)},
		{"audio ctx", patch(good, 8, 3000)},
		{"heads", patch(good, 16, 7)},
		{"mels", patch(good, 40, 81)},
		{"ftype", patch(good, 44, 99)},
		{"filter size", patch(good, 48, 1<<30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ggml.Check(bytes.NewReader(tt.data), int64(len(tt.data))); !errors.Is(err, ggml.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func patch(b []byte, off int, v uint32) []byte {
	c := bytes.Clone(b)
	c[off], c[off+1], c[off+2], c[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return c
}

// FuzzCheck: whatever the bytes, Check returns a result or ErrInvalid,
// quickly and without panicking.
func FuzzCheck(f *testing.F) {
	good := synth(f, 1)
	f.Add(good[:4096])
	f.Add(good[:200])
	f.Add([]byte("lmgg"))
	f.Add([]byte("ggml"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ggml.Check(bytes.NewReader(data), int64(len(data)))
		if err != nil && !errors.Is(err, ggml.ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
	})
}
