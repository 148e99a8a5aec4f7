// Package models finds, downloads and caches whisper models by name, the way
// whisper.cpp names them (tiny, base.en, large-v3-turbo-q5_0, ...).
//
// Downloads go to NAME.partial in the cache directory, resume with HTTP Range
// after a cut connection, are checked (the SHA-1 whisper.cpp publishes, the
// advertised length, and the ggml structure) and only then renamed into
// place, so a file under its final name is always complete. An interrupted
// download leaves only the .partial file, which the next pull resumes.
//
// A Store is safe for concurrent use by one process; two processes pulling
// the same model at once may both download it, and the last rename wins.
package models

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
)

// DefaultBaseURL is where whisper.cpp's models are published.
const DefaultBaseURL = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main"

// Errors.
var (
	ErrUnknown     = errors.New("models: unknown model")
	ErrNotCached   = errors.New("models: model is not downloaded")
	ErrDownload    = errors.New("models: download failed")
	ErrBadChecksum = errors.New("models: downloaded file does not match its checksum")
)

// Progress is reported while a download runs.
type Progress struct {
	Name       string
	Done       int64 // bytes in the file so far, resumed bytes included
	Total      int64 // 0 when the server does not say
	Resumed    int64 // bytes kept from an earlier attempt
	BytesPerS  float64
	Finished   bool
	Verifying  bool
	Attempt    int   // this attempt, from 1
	Attempts   int   // how many there will be at most (set with RetryAfter)
	RetryAfter error // set when an attempt failed and another follows; Done is what is kept
}

// Store is a model cache directory and where to download from.
type Store struct {
	Dir     string // cache directory, created on first pull
	BaseURL string // default DefaultBaseURL
	Catalog []Info // default Catalog
	Client  *http.Client
	// Progress, if set, is called as a download advances.
	Progress func(Progress)
	// Attempts is how many times a cut download is resumed (default 4).
	Attempts int
	// StallTimeout aborts an attempt that receives nothing for this long
	// (default 30 s).
	StallTimeout time.Duration
}

func (s *Store) catalog() []Info {
	if s.Catalog != nil {
		return s.Catalog
	}
	return Catalog
}

func (s *Store) baseURL() string {
	if s.BaseURL != "" {
		return strings.TrimRight(s.BaseURL, "/")
	}
	return DefaultBaseURL
}

// client fails fast when the network is absent: an offline machine gets its
// answer in seconds, not after a long hang.
func (s *Store) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
	}}
}

// Info returns the catalog entry for name.
func (s *Store) Info(name string) (Info, error) {
	i, ok := Lookup(s.catalog(), name)
	if !ok {
		return Info{}, fmt.Errorf("%w %q: `earshot models list` shows the names", ErrUnknown, name)
	}
	return i, nil
}

// Path is where model name lives in the cache (whether or not it is there).
func (s *Store) Path(name string) string {
	return filepath.Join(s.Dir, "ggml-"+name+".bin")
}

// Cached reports whether name is downloaded.
func (s *Store) Cached(name string) bool {
	st, err := os.Stat(s.Path(name))
	return err == nil && st.Mode().IsRegular()
}

// Remove deletes a downloaded model and any partial download of it.
func (s *Store) Remove(name string) error {
	if _, err := s.Info(name); err != nil {
		return err
	}
	err := os.Remove(s.Path(name))
	os.Remove(s.Path(name) + ".partial")
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotCached, name)
	}
	return err
}

// Resolve turns what a user wrote (a file path or a model name) into a file
// path: an existing file is used as is; a name must be in the cache.
func (s *Store) Resolve(nameOrPath string) (string, error) {
	if st, err := os.Stat(nameOrPath); err == nil && !st.IsDir() {
		return nameOrPath, nil
	}
	if strings.ContainsRune(nameOrPath, os.PathSeparator) || strings.HasSuffix(nameOrPath, ".bin") {
		return "", fmt.Errorf("models: %s: no such file", nameOrPath)
	}
	if _, err := s.Info(nameOrPath); err != nil {
		return "", err
	}
	if !s.Cached(nameOrPath) {
		return "", fmt.Errorf("%w: %s (run `earshot models pull %s`)", ErrNotCached, nameOrPath, nameOrPath)
	}
	return s.Path(nameOrPath), nil
}

