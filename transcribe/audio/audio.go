// Package audio turns the bytes users upload into what the engine takes:
// 16 kHz mono float32 samples, in memory. The format is sniffed from the
// bytes, never from a file name or a declared MIME type, and audio is never
// written to disk.
//
// Decode is safe for concurrent use and holds no state between calls.
package audio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"
	"unicode/utf8"

	"github.com/earshot-dev/earshot/transcribe"
)

// Errors, each wrapped with the details; surfaces map them to their own
// errors (ErrUnsupported is HTTP 415, ErrTooLarge and ErrTooLong are 413).
var (
	ErrUnsupported = errors.New("audio: unsupported format")
	ErrCorrupt     = errors.New("audio: corrupt or undecodable data")
	ErrTooLarge    = errors.New("audio: input is too large")
	ErrTooLong     = errors.New("audio: audio is too long")
	ErrEmpty       = errors.New("audio: no audio samples")
	// ErrDecoderFailed is the decoder dying under the audio rather than
	// refusing it (ffmpeg killed by a signal: the out-of-memory killer,
	// an operator): the audio may well be fine, and a retry may succeed.
	ErrDecoderFailed = errors.New("audio: the decoder failed")
)

// Limits bound what Decode accepts. Zero values take the defaults.
type Limits struct {
	// MaxBytes is the largest input accepted (default 1 GiB).
	MaxBytes int64
	// MaxDuration is the longest audio accepted (default 4 hours); it is
	// checked from headers before decoding where the format declares it.
	MaxDuration time.Duration
	// Timeout bounds an ffmpeg run (default 5 minutes).
	Timeout time.Duration
}

// Defaults for Limits.
const (
	DefaultMaxBytes = 1 << 30
	// DefaultMaxDuration is the engine's: longer audio would be refused
	// there anyway, after decoding it.
	DefaultMaxDuration = transcribe.DefaultMaxDuration
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDuration <= 0 {
		l.MaxDuration = DefaultMaxDuration
	}
	if l.Timeout <= 0 {
		l.Timeout = 5 * time.Minute
	}
	return l
}

// maxFrames is the limit on decoded frames at rate hz.
func (l Limits) maxFrames(hz int) int64 {
	return int64(l.MaxDuration.Seconds() * float64(hz))
}

func (l Limits) tooLong(frames int64, hz int) error {
	return fmt.Errorf("%w: %s is longer than the limit of %s", ErrTooLong,
		(time.Duration(frames) * time.Second / time.Duration(hz)).Round(time.Millisecond), l.MaxDuration)
}

// Audio is decoded audio and what is known of its source.
type Audio struct {
	// Samples are 16 kHz mono in [-1, 1].
	Samples []float32
	// Format is the container sniffed from the bytes ("wav", "mp3", ...),
	// Codec the encoding inside it ("pcm_s16le", "float32", ...).
	Format string
	Codec  string
	// SampleRate and Channels are the source's.
	SampleRate int
	Channels   int
	// Warning, when set, says the input was damaged and only the audio
	// before the damage was decoded.
	Warning string
}

// Duration is the length of the decoded audio.
func (a *Audio) Duration() time.Duration {
	return time.Duration(len(a.Samples)) * time.Second / transcribe.SampleRate
}

// Decoder decodes audio within its Limits. The zero value decodes WAV, MP3
// and FLAC in process and refuses formats that need ffmpeg.
type Decoder struct {
	Limits Limits
	// FFmpeg is the path of an ffmpeg binary for the formats Go cannot
	// decode here (Ogg, Opus, WebM, MP4/M4A, AAC, ...); empty means none.
	FFmpeg string
}

// LookFFmpeg returns the path of ffmpeg on $PATH, or "" when it is missing.
func LookFFmpeg() string {
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		return ""
	}
	return p
}

// Decode decodes a whole input held in memory.
func (d Decoder) Decode(ctx context.Context, data []byte) (*Audio, error) {
	lim := d.Limits.withDefaults()
	if int64(len(data)) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than the limit of %d", ErrTooLarge, len(data), lim.MaxBytes)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: the input is empty", ErrEmpty)
	}
	format := Sniff(data)
	var (
		a   *Audio
		err error
	)
	switch format {
	case "wav":
		a, err = decodeWAV(data, lim)
	case "mp3":
		a, err = decodeMP3(data, lim)
	case "flac":
		a, err = decodeFLAC(data, lim)
	case "":
		return nil, d.notAudio(data)
	default:
		if d.FFmpeg == "" {
			return nil, fmt.Errorf("%w: %s needs ffmpeg, which is not installed (install it: sudo apt-get install -y ffmpeg)", ErrUnsupported, format)
		}
		a, err = decodeFFmpeg(ctx, d.FFmpeg, format, data, lim)
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(a.Samples) == 0 {
		return nil, fmt.Errorf("%w: the %s file holds no samples", ErrEmpty, format)
	}
	return a, nil
}

// Read reads at most Limits.MaxBytes from r and decodes it; a longer input
// is ErrTooLarge, found without reading more than one byte past the limit.
func (d Decoder) Read(ctx context.Context, r io.Reader) (*Audio, error) {
	lim := d.Limits.withDefaults()
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("audio: reading input: %w", err)
	}
	if n > lim.MaxBytes {
		return nil, fmt.Errorf("%w: more than the limit of %d bytes", ErrTooLarge, lim.MaxBytes)
	}
	return d.Decode(ctx, buf.Bytes())
}

