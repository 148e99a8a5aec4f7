package audio

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// Files people send by mistake are named in the error, which also lists
// what earshot reads, and still wraps ErrUnsupported (HTTP 415).
func TestNotAudioSaysWhatItIs(t *testing.T) {
	long := strings.Repeat("Ünïcödé text, ", textPrefix/8) // a character is cut at the prefix's end
	tests := []struct {
		name string
		data string
		want string // what sniffOther says; "" for nothing known
	}{
		{"png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"},
		{"jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00", "a JPEG image"},
		{"gif87", "GIF87a\x01\x00\x01\x00", "a GIF image"},
		{"gif89", "GIF89a\x01\x00\x01\x00", "a GIF image"},
		{"webp", "RIFF\x24\x00\x00\x00WEBPVP8 ", "a WebP image"},
		{"pdf", "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"},
		{"zip", "PK\x03\x04\x14\x00\x00\x00", "a ZIP archive (or a document inside one: docx, xlsx, odt, epub, jar)"},
		{"empty zip", "PK\x05\x06" + strings.Repeat("\x00", 18), "a ZIP archive (empty)"},
		{"gzip", "\x1f\x8b\x08\x00", "a gzip file"},
		{"elf", "\x7fELF\x02\x01\x01", "a program (ELF executable)"},
		{"ole", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", "an old Microsoft Office document"},
		{"text", "hello, this is not audio\n", "text"},
		{"text with bom", "\xef\xbb\xbfnotes\r\n", "text"},
		{"long text", long, "text"},
		{"html", "\n  <!DOCTYPE html><html><body>hi</body></html>", "an HTML page"},
		{"html no doctype", "<HTML><body>hi</body></HTML>", "an HTML page"},
		{"xml", `<?xml version="1.0"?><a/>`, "an XML document"},
		{"json object", `{"text": "hello"}`, "JSON"},
		{"json array", " [1, 2, 3]\n", "JSON"},
		{"braces but not json", "{not json}", "text"},
		{"binary", "\x00\x01\x02\x03\xfe", ""},
		{"invalid utf-8", "abc\xff\xfedef", ""},
		{"control characters", "abc\x01def", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sniff([]byte(tt.data)); got != "" {
				t.Fatalf("Sniff says %q: not a case for sniffOther", got)
			}
			if got := sniffOther([]byte(tt.data)); got != tt.want {
				t.Errorf("sniffOther = %q, want %q", got, tt.want)
			}
			_, err := Decoder{}.Decode(context.Background(), []byte(tt.data))
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Decode: %v, want ErrUnsupported", err)
			}
			want := "this is " + tt.want + ", not audio; earshot reads WAV, MP3 and FLAC, and through ffmpeg Ogg"
			if tt.want == "" {
				want = "the data is not audio in any format earshot knows; earshot reads WAV, MP3 and FLAC"
			}
			if !strings.Contains(err.Error(), want) || !strings.HasSuffix(err.Error(), "(ffmpeg is not installed here)") {
				t.Errorf("Decode: %q, want it to say %q and that ffmpeg is not installed", err, want)
			}
		})
	}
	// With ffmpeg, no remark about it.
	_, err := Decoder{FFmpeg: "/usr/bin/ffmpeg"}.Decode(context.Background(), []byte("hello\n"))
	if err == nil || strings.Contains(err.Error(), "not installed") || !strings.HasSuffix(err.Error(), "AMR and WMA") {
		t.Errorf("with ffmpeg: %v", err)
	}
}

// sniffOther reads outside bytes: it must not panic, and text is only ever
// said of valid UTF-8.
func FuzzSniffOther(f *testing.F) {
	for _, s := range []string{"\x89PNG\r\n\x1a\n", "%PDF-", "PK\x03\x04", "hello", `{"a":1}`, "<html>", "\xef\xbb\xbf", "é"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := sniffOther(data)
		switch got {
		case "text", "JSON", "an HTML page", "an XML document":
			head := bytes.TrimPrefix(data[:min(len(data), textPrefix)], []byte("\xef\xbb\xbf"))
			for len(head) > 0 && !utf8.Valid(head) && len(data) > textPrefix {
				head = head[:len(head)-1] // a character cut at the prefix's end
			}
			if !utf8.Valid(head) {
				t.Errorf("%q is said to be %s", data, got)
			}
		}
	})
}