// Pull downloads name unless it is cached, and returns its path.
func (s *Store) Pull(ctx context.Context, name string) (string, error) {
	info, err := s.Info(name)
	if err != nil {
		return "", err
	}
	final := s.Path(name)
	if s.Cached(name) {
		return final, nil
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return "", fmt.Errorf("models: %w", err)
	}
	url := s.baseURL() + "/" + info.File()
	partial := final + ".partial"
	attempts := s.Attempts
	if attempts <= 0 {
		attempts = 4
	}
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		err := s.fetch(ctx, info, url, partial, attempt)
		if err == nil {
			lastErr = nil
			break
		}
		lastErr = err
		var perm permanent
		if ctx.Err() != nil || errors.As(err, &perm) || attempt == attempts {
			break
		}
		var have int64
		if st, err := os.Stat(partial); err == nil {
			have = st.Size()
		}
		s.report(Progress{Name: name, Done: have, Resumed: have, Attempt: attempt, Attempts: attempts, RetryAfter: shortError{err}})
		select {
		case <-time.After(time.Duration(attempt) * time.Second):
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if lastErr != nil {
		if st, err := os.Stat(partial); err == nil && st.Size() == 0 {
			os.Remove(partial) // nothing to resume: leave no trace
		}
		return "", &DownloadError{Name: name, URL: url, Err: lastErr}
	}
	s.report(Progress{Name: name, Verifying: true})
	if err := verify(partial, info); err != nil {
		os.Remove(partial)
		return "", err
	}
	if err := os.Rename(partial, final); err != nil {
		return "", fmt.Errorf("models: %w", err)
	}
	return final, nil
}

// DownloadError is a download that failed after its attempts; errors.Is(err,
// ErrDownload) holds for it. Its text is short (no resolver or socket
// detail); what to do about it is the caller's to say, since only the caller
// knows its flags and environment.
type DownloadError struct {
	Name string // the model
	URL  string // what was requested
	Err  error  // the last attempt's failure
}

func (e *DownloadError) Error() string {
	return fmt.Sprintf("models: download of %s from %s failed: %s", e.Name, e.URL, e.Reason())
}

// Unwrap gives ErrDownload and the cause.
func (e *DownloadError) Unwrap() []error { return []error{ErrDownload, e.Err} }

// Reason says in a few words why the download failed ("connection
// refused", "cannot resolve huggingface.co", "the server has no
// ggml-x.bin (404)").
func (e *DownloadError) Reason() string { return reason(e.Err) }

// Unreachable reports whether no server could be reached at all (the name
// does not resolve, the connection is refused, no route): the machine is
// offline, or the mirror is down or misspelled.
func (e *DownloadError) Unreachable() bool { return unreachable(e.Err) }

// unreachable reports a failure to connect, as opposed to a server that
// answered badly or a transfer that broke.
func unreachable(err error) bool {
	var dns *net.DNSError
	var op *net.OpError
	return errors.As(err, &dns) || errors.As(err, &op) && op.Op == "dial"
}

// reason is err without the layers Go's HTTP client wraps around it
// (`Get "https://...": dial tcp: lookup huggingface.co on 10.0.0.1:53: ...`).
func reason(err error) string {
	var dns *net.DNSError
	var ne net.Error
	var ue *url.Error
	var op *net.OpError
	switch {
	case errors.As(err, &dns):
		return "cannot resolve " + dns.Name
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "the connection was reset"
	case errors.Is(err, syscall.ENETUNREACH):
		return "the network is unreachable"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to the host"
	case errors.As(err, &ne) && ne.Timeout():
		return "no answer in time"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed the connection"
	case errors.As(err, &op):
		return op.Err.Error()
	case errors.As(err, &ue):
		return ue.Err.Error()
	}
	return err.Error()
}

// shortError is an error that reads as its reason.
type shortError struct{ error }

func (e shortError) Error() string { return reason(e.error) }
func (e shortError) Unwrap() error { return e.error }

// permanent marks errors that another attempt cannot fix (404, checksum).
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// fetch runs one attempt, resuming partial when it has bytes.
func (s *Store) fetch(ctx context.Context, info Info, url, partial string, attempt int) error {
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return permanent{err}
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return permanent{err}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return permanent{err}
	}
	req.Header.Set("User-Agent", "earshot")
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := s.client().Do(req)
	if err != nil {
		if unreachable(err) {
			// No name resolution, refused, no route: offline or the
			// server is down; retrying in a second will not help.
			return permanent{err}
		}
		return err
	}
	defer resp.Body.Close()
	var total int64
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		total = have + resp.ContentLength
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		// The partial file is already whole (or longer than the file):
		// let the checksum decide.
		return nil
	case resp.StatusCode == http.StatusOK:
		// No resume: start over.
		if err := f.Truncate(0); err != nil {
			return permanent{err}
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return permanent{err}
		}
		have, total = 0, resp.ContentLength
	case resp.StatusCode == http.StatusNotFound:
		return permanent{fmt.Errorf("the server has no %s (404)", info.File())}
	default:
		return fmt.Errorf("the server answered %s", resp.Status)
	}
	if total < 0 {
		total = 0
	}

	// Copy, aborting when nothing arrives for StallTimeout.
	stall := s.StallTimeout
	if stall <= 0 {
		stall = 30 * time.Second
	}
	var stalled atomic.Bool
	watchdog := time.AfterFunc(stall, func() { stalled.Store(true); cancel() })
	defer watchdog.Stop()
	buf := make([]byte, 256<<10)
	done, resumed := have, have
	start, lastReport := time.Now(), time.Time{}
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			watchdog.Reset(stall)
			if _, err := f.Write(buf[:n]); err != nil {
				return permanent{err}
			}
			done += int64(n)
			if time.Since(lastReport) > 200*time.Millisecond {
				lastReport = time.Now()
				s.report(Progress{Name: info.Name, Done: done, Total: total, Resumed: resumed, Attempt: attempt,
					BytesPerS: float64(done-resumed) / time.Since(start).Seconds()})
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			if stalled.Load() {
				return fmt.Errorf("no data for %s", stall)
			}
			return rerr
		}
	}
	if total > 0 && done != total {
		return fmt.Errorf("the connection closed at %d of %d bytes", done, total)
	}
	if err := f.Sync(); err != nil {
		return permanent{err}
	}
	s.report(Progress{Name: info.Name, Done: done, Total: total, Resumed: resumed, Attempt: attempt, Finished: true,
		BytesPerS: float64(done-resumed) / time.Since(start).Seconds()})
	return nil
}

func (s *Store) report(p Progress) {
	if s.Progress != nil {
		s.Progress(p)
	}
}

// verify checks a finished download: the published SHA-1 where there is
// one, and in every case that the file is a well-formed ggml whisper model.
func verify(path string, info Info) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if info.SHA1 != "" {
		h := sha1.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != info.SHA1 {
			return fmt.Errorf("%w: %s has SHA-1 %s, whisper.cpp publishes %s; the file was removed, pull again or use another mirror",
				ErrBadChecksum, info.File(), got, info.SHA1)
		}
	}
	if _, err := ggml.Check(f, st.Size()); err != nil {
		return fmt.Errorf("%w: %s: %v; the file was removed", ErrBadChecksum, info.File(), err)
	}
	return nil
}

// Downloaded names the catalog's models that are in the cache, whole, in
// catalog order.
func (s *Store) Downloaded() []string {
	var names []string
	for _, i := range s.catalog() {
		if s.Cached(i.Name) {
			names = append(names, i.Name)
		}
	}
	return names
}
