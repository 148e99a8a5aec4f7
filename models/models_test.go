package models_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/models"
	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
)

// model is a synthetic test model served by the fake mirror.
func model(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := ggml.Synthesize(&b, ggml.Test, 3); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sum(b []byte) string {
	h := sha1.Sum(b)
	return hex.EncodeToString(h[:])
}

// mirror serves ggml-NAME.bin like Hugging Face does (Range included), with
// hooks to misbehave.
type mirror struct {
	data     []byte
	requests atomic.Int32
	ranges   []string
	mu       sync.Mutex
	// cutFirst: the first response stops half way.
	cutFirst bool
	// slow: bytes trickle out until the client gives up.
	slow bool
}

func (m *mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := m.requests.Add(1)
	m.mu.Lock()
	m.ranges = append(m.ranges, r.Header.Get("Range"))
	m.mu.Unlock()
	if !strings.HasSuffix(r.URL.Path, "/ggml-test.bin") && !strings.HasSuffix(r.URL.Path, "/ggml-unverified.bin") {
		http.NotFound(w, r)
		return
	}
	switch {
	case m.cutFirst && n == 1:
		w.Header().Set("Content-Length", strconv.Itoa(len(m.data)))
		w.Write(m.data[:len(m.data)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // cut the connection
	case m.slow:
		w.Header().Set("Content-Length", strconv.Itoa(len(m.data)))
		for i := 0; i < len(m.data); i += 100 {
			if _, err := w.Write(m.data[i : i+100]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(50 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	default:
		http.ServeContent(w, r, "model.bin", time.Time{}, bytes.NewReader(m.data))
	}
}

func store(t *testing.T, url string, catalog []models.Info) (*models.Store, *[]models.Progress) {
	var progress []models.Progress
	var mu sync.Mutex
	return &models.Store{
		Dir: t.TempDir(), BaseURL: url, Catalog: catalog,
		Progress: func(p models.Progress) { mu.Lock(); progress = append(progress, p); mu.Unlock() },
	}, &progress
}

func TestPullVerifiesAndReportsProgress(t *testing.T) {
	data := model(t)
	m := &mirror{data: data}
	srv := httptest.NewServer(m)
	defer srv.Close()
	s, progress := store(t, srv.URL, []models.Info{{Name: "test", SHA1: sum(data)}})
	path, err := s.Pull(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, data) || filepath.Base(path) != "ggml-test.bin" {
		t.Errorf("pulled %s (%d bytes)", path, len(got))
	}
	if _, err := os.Stat(path + ".partial"); !os.IsNotExist(err) {
		t.Error("the .partial file is left behind")
	}
	last := (*progress)[len(*progress)-2]
	if !last.Finished || last.Done != int64(len(data)) || last.Total != int64(len(data)) {
		t.Errorf("progress ends with %+v", last)
	}
	// Cached now: no second download.
	if _, err := s.Pull(context.Background(), "test"); err != nil || m.requests.Load() != 1 {
		t.Errorf("second pull: %v, %d requests", err, m.requests.Load())
	}
	if p, err := s.Resolve("test"); err != nil || p != path {
		t.Errorf("Resolve(test) = %q, %v", p, err)
	}
	if err := s.Remove("test"); err != nil || s.Cached("test") {
		t.Errorf("Remove: %v", err)
	}
}

func TestPullResumesAfterCut(t *testing.T) {
	data := model(t)
	m := &mirror{data: data, cutFirst: true}
	srv := httptest.NewServer(m)
	defer srv.Close()
	s, _ := store(t, srv.URL, []models.Info{{Name: "test", SHA1: sum(data)}})
	path, err := s.Pull(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, data) {
		t.Fatal("resumed file differs")
	}
	if len(m.ranges) != 2 || !strings.HasPrefix(m.ranges[1], "bytes=") || m.ranges[1] == "bytes=0-" {
		t.Errorf("requests' Range headers %q: the second must resume", m.ranges)
	}
}

func TestChecksumMismatchRemovesFile(t *testing.T) {
	data := model(t)
	srv := httptest.NewServer(&mirror{data: data})
	defer srv.Close()
	s, _ := store(t, srv.URL, []models.Info{{Name: "test", SHA1: strings.Repeat("0", 40)}})
	_, err := s.Pull(context.Background(), "test")
	if !errors.Is(err, models.ErrBadChecksum) || !strings.Contains(err.Error(), "the file was removed") {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(s.Dir); len(entries) != 0 {
		t.Errorf("left %v", entries)
	}
}

func TestUnverifiedModelIsStillCheckedStructurally(t *testing.T) {
	srv := httptest.NewServer(&mirror{data: []byte("not a model at all")})
	defer srv.Close()
	s, _ := store(t, srv.URL, []models.Info{{Name: "unverified"}})
	if _, err := s.Pull(context.Background(), "unverified"); !errors.Is(err, models.ErrBadChecksum) {
		t.Fatalf("err = %v", err)
	}
}

func TestNotFoundIsPermanent(t *testing.T) {
	m := &mirror{data: model(t)}
	srv := httptest.NewServer(m)
	defer srv.Close()
	s, _ := store(t, srv.URL, []models.Info{{Name: "missing"}})
	start := time.Now()
	_, err := s.Pull(context.Background(), "missing")
	if !errors.Is(err, models.ErrDownload) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v", err)
	}
	if m.requests.Load() != 1 || time.Since(start) > time.Second {
		t.Errorf("404 retried %d times over %v", m.requests.Load(), time.Since(start))
	}
}

func TestCancelAndStall(t *testing.T) {
	data := model(t)
	srv := httptest.NewServer(&mirror{data: data, slow: true})
	defer srv.Close()
	s, _ := store(t, srv.URL, []models.Info{{Name: "test", SHA1: sum(data)}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.Pull(ctx, "test"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %v", d)
	}
	if s.Cached("test") {
		t.Error("a cancelled pull left a file under the final name")
	}
	if _, err := os.Stat(s.Path("test") + ".partial"); err != nil {
		t.Errorf("no .partial to resume: %v", err)
	}

	// A server that stops sending: the stall timeout ends each attempt.
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("x"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer stalled.Close()
	s2, _ := store(t, stalled.URL, []models.Info{{Name: "test", SHA1: sum(data)}})
	s2.StallTimeout, s2.Attempts = 100*time.Millisecond, 1
	if _, err := s2.Pull(context.Background(), "test"); err == nil || !strings.Contains(err.Error(), "no data for 100ms") {
		t.Errorf("stall: err = %v", err)
	}
}

// A mirror that refuses connections (nothing listens on its port) fails at
// once: one attempt, no "resuming" progress for bytes never received, no
// .partial file, and a short error without the dialer's detail.
func TestRefusedConnectionFailsFastWithoutRetrying(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	s, progress := store(t, url, nil)
	start := time.Now()
	_, err := s.Pull(context.Background(), "base")
	if !errors.Is(err, models.ErrDownload) {
		t.Fatalf("err = %v", err)
	}
	var de *models.DownloadError
	if !errors.As(err, &de) || !de.Unreachable() || de.Reason() != "connection refused" || de.Name != "base" || de.URL != url+"/ggml-base.bin" {
		t.Fatalf("err = %#v", err)
	}
	if want := "models: download of base from " + url + "/ggml-base.bin failed: connection refused"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	for _, p := range *progress {
		if p.RetryAfter != nil {
			t.Errorf("a retry was reported: %+v", p)
		}
	}
	if entries, _ := os.ReadDir(s.Dir); len(entries) != 0 {
		t.Errorf("left %v in the cache", entries)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// A server that accepts and hangs up before answering is retried, and each
// retry says that nothing was received (Done 0), so that no one prints
// "resuming" for a download that never started.
func TestServerEndingConnectionsIsRetriedFromNothing(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	s, progress := store(t, srv.URL, []models.Info{{Name: "test"}})
	s.Attempts = 2
	_, err := s.Pull(context.Background(), "test")
	var de *models.DownloadError
	if !errors.As(err, &de) || de.Unreachable() || de.Reason() != "the server closed the connection" {
		t.Fatalf("err = %v", err)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	var retries []models.Progress
	for _, p := range *progress {
		if p.RetryAfter != nil {
			retries = append(retries, p)
		}
	}
	if len(retries) != 1 {
		t.Fatalf("retries reported: %+v", retries)
	}
	if r := retries[0]; r.Done != 0 || r.Attempt != 1 || r.Attempts != 2 || r.RetryAfter.Error() != "the server closed the connection" {
		t.Errorf("retry progress %+v (%q)", r, r.RetryAfter)
	}
	if entries, _ := os.ReadDir(s.Dir); len(entries) != 0 {
		t.Errorf("left %v in the cache", entries)
	}
}

// A cut after some bytes reports what is kept, which the next attempt
// resumes from.
func TestRetryAfterCutReportsBytesKept(t *testing.T) {
	data := model(t)
	srv := httptest.NewServer(&mirror{data: data, cutFirst: true})
	defer srv.Close()
	s, progress := store(t, srv.URL, []models.Info{{Name: "test", SHA1: sum(data)}})
	if _, err := s.Pull(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	for _, p := range *progress {
		if p.RetryAfter != nil && p.Done != int64(len(data)/2) {
			t.Errorf("retry after the cut reports %d bytes kept, want %d", p.Done, len(data)/2)
		}
	}
}

func TestResolve(t *testing.T) {
	s := &models.Store{Dir: t.TempDir()}
	file := filepath.Join(t.TempDir(), "mine.bin")
	os.WriteFile(file, []byte("x"), 0o644)
	tests := []struct {
		in, want string
		err      error
	}{
		{file, file, nil},
		{"base", "", models.ErrNotCached},
		{"gpt-9", "", models.ErrUnknown},
	}
	for _, tt := range tests {
		got, err := s.Resolve(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	if _, err := s.Resolve("/no/such/model.bin"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing path: %v", err)
	}
}

func TestCatalog(t *testing.T) {
	for _, name := range []string{"tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en", "large-v3", "large-v3-turbo", "large-v3-turbo-q5_0", "base-q8_0"} {
		i, ok := models.Lookup(models.Catalog, name)
		if !ok {
			t.Errorf("%s missing", name)
		}
		if i.English() != strings.Contains(name, ".en") {
			t.Errorf("%s: English() = %v", name, i.English())
		}
	}
	if i, _ := models.Lookup(models.Catalog, "large-v3-turbo-q5_0"); i.Quantization() != "q5_0" || i.SHA1 == "" {
		t.Errorf("%+v", i)
	}
	if _, ok := models.Lookup(models.Catalog, models.DefaultModel); !ok {
		t.Error("the default model is not in the catalog")
	}
}
