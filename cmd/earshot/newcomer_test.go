package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/models"
)

// earshot runs this test binary as the earshot command (see TestMain), with
// a fresh home, and returns its stderr and exit status.
func earshot(t *testing.T, env []string, args ...string) (stderr string, status int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "EARSHOT_TEST_AS_MAIN=1", "EARSHOT_HOME="+t.TempDir(), "EARSHOT_MODEL=", "EARSHOT_MODEL_BASE_URL=")
	cmd.Env = append(cmd.Env, env...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		status = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return errb.String(), status
}

// What a newcomer sees on stderr when the command line or the setup is
// wrong: one message that says what to do, and the usage line when the
// command line itself is wrong.
func TestNewcomerMessages(t *testing.T) {
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := refused.URL
	refused.Close()
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer hangup.Close()
	png := filepath.Join(t.TempDir(), "photo.wav")
	os.WriteFile(png, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), 0o644)
	model := testModel(t)

	tests := []struct {
		name  string
		env   []string
		args  []string
		want  []string // on stderr
		not   []string // not on stderr
		lines int      // lines on stderr, 0: any
	}{
		{
			name: "transcribe without a file",
			args: []string{"transcribe"},
			want: []string{"earshot: no audio file given (name one or more files, or - for standard input)\n",
				"usage: earshot transcribe [flags] FILE...  (earshot transcribe --help lists the flags)\n"},
			not:   []string{"requires at least"},
			lines: 2,
		},
		{
			name:  "models pull without a name",
			args:  []string{"models", "pull"},
			want:  []string{"earshot: accepts 1 arg(s), received 0\n", "usage: earshot models pull NAME [flags]"},
			lines: 2,
		},
		{
			name:  "unknown flag",
			args:  []string{"transcribe", "--bogus", "a.wav"},
			want:  []string{"earshot: unknown flag: --bogus\n", "usage: earshot transcribe [flags] FILE..."},
			lines: 2,
		},
		{
			name: "transcribe with no model",
			args: []string{"transcribe", jfk},
			want: []string{"earshot: model base is not downloaded: get it with `", " models pull base` (from Hugging Face, or a mirror in EARSHOT_MODEL_BASE_URL), " +
				"use a model file you have (--model /path/to/ggml-base.bin or EARSHOT_MODEL=/path/to/ggml-base.bin), " +
				"or a synthetic model, which needs no network (`", " models synth --out /tmp/synthetic.bin`, then use that file; its words are meaningless)\n"},
			lines: 1,
		},
		{
			name:  "serve, mirror refusing connections",
			env:   []string{"EARSHOT_MODEL_BASE_URL=" + refusedURL, "EARSHOT_API_KEY=esk_test"},
			args:  []string{"serve", "--addr", "127.0.0.1:0"},
			want:  []string{"earshot: cannot download model base from the mirror in EARSHOT_MODEL_BASE_URL (" + refusedURL + "/ggml-base.bin: connection refused): check that mirror, or use a model file you have", "models synth --out"},
			not:   []string{"resuming", "trying again", "EARSHOT_MODEL_BASE_URL=", "dial tcp"},
			lines: 1,
		},
		{
			name: "serve, mirror hanging up",
			env:  []string{"EARSHOT_MODEL_BASE_URL=" + hangup.URL, "EARSHOT_API_KEY=esk_test"},
			args: []string{"serve", "--addr", "127.0.0.1:0"},
			want: []string{
				"earshot: download of base failed (the server closed the connection); trying again (attempt 2 of 4)\n",
				"earshot: download of base failed (the server closed the connection); trying again (attempt 4 of 4)\n",
				"earshot: cannot download model base from the mirror in EARSHOT_MODEL_BASE_URL (" + hangup.URL + "/ggml-base.bin: the server closed the connection): check that mirror",
			},
			not:   []string{"resuming", "EARSHOT_MODEL_BASE_URL="},
			lines: 4,
		},
		{
			name:  "not audio",
			args:  []string{"transcribe", "-m", model, png},
			want:  []string{"photo.wav: audio: unsupported format: this is a PNG image, not audio; earshot reads WAV, MP3 and FLAC, and through ffmpeg Ogg"},
			lines: 1,
		},
		{
			name: "unknown language",
			args: []string{"transcribe", "-m", model, "-l", "elvish", jfk},
			want: []string{`unknown language "elvish"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr, status := earshot(t, tt.env, tt.args...)
			if status != 1 {
				t.Errorf("exit status %d, want 1", status)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(stderr, n) {
					t.Errorf("stderr has %q:\n%s", n, stderr)
				}
			}
			if n := strings.Count(stderr, "\n"); tt.lines != 0 && n != tt.lines {
				t.Errorf("%d lines on stderr, want %d:\n%s", n, tt.lines, stderr)
			}
		})
	}
}

// A BCP-47 tag is taken as its language.
func TestTranscribeLanguageTag(t *testing.T) {
	out, errOut, err := run(t, nil, "", "transcribe", "-m", testModel(t), "-l", "en-US", "--no-fallback", "-f", "verbose_json", jfk)
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	var v struct{ Language string }
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Language != "english" {
		t.Errorf("language %q (%v)", v.Language, err)
	}
}

// The download progress says "resuming" only when there are bytes to resume.
func TestProgressRetryLines(t *testing.T) {
	tests := []struct {
		p    models.Progress
		want string
	}{
		{models.Progress{Name: "base", Attempt: 1, Attempts: 4, RetryAfter: errors.New("the server closed the connection")},
			"earshot: download of base failed (the server closed the connection); trying again (attempt 2 of 4)\n"},
		{models.Progress{Name: "base", Done: 71_000_000, Attempt: 2, Attempts: 4, RetryAfter: errors.New("the connection was reset")},
			"earshot: download of base interrupted at 71.0 MB (the connection was reset); resuming (attempt 3 of 4)\n"},
		{models.Progress{Name: "base", Verifying: true}, "earshot: verifying base\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		progressPrinter(&b)(tt.p)
		if b.String() != tt.want {
			t.Errorf("%+v printed %q, want %q", tt.p, b.String(), tt.want)
		}
	}
}

func TestPrintReady(t *testing.T) {
	const sample = "-F file=@testdata/audio/jfk.wav" // not there from this directory
	if _, err := os.Stat(sampleAudio); err == nil {
		t.Fatal("run from the repository root: the sample would be found")
	}
	tests := []struct {
		name      string
		addr      net.Addr
		key       string
		auth, mcp bool
		want      string
	}{
		{"session key", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "esk_abc", true, true,
			"earshot: ready at http://127.0.0.1:8080 (MCP at http://127.0.0.1:8080/mcp); try it:\n" +
				"  export EARSHOT_API_KEY=esk_abc   # this run's key, kept in memory only\n" +
				`  curl http://127.0.0.1:8080/v1/transcriptions -H "Authorization: Bearer $EARSHOT_API_KEY" -F file=@audio.wav -F mode=agent` + "\n"},
		{"key of the user's", &net.TCPAddr{IP: net.IPv4zero, Port: 9000}, "", true, false,
			"earshot: ready at http://127.0.0.1:9000; try it:\n" +
				"  # with your key in EARSHOT_API_KEY (earshot keys create --name NAME makes one)\n" +
				`  curl http://127.0.0.1:9000/v1/transcriptions -H "Authorization: Bearer $EARSHOT_API_KEY" -F file=@audio.wav -F mode=agent` + "\n"},
		{"no auth, IPv6", &net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, "", false, true,
			"earshot: ready at http://[::1]:8080 (MCP at http://[::1]:8080/mcp); try it:\n" +
				"  curl http://[::1]:8080/v1/transcriptions -F file=@audio.wav -F mode=agent\n"},
		{"every interface, IPv6", &net.TCPAddr{IP: net.IPv6unspecified, Port: 1234}, "", false, false,
			"earshot: ready at http://127.0.0.1:1234; try it:\n" +
				"  curl http://127.0.0.1:1234/v1/transcriptions -F file=@audio.wav -F mode=agent\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printReady(&b, ready{addr: tt.addr, sessionKey: tt.key, auth: tt.auth, mcp: tt.mcp})
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
			if strings.Contains(b.String(), sample) {
				t.Error("names a sample file that is not there")
			}
		})
	}
	// From the repository root (make run), the sample recording is named.
	t.Chdir("../..")
	var b bytes.Buffer
	printReady(&b, ready{addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}})
	if !strings.Contains(b.String(), sample+" -F mode=agent") {
		t.Errorf("from the root: %s", b.String())
	}
	// Over TLS every URL is https; with the playground on, its URL is said.
	b.Reset()
	printReady(&b, ready{addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}, tls: true, playground: true})
	if want := "  open https://127.0.0.1:8443/ in a browser"; !strings.Contains(b.String(), want) || strings.Contains(b.String(), "http://") {
		t.Errorf("over TLS with the playground: %s", b.String())
	}
}

