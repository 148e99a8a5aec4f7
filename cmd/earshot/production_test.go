package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/mcp"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
	"github.com/earshot-dev/earshot/store"
	"github.com/earshot-dev/earshot/transcripts"
)

// These tests run earshot serve's request path as main wires it (keyAuth,
// storeLimiter, accounts, the HTTP API with /mcp mounted) over real HTTP
// and a real store, on the scripted engine so that they take milliseconds.

var testPepper = []byte("a pepper of the production tests")

// spokenText is what the scripted engine "says": no log line may hold it.
const spokenText = "Quartz zebras juggle marmalade. Nobody logs this."

// syncBuffer is a log sink for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type replica struct {
	url    string
	db     *store.DB
	engine *pipelinetest.Engine
}

// newReplica serves the API on the store dsn names, with the store's
// clock now (nil: the real one).
func newReplica(t *testing.T, dsn string, now func() time.Time, logs io.Writer, engine *pipelinetest.Engine) *replica {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{Pepper: testPepper, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if engine == nil {
		engine = &pipelinetest.Engine{Text: spokenText}
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pipe, err := newPipeline(pipelineConfig{
		engine:   engine,
		maxBytes: httpapi.DefaultMaxUpload,
		store:    transcripts.New(0, 0),
		auth:     &keyAuth{store: db},
		limits:   &storeLimiter{store: db, ttl: defaultLeaseTTL, log: log},
		log:      log,
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mcp.New(mcp.Config{Pipeline: pipe, MaxFileBytes: httpapi.DefaultMaxUpload, Version: "test", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h := m.HTTPHandler(mcp.HTTPOptions{Path: "/mcp"})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{
		Pipeline: pipe, Stats: engine, ModelName: "scripted", Logger: log,
		Mounts: map[string]http.Handler{"/mcp": h}, Accounts: accounts{store: db},
	}))
	t.Cleanup(func() {
		srv.Close()
		h.Close(context.Background())
	})
	return &replica{url: srv.URL, db: db, engine: engine}
}

func (r *replica) key(t *testing.T, name string, scopes []store.Scope, l store.Limits) (secret, id string) {
	t.Helper()
	secret, k, err := r.db.CreateKey(context.Background(), store.NewKey{Name: name, Scopes: scopes, Limits: l, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return secret, k.ID
}

// sine is a second of a 440 Hz tone as a 16 kHz 16-bit WAV.
func sine(seconds float64) []byte {
	n := int(seconds * 16000)
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+2*n))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, []uint32{16})
	binary.Write(&b, binary.LittleEndian, []uint16{1, 1})
	binary.Write(&b, binary.LittleEndian, []uint32{16000, 32000})
	binary.Write(&b, binary.LittleEndian, []uint16{2, 16})
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(2*n))
	for i := range n {
		binary.Write(&b, binary.LittleEndian, int16(8000*math.Sin(2*math.Pi*440*float64(i)/16000)))
	}
	return b.Bytes()
}

func multipartFile(t testing.TB, file []byte, fields map[string]string) (io.Reader, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", "tone.wav")
	fw.Write(file)
	w.Close()
	return &b, w.FormDataContentType()
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) errorCode() (typ, code string) {
	var e struct {
		Error struct {
			Type string  `json:"type"`
			Code *string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(a.body, &e)
	if e.Error.Code != nil {
		code = *e.Error.Code
	}
	return e.Error.Type, code
}

func send(t testing.TB, method, u, key string, body io.Reader, contentType string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if method == "POST" && strings.HasSuffix(u, "/mcp") {
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

func transcribeTone(t testing.TB, base, path, key string) answer {
	body, ct := multipartFile(t, sine(1), map[string]string{"model": "whisper-1"})
	return send(t, "POST", base+path, key, body, ct)
}

// TestAuthMatrix: every route, with no key, a wrong key, a revoked key, a
// key over its quota, a key without the route's scope, and a valid key, on
// each store.
func TestAuthMatrix(t *testing.T) {
	for name, dsn := range backends(t) {
		t.Run(name, func(t *testing.T) { authMatrix(t, dsn(t)) })
	}
}

func authMatrix(t *testing.T, dsn string) {
	logs := &syncBuffer{}
	r := newReplica(t, dsn, nil, logs, nil)
	ctx := context.Background()
	user, _ := r.key(t, "user", nil, store.Limits{})
	admin, _ := r.key(t, "admin", []store.Scope{store.ScopeAdmin}, store.Limits{})
	revoked, _ := r.key(t, "revoked", []store.Scope{store.ScopeTranscribe, store.ScopeAdmin}, store.Limits{})
	if _, err := r.db.RevokeKey(ctx, "revoked", "test"); err != nil {
		t.Fatal(err)
	}
	spent, spentID := r.key(t, "spent", nil, store.Limits{MonthlyAudioSeconds: 1})
	if _, err := r.db.RecordUsage(ctx, store.UsageRecord{RequestID: "earlier", KeyID: spentID, AudioSeconds: 5}); err != nil {
		t.Fatal(err)
	}
	_, victim := r.key(t, "victim", nil, store.Limits{})
	const badKey = "esk_0123456789abcdef0123456789abcdef0123456789abcdef"
	mcpInit := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

	type route struct {
		method, path string
		body         func() (io.Reader, string)
		scope        store.Scope // "" for any valid key
		ok, spent    int         // status for a valid key, and for the spent one
	}
	audio := func() (io.Reader, string) { return multipartFile(t, sine(1), nil) }
	jsonBody := func(s string) func() (io.Reader, string) {
		return func() (io.Reader, string) { return strings.NewReader(s), "application/json" }
	}
	routes := []route{
		{"POST", "/v1/audio/transcriptions", audio, store.ScopeTranscribe, 200, 429},
		{"POST", "/v1/audio/translations", audio, store.ScopeTranscribe, 200, 429},
		{"POST", "/v1/transcriptions", audio, store.ScopeTranscribe, 200, 429},
		{"GET", "/v1/transcriptions/tr_unknown", nil, store.ScopeTranscribe, 404, 404},
		{"POST", "/mcp", jsonBody(mcpInit), store.ScopeTranscribe, 200, 200},
		{"GET", "/v1/models", nil, "", 200, 200},
		{"GET", "/v1/models/whisper-1", nil, "", 200, 200},
		{"GET", "/v1/usage", nil, "", 200, 200},
		{"POST", "/v1/keys", jsonBody(`{"name":"made-over-http"}`), store.ScopeAdmin, 201, 403},
		{"GET", "/v1/keys", nil, store.ScopeAdmin, 200, 403},
		{"DELETE", "/v1/keys/" + victim, nil, store.ScopeAdmin, 200, 403},
	}
	for _, rt := range routes {
		valid, wrong := user, admin
		switch rt.scope {
		case store.ScopeAdmin:
			valid, wrong = admin, user
		case "":
			wrong = admin // a key of either scope may
		}
		wrongStatus := 403
		if rt.scope == "" {
			wrongStatus = rt.ok
		}
		for _, c := range []struct {
			who, key string
			want     int
			code     string
		}{
			{"no key", "", 401, "invalid_api_key"},
			{"bad key", badKey, 401, "invalid_api_key"},
			{"revoked", revoked, 401, "invalid_api_key"},
			{"over quota", spent, rt.spent, ""},
			{"wrong scope", wrong, wrongStatus, ""},
			{"valid", valid, rt.ok, ""},
		} {
			t.Run(rt.method+" "+rt.path+"/"+c.who, func(t *testing.T) {
				var body io.Reader
				ct := ""
				if rt.body != nil {
					body, ct = rt.body()
				}
				a := send(t, rt.method, r.url+rt.path, c.key, body, ct)
				if a.status != c.want {
					t.Fatalf("status %d, want %d: %s", a.status, c.want, a.body)
				}
				typ, code := a.errorCode()
				switch {
				case c.code != "" && code != c.code:
					t.Errorf("code %q, want %q", code, c.code)
				case a.status == 403 && code != "insufficient_permissions":
					t.Errorf("403 with code %q", code)
				case a.status == 429 && (typ != "insufficient_quota" || code != "insufficient_quota"):
					t.Errorf("over quota: type %q code %q, want insufficient_quota", typ, code)
				}
			})
		}
	}

	// The audit log names the acting key, never a secret.
	entries, err := r.db.Audit(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, e := range entries {
		if e.KeyName == "made-over-http" || e.KeyID == victim && e.Action == "revoke" {
			actors = append(actors, e.Actor)
		}
	}
	adminP, _ := r.db.Authenticate(ctx, admin)
	if want := "key:" + adminP.KeyID; len(actors) != 2 || actors[0] != want || actors[1] != want {
		t.Errorf("audit actors %v, want two entries by %s", actors, want)
	}

	// No key and no transcript text in any log line.
	out := logs.String()
	if !strings.Contains(out, "request") {
		t.Fatalf("nothing was logged: %q", out)
	}
	for _, secret := range []string{user, admin, revoked, spent, badKey, "Quartz", "marmalade"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

// Rate and concurrency limits answer 429 with Retry-After; a key's upload
// limit is enforced while the body arrives; the concurrency slot comes back
// when a request is cancelled.
func TestLimits(t *testing.T) {
	path := "sqlite:" + filepath.Join(t.TempDir(), "earshot.db")
	minute := time.Now().UTC().Truncate(time.Minute).Add(20 * time.Second)
	clock := func() time.Time { return minute }
	r := newReplica(t, path, clock, io.Discard, nil)
	ctx := context.Background()

	rpm2, _ := r.key(t, "rpm2", nil, store.Limits{RPM: 2})
	for i, want := range []int{200, 200, 429} {
		a := transcribeTone(t, r.url, "/v1/audio/transcriptions", rpm2)
		if a.status != want {
			t.Fatalf("request %d: %d, want %d: %s", i+1, a.status, want, a.body)
		}
		if want == 429 {
			typ, code := a.errorCode()
			ra, err := strconv.Atoi(a.header.Get("Retry-After"))
			if typ != "rate_limit_error" || code != "rate_limit_exceeded" || err != nil || ra != 40 {
				t.Errorf("rate limited: type %q code %q Retry-After %q; want rate_limit_error, rate_limit_exceeded, 40", typ, code, a.header.Get("Retry-After"))
			}
		}
	}

	small, _ := r.key(t, "small", nil, store.Limits{MaxUpload: 20000})
	a := transcribeTone(t, r.url, "/v1/audio/transcriptions", small) // 32 kB
	if _, code := a.errorCode(); a.status != 413 || code != "file_too_large" || !strings.Contains(string(a.body), "API key's upload limit") {
		t.Errorf("over the key's upload limit: %d %s", a.status, a.body)
	}
	body, ct := multipartFile(t, sine(0.5), nil)
	if a := send(t, "POST", r.url+"/v1/audio/transcriptions", small, body, ct); a.status != 200 {
		t.Errorf("within the key's upload limit: %d %s", a.status, a.body)
	}

	// Concurrency: a second replica on the same store, whose engine holds
	// every request until it is cancelled.
	blocking := newReplica(t, path, clock, io.Discard, &pipelinetest.Engine{Block: true})
	one, oneID := r.key(t, "one", nil, store.Limits{Concurrency: 1})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		body, ct := multipartFile(t, sine(1), nil)
		req, _ := http.NewRequestWithContext(rctx, "POST", blocking.url+"/v1/audio/transcriptions", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+one)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, func() bool { return blocking.engine.Running() == 1 })
	a = transcribeTone(t, r.url, "/v1/audio/transcriptions", one) // the other replica
	if typ, code := a.errorCode(); a.status != 429 || typ != "rate_limit_error" || code != "concurrency_limit_exceeded" || a.header.Get("Retry-After") != "1" {
		t.Errorf("second concurrent request: %d %s Retry-After %q", a.status, a.body, a.header.Get("Retry-After"))
	}
	cancel()
	<-done
	waitFor(t, func() bool { return blocking.engine.Running() == 0 })
	waitFor(t, func() bool {
		l, err := r.db.Acquire(ctx, oneID, 1, time.Minute)
		if err != nil {
			return false
		}
		r.db.Release(ctx, l)
		return true
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// backends are the stores replicas share: a SQLite file (replicas on one
// machine) and, when EARSHOT_TEST_POSTGRES names a server, PostgreSQL.
func backends(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "earshot.db") },
		"postgres": func(t *testing.T) string {
			base := os.Getenv("EARSHOT_TEST_POSTGRES")
			if base == "" {
				if os.Getenv("CI") == "true" {
					t.Fatal("EARSHOT_TEST_POSTGRES is not set")
				}
				t.Skip("EARSHOT_TEST_POSTGRES is not set (a postgres:// URL of a server to test against)")
			}
			return freshSchema(t, base)
		},
	}
}

// freshSchema makes an empty schema, dropped at the end of the test, and
// returns base with its search_path set to it.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := "earshot_serve_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("no PostgreSQL at EARSHOT_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Two replicas on one store: a key limited to 60 requests a minute gets
// 60 accepted across both, every other answer a 429 with Retry-After, and
// its usage counts exactly the accepted requests.
func TestReplicasShareLimits(t *testing.T) {
	for name, dsn := range backends(t) {
		t.Run(name, func(t *testing.T) {
			d := dsn(t)
			minute := time.Now().UTC().Truncate(time.Minute).Add(10 * time.Second)
			clock := func() time.Time { return minute } // one window for the whole test
			a := newReplica(t, d, clock, io.Discard, nil)
			b := newReplica(t, d, clock, io.Discard, nil)
			key, id := a.key(t, "ci", nil, store.Limits{RPM: 60})
			const sent, clients = 100, 8
			var mu sync.Mutex
			statuses := map[int]int{}
			var bad []string
			var wg sync.WaitGroup
			next := make(chan int)
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range next {
						srv := []*replica{a, b}[i%2]
						ans := transcribeTone(t, srv.url, "/v1/audio/transcriptions", key)
						mu.Lock()
						statuses[ans.status]++
						if ans.status != 200 && (ans.status != 429 || ans.header.Get("Retry-After") == "") {
							bad = append(bad, strconv.Itoa(ans.status)+" "+string(ans.body))
						}
						mu.Unlock()
					}
				}()
			}
			for i := range sent {
				next <- i
			}
			close(next)
			wg.Wait()
			if statuses[200] != 60 || statuses[429] != sent-60 || len(bad) > 0 {
				t.Errorf("statuses %v (want 60 x 200, %d x 429 with Retry-After); unexpected: %v", statuses, sent-60, bad)
			}
			// Both replicas see the same usage: the accepted requests, once each.
			for _, srv := range []*replica{a, b} {
				ans := send(t, "GET", srv.url+"/v1/usage?key="+id, key, nil, "")
				var u struct {
					Total struct {
						Requests     int64   `json:"requests"`
						AudioSeconds float64 `json:"audio_seconds"`
					} `json:"total"`
				}
				if err := json.Unmarshal(ans.body, &u); err != nil || ans.status != 200 {
					t.Fatalf("usage: %d %s", ans.status, ans.body)
				}
				if u.Total.Requests != 60 || math.Abs(u.Total.AudioSeconds-60) > 1e-6 {
					t.Errorf("usage %+v, want 60 requests and 60 audio seconds", u.Total)
				}
			}
		})
	}
}

// MCP tool calls over /mcp count against the same limits and usage as
// HTTP requests: a spent key's call is a tool error that says so, and a
// valid key's call is recorded once.
func TestMCPCountsAgainstLimits(t *testing.T) {
	r := newReplica(t, "sqlite:"+filepath.Join(t.TempDir(), "earshot.db"), nil, io.Discard, nil)
	ctx := context.Background()
	spent, spentID := r.key(t, "spent", nil, store.Limits{MonthlyAudioSeconds: 1})
	if _, err := r.db.RecordUsage(ctx, store.UsageRecord{RequestID: "earlier", KeyID: spentID, AudioSeconds: 5}); err != nil {
		t.Fatal(err)
	}
	user, userID := r.key(t, "user", nil, store.Limits{})
	call := func(key string) *mcpgo.CallToolResult {
		c, err := client.NewStreamableHttpClient(r.url+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key}))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		var init mcpgo.InitializeRequest
		init.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
		init.Params.ClientInfo = mcpgo.Implementation{Name: "test", Version: "1"}
		if _, err := c.Initialize(ctx, init); err != nil {
			t.Fatal(err)
		}
		var req mcpgo.CallToolRequest
		req.Params.Name = "transcribe"
		req.Params.Arguments = map[string]any{"audio_base64": base64.StdEncoding.EncodeToString(sine(1))}
		res, err := c.CallTool(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := call(spent)
	if !res.IsError || len(res.Content) == 0 || !strings.Contains(res.Content[0].(mcpgo.TextContent).Text, "monthly audio allowance") {
		t.Errorf("a spent key's tool call: %+v, want a tool error about the quota", res)
	}
	if res := call(user); res.IsError {
		t.Fatalf("a valid key's tool call failed: %+v", res.Content)
	}
	days, err := r.db.Usage(ctx, store.UsageQuery{KeyID: userID})
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 1 || days[0].Requests != 1 || math.Abs(days[0].AudioSeconds-1) > 1e-6 {
		t.Errorf("usage after one tool call: %+v", days)
	}
}

// A request that runs longer than a lease's ttl keeps its slot: the
// limiter renews the lease until release, which gives it back.
func TestLeaseRenewedWhileRunning(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "earshot.db"), store.Options{Pepper: testPepper})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, k, err := db.CreateKey(ctx, store.NewKey{Name: "one", Limits: store.Limits{Concurrency: 1}})
	if err != nil {
		t.Fatal(err)
	}
	l := &storeLimiter{store: db, ttl: 300 * time.Millisecond, log: slog.New(slog.DiscardHandler)}
	p := pipelineP(k)
	release, err := l.Admit(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // three ttls
	if _, err := l.Admit(ctx, p); err == nil {
		t.Fatal("a second request was admitted while the first still ran: its lease lapsed")
	} else if !strings.Contains(err.Error(), "as many requests running") {
		t.Fatalf("second request: %v", err)
	}
	release()
	release() // twice is harmless
	again, err := l.Admit(ctx, p)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}

// pruneUsage forgets old request ids on its own: the same id counts again
// once its record is gone; the daily totals stay.
func TestPruneUsage(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "earshot.db"), store.Options{Pepper: testPepper})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := store.UsageRecord{RequestID: "r1", KeyID: "k", At: time.Now().Add(-40 * 24 * time.Hour), AudioSeconds: 1}
	recent := store.UsageRecord{RequestID: "r2", KeyID: "k", At: time.Now(), AudioSeconds: 1}
	for _, u := range []store.UsageRecord{old, recent} {
		if _, err := db.RecordUsage(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pruneUsage(pctx, db, slog.New(slog.DiscardHandler), 10*time.Millisecond, usageRecordAge)
	}()
	// Once pruned, the old id is new again (and counted again).
	waitFor(t, func() bool {
		again, err := db.RecordUsage(ctx, old)
		return err == nil && again
	})
	cancel()
	<-done
	if again, _ := db.RecordUsage(ctx, recent); again {
		t.Error("a recent request id was forgotten")
	}
	days, err := db.Usage(ctx, store.UsageQuery{KeyID: "k"})
	if err != nil || len(days) != 2 || days[0].Requests != 2 || days[1].Requests != 1 {
		t.Errorf("daily totals %+v (%v), want the old day kept (and counted again) and today's once", days, err)
	}
}

func pipelineP(k store.Key) pipeline.Principal {
	return pipeline.Principal{KeyID: k.ID, Name: k.Name, Limits: pipeline.Limits{Concurrency: k.Limits.Concurrency}}
}

// outageStore is a store whose usage writes fail as an unreachable one's
// do while out is set.
type outageStore struct {
	store.Store
	out atomic.Bool
}

func (s *outageStore) RecordUsage(ctx context.Context, u store.UsageRecord) (bool, error) {
	if s.out.Load() {
		return false, fmt.Errorf("%w: connection refused", store.ErrUnavailable)
	}
	return s.Store.RecordUsage(ctx, u)
}

// Usage of requests answered while the store is out is recorded once it
// is back, once each, however often it was retried.
func TestUsageRecordedAfterAnOutage(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "earshot.db"), store.Options{Pepper: testPepper})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, k, err := db.CreateKey(ctx, store.NewKey{Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	s := &outageStore{Store: db}
	s.out.Store(true)
	outbox := newUsageOutbox(s, slog.New(slog.DiscardHandler), 20*time.Millisecond, 3)
	l := &storeLimiter{store: s, ttl: time.Minute, log: slog.New(slog.DiscardHandler), outbox: outbox}
	p := pipelineP(k)
	now := time.Now()
	for _, id := range []string{"req_1", "req_2", "req_2", "req_3"} {
		if err := l.Record(ctx, p, pipeline.Usage{RequestID: id, At: now, AudioSeconds: 2}); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	time.Sleep(100 * time.Millisecond) // attempts while still out
	if n := outbox.held(); n != 3 {
		t.Fatalf("%d records held, want the newest 3 (the bound)", n)
	}
	s.out.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for outbox.held() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the held usage was not recorded after the store came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	outbox.close(ctx)
	days, err := db.Usage(ctx, store.UsageQuery{KeyID: k.ID})
	if err != nil {
		t.Fatal(err)
	}
	var requests int64
	var audio float64
	for _, d := range days {
		requests += d.Requests
		audio += d.AudioSeconds
	}
	// req_1 was the oldest beyond the bound of 3; req_2, held twice,
	// counts once.
	if requests != 2 || audio != 4 {
		t.Errorf("usage %d requests, %.0f s; want 2 and 4 s (req_2 once, req_3)", requests, audio)
	}
}
