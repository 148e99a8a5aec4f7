package jobs

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Sealed audio opens with the same key and place only.
func TestSeal(t *testing.T) {
	s, err := newSealer(bytes.Repeat([]byte{1}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newSealer(bytes.Repeat([]byte{2}, KeySize))
	samples := []float32{0, 0.5, -1, 1e-7, 0.25}
	sealed := s.seal(samples, aad("job_a", 0))
	if bytes.Contains(sealed, []byte{0, 0, 0, 0x3f}) { // 0.5 as a little-endian float32
		t.Error("the sealed bytes hold the plain samples")
	}
	got, err := s.open(sealed, aad("job_a", 0))
	if err != nil || len(got) != len(samples) {
		t.Fatalf("open: %v, %v", got, err)
	}
	for i := range got {
		if got[i] != samples[i] {
			t.Fatalf("sample %d: %v, want %v", i, got[i], samples[i])
		}
	}
	for _, tc := range []struct {
		name string
		s    *sealer
		b    []byte
		aad  string
	}{
		{"another key", other, sealed, aad("job_a", 0)},
		{"another piece", s, sealed, aad("job_a", 1)},
		{"another job", s, sealed, aad("job_b", 0)},
		{"cut short", s, sealed[:5], aad("job_a", 0)},
		{"flipped bit", s, append(append([]byte(nil), sealed[:20]...), append([]byte{sealed[20] ^ 1}, sealed[21:]...)...), aad("job_a", 0)},
	} {
		if _, err := tc.s.open(tc.b, tc.aad); err == nil {
			t.Errorf("%s: opened", tc.name)
		}
	}
}

func TestParseKey(t *testing.T) {
	hexKey := strings.Repeat("ab", KeySize)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{hexKey, true},
		{" " + hexKey + "\n", true},
		{"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", true}, // 32 bytes, base64
		{hexKey[:62], false},
		{"", false},
		{"secret", false},
	} {
		k, err := ParseKey(tc.in)
		if (err == nil) != tc.ok || (tc.ok && len(k) != KeySize) {
			t.Errorf("ParseKey(%q) = %x, %v; want ok %v", tc.in, k, err, tc.ok)
		}
	}
}

func TestSignature(t *testing.T) {
	secret, body, at := []byte("s3cret"), []byte(`{"type":"transcription.job.succeeded"}`), time.Unix(1767225600, 0)
	sig := Signature(secret, body, at)
	for _, tc := range []struct {
		name   string
		secret []byte
		body   []byte
		header string
		now    time.Time
		want   bool
	}{
		{"good", secret, body, sig, at.Add(time.Minute), true},
		{"other secret", []byte("x"), body, sig, at, false},
		{"other body", secret, append(body, ' '), sig, at, false},
		{"too old", secret, body, sig, at.Add(time.Hour), false},
		{"no v1", secret, body, "t=1767225600", at, false},
		{"garbage", secret, body, "v1=zz,t=now", at, false},
	} {
		if got := Verify(tc.secret, tc.body, tc.header, tc.now, 5*time.Minute); got != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzVerify: a receiver parses whatever arrives in the header; it must
// never panic nor accept what was not signed with the secret.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("{}"), "t=1767225600,v1=00")
	f.Add([]byte(""), ",,==t=,v1=")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		if Verify([]byte("s3cret"), body, header, time.Unix(1767225600, 0), time.Hour) &&
			header != Signature([]byte("s3cret"), body, parseT(header)) {
			t.Fatalf("accepted %q for %q", header, body)
		}
	})
}

func parseT(h string) time.Time {
	for _, kv := range strings.Split(h, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "t="); ok {
			var sec int64
			for _, c := range v {
				sec = sec*10 + int64(c-'0')
			}
			return time.Unix(sec, 0)
		}
	}
	return time.Time{}
}