// formats says which inputs earshot reads, for messages: WAV, MP3
// and FLAC itself, the others through ffmpeg.
const formats = "WAV, MP3 and FLAC, and through ffmpeg Ogg (Vorbis, Opus), WebM, MP4/M4A/MOV, AAC, AIFF, CAF, AMR and WMA"

// notAudio is the error for data that is no audio format earshot knows:
// what the data is when its bytes tell (a PNG image, a PDF document,
// text, ...), and which formats earshot reads.
func (d Decoder) notAudio(data []byte) error {
	what := "the data is not audio in any format earshot knows"
	if kind := sniffOther(data); kind != "" {
		what = "this is " + kind + ", not audio"
	}
	ffmpeg := ""
	if d.FFmpeg == "" {
		ffmpeg = " (ffmpeg is not installed here)"
	}
	return fmt.Errorf("%w: %s; earshot reads %s%s", ErrUnsupported, what, formats, ffmpeg)
}

// sniffOther names, with its article, what data is when it is not audio but
// its bytes say what it is ("a PNG image", "a PDF document", "a ZIP archive",
// "JSON", "an HTML page", "text"), or "" when they do not. Call it on data
// Sniff does not recognize: it does not check for audio.
func sniffOther(data []byte) string {
	for _, m := range otherMagic {
		if len(data) >= m.off+len(m.magic) && string(data[m.off:m.off+len(m.magic)]) == m.magic {
			return m.kind
		}
	}
	return sniffText(data)
}

// otherMagic are the signatures of common files people send by mistake.
var otherMagic = []struct {
	off   int
	magic string
	kind  string
}{
	{0, "\x89PNG\r\n\x1a\n", "a PNG image"},
	{0, "\xff\xd8\xff", "a JPEG image"},
	{0, "GIF87a", "a GIF image"},
	{0, "GIF89a", "a GIF image"},
	{8, "WEBP", "a WebP image"}, // after RIFF and a size; WAVE is audio
	{0, "%PDF-", "a PDF document"},
	{0, "PK\x03\x04", "a ZIP archive (or a document inside one: docx, xlsx, odt, epub, jar)"},
	{0, "PK\x05\x06", "a ZIP archive (empty)"},
	{0, "\x1f\x8b", "a gzip file"},
	{0, "\x7fELF", "a program (ELF executable)"},
	{0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document"},
}

// textPrefix is how much of the data sniffText looks at.
const textPrefix = 4096

// sniffText tells plain text, JSON and HTML (XML) apart from binary data.
func sniffText(data []byte) string {
	head := data[:min(len(data), textPrefix)]
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	if len(head) == 0 {
		return ""
	}
	// Text is valid UTF-8 (a character cut at the end of the prefix
	// aside) without control characters other than tab, newline, form
	// feed and carriage return.
	for i := 0; i < len(head); {
		r, size := utf8.DecodeRune(head[i:])
		if r == utf8.RuneError && size <= 1 {
			if len(data) > textPrefix && len(head)-i < utf8.UTFMax && !utf8.FullRune(head[i:]) {
				break
			}
			return ""
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\f' && r != '\r' || r == 0x7f {
			return ""
		}
		i += size
	}
	trimmed := bytes.TrimLeft(head, " \t\r\n\f")
	lower := bytes.ToLower(trimmed[:min(len(trimmed), 64)])
	switch {
	case bytes.HasPrefix(lower, []byte("<!doctype html")), bytes.HasPrefix(lower, []byte("<html")):
		return "an HTML page"
	case bytes.HasPrefix(lower, []byte("<?xml")), bytes.HasPrefix(lower, []byte("<svg")):
		return "an XML document"
	case len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(data):
		return "JSON"
	}
	return "text"
}

// Sniff names the container format from the first bytes of data ("wav",
// "flac", "mp3", "ogg", "webm", "mp4", "aac", ...), or "" when it is none
// that earshot recognizes.
func Sniff(data []byte) string {
	has := func(off int, s string) bool {
		return len(data) >= off+len(s) && string(data[off:off+len(s)]) == s
	}
	switch {
	case has(0, "RIFF") && has(8, "WAVE"), has(0, "RIFX") && has(8, "WAVE"), has(0, "RF64") && has(8, "WAVE"):
		return "wav"
	case has(0, "fLaC"):
		return "flac"
	case has(0, "OggS"):
		return "ogg"
	case has(0, "\x1a\x45\xdf\xa3"):
		return "webm"
	case has(4, "ftyp"):
		return "mp4" // and M4A, MOV, 3GP: ffmpeg tells them apart
	case has(0, "caff"):
		return "caf"
	case has(0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
		return "asf" // WMA
	case has(0, "FORM") && (has(8, "AIFF") || has(8, "AIFC")):
		return "aiff"
	case has(0, "#!AMR"):
		return "amr"
	case has(0, "ID3"):
		return "mp3"
	case len(data) >= 2 && data[0] == 0xff && data[1]&0xf6 == 0xf0:
		return "aac" // ADTS: sync word, layer 0
	case len(data) >= 2 && data[0] == 0xff && data[1]&0xe0 == 0xe0 && data[1]&0x06 != 0:
		return "mp3" // MPEG audio frame sync, layer I-III
	}
	return ""
}