// make install puts the binary in PREFIX/bin, says where, and says how to
// put that directory on PATH when it is not; it never calls sudo, and a
// directory it cannot write is a clear error. (install-bin is install
// without the build, run here on this test binary.)
func TestMakeInstall(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("no make")
	}
	makeRun := func(path string, args ...string) (string, error) {
		cmd := exec.Command(mk, append([]string{"-s", "--no-print-directory", "-C", "../.."}, args...)...)
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	sysPath := os.Getenv("PATH")
	prefix := filepath.Join(t.TempDir(), "prefix")
	bin := filepath.Join(prefix, "bin")
	out, err := makeRun(sysPath, "install-bin", "BIN="+os.Args[0], "PREFIX="+prefix)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := "earshot: installed " + bin + "/earshot\n" +
		"earshot: " + bin + " is not on your PATH; add it (then open a new shell): echo 'export PATH=\"" + bin + ":$PATH\"' >> ~/.profile\n"
	if out != want {
		t.Errorf("make install printed\n%s\nwant\n%s", out, want)
	}
	st, err := os.Stat(filepath.Join(bin, "earshot"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("installed file: %v, %v", st, err)
	}
	// Installed again, with the directory on PATH: no advice.
	if out, err := makeRun(bin+":"+sysPath, "install-bin", "BIN="+os.Args[0], "PREFIX="+prefix); err != nil || out != "earshot: installed "+bin+"/earshot\n" {
		t.Errorf("reinstall: %v: %q", err, out)
	}
	// A directory that cannot be made.
	if out, err := makeRun(sysPath, "install-bin", "BIN="+os.Args[0], "PREFIX=/dev/null/earshot"); err == nil ||
		!strings.Contains(out, "earshot: cannot write to /dev/null/earshot/bin; pick a directory you can write, such as 'make install PREFIX=") || strings.Contains(out, "sudo ") {
		t.Errorf("unwritable PREFIX: %v: %s", err, out)
	}
	// The default: /usr/local for root, else ~/.local.
	home := t.TempDir()
	out, err = makeRun(sysPath, "--eval", "show-prefix: ; @echo $(PREFIX)", "show-prefix", "HOME="+home)
	want = home + "/.local\n"
	if os.Geteuid() == 0 {
		want = "/usr/local\n"
	}
	if err != nil || out != want {
		t.Errorf("default PREFIX %q (%v), want %q", out, err, want)
	}
}
