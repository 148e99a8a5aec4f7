package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
)

// memAccounts keeps keys and usage in memory; the store's own adapter is
// tested with the store in cmd/earshot.
type memAccounts struct {
	mu    sync.Mutex
	keys  []httpapi.Key
	days  []httpapi.DayUsage
	query httpapi.UsageQuery
	actor string
}

func (a *memAccounts) CreateKey(_ context.Context, k httpapi.NewKey, actor string) (string, httpapi.Key, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.actor = actor
	key := httpapi.Key{ID: "k" + string(rune('a'+len(a.keys))), Name: k.Name, Scopes: k.Scopes, Limits: k.Limits, CreatedAt: 1}
	a.keys = append(a.keys, key)
	return "esk_secret-" + key.ID, key, nil
}

func (a *memAccounts) Keys(context.Context) ([]httpapi.Key, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]httpapi.Key(nil), a.keys...), nil
}

func (a *memAccounts) RevokeKey(_ context.Context, id, actor string) (httpapi.Key, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.actor = actor
	for i, k := range a.keys {
		if k.ID == id && k.RevokedAt == nil {
			r := int64(2)
			a.keys[i].RevokedAt = &r
			return a.keys[i], nil
		}
	}
	return httpapi.Key{}, pipeline.Errorf(pipeline.NotFound, "key_not_found", "No such key.")
}

func (a *memAccounts) Usage(_ context.Context, q httpapi.UsageQuery) ([]httpapi.DayUsage, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.query = q
	var out []httpapi.DayUsage
	for _, d := range a.days {
		if (q.KeyID == "" || d.KeyID == q.KeyID) && !d.Day.Before(q.From) && !d.Day.After(q.To) {
			out = append(out, d)
		}
	}
	return out, nil
}

// scoped authenticates "admin" (admin scope), "user" and "other"
// (transcribe scope).
type scoped struct{}

func (scoped) Authenticate(_ context.Context, key string) (pipeline.Principal, error) {
	switch key {
	case "admin":
		return pipeline.Principal{KeyID: "kadmin", Scopes: []string{"admin"}}, nil
	case "user", "other":
		return pipeline.Principal{KeyID: "k" + key, Scopes: []string{"transcribe"}}, nil
	}
	return pipeline.Principal{}, pipeline.ErrBadKey
}

func adminAPI(t testing.TB) (*httpapi.Server, *memAccounts) {
	e := &pipelinetest.Engine{}
	acc := &memAccounts{}
	return httpapi.New(httpapi.Config{Pipeline: pipeline.New(pipeline.Config{Engine: e, Auth: scoped{}}), Stats: e, Accounts: acc}), acc
}

func do(t *testing.T, h http.Handler, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %q", method, path, w.Body.String())
	}
	return w.Code, out
}

func TestKeysRoutes(t *testing.T) {
	api, acc := adminAPI(t)
	code, k := do(t, api, "POST", "/v1/keys", "admin", `{"name":"ci","scopes":["transcribe"],"limits":{"rpm":60,"concurrency":2,"max_upload_bytes":1000,"monthly_audio_seconds":360000}}`)
	if code != 201 || k["secret"] != "esk_secret-ka" || k["object"] != "api_key" || k["limits"].(map[string]any)["rpm"] != 60.0 {
		t.Fatalf("create: %d %v", code, k)
	}
	if acc.actor != "key:kadmin" {
		t.Errorf("audit actor = %q, want the acting key's id", acc.actor)
	}
	code, list := do(t, api, "GET", "/v1/keys", "admin", "")
	data, _ := list["data"].([]any)
	if code != 200 || len(data) != 1 || data[0].(map[string]any)["secret"] != nil {
		t.Errorf("list: %d %v (a listing never shows a secret)", code, list)
	}
	if code, k = do(t, api, "DELETE", "/v1/keys/ka", "admin", ""); code != 200 || k["revoked_at"] == nil {
		t.Errorf("revoke: %d %v", code, k)
	}
	if code, _ = do(t, api, "DELETE", "/v1/keys/ka", "admin", ""); code != 404 {
		t.Errorf("revoke again: %d, want 404", code)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/keys", `{"name":"x"}`}, {"GET", "/v1/keys", ""}, {"DELETE", "/v1/keys/ka", ""},
	} {
		code, e := do(t, api, tc.method, tc.path, "user", tc.body)
		if code != 403 || e["error"].(map[string]any)["code"] != "insufficient_permissions" {
			t.Errorf("%s %s with a transcription key: %d %v, want 403", tc.method, tc.path, code, e)
		}
	}
	if code, _ = do(t, api, "POST", "/v1/audio/transcriptions", "admin", ""); code != 403 {
		t.Errorf("transcribing with an admin-only key: %d, want 403", code)
	}
}

func TestNewKeyBody(t *testing.T) {
	api, _ := adminAPI(t)
	for _, tc := range []struct {
		name, body, ct string
		status         int
		param          string
	}{
		{"valid", `{"name":"a"}`, "application/json", 201, ""},
		{"charset", `{"name":"b"}`, "application/json; charset=utf-8", 201, ""},
		{"text/plain (no preflight)", `{"name":"a"}`, "text/plain", 400, ""},
		{"no name", `{}`, "application/json", 400, "name"},
		{"unknown field", `{"name":"a","admin":true}`, "application/json", 400, "admin"},
		{"bad scope", `{"name":"a","scopes":["root"]}`, "application/json", 400, "scopes"},
		{"negative", `{"name":"a","limits":{"rpm":-1}}`, "application/json", 400, "limits.rpm"},
		{"wrong type", `{"name":"a","limits":{"rpm":"60"}}`, "application/json", 400, "limits.rpm"},
		{"two values", `{"name":"a"}{"name":"b"}`, "application/json", 400, ""},
		{"not JSON", `name=a`, "application/json", 400, ""},
		{"huge", `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, "application/json", 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/v1/keys", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ct)
			req.Header.Set("Authorization", "Bearer admin")
			w := httptest.NewRecorder()
			api.ServeHTTP(w, req)
			var e apiErr
			json.Unmarshal(w.Body.Bytes(), &e)
			param := ""
			if e.Error.Param != nil {
				param = *e.Error.Param
			}
			if w.Code != tc.status || param != tc.param {
				t.Errorf("got %d param %q (%s), want %d param %q", w.Code, param, w.Body.String(), tc.status, tc.param)
			}
		})
	}
}

func TestUsageRoute(t *testing.T) {
	api, acc := adminAPI(t)
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	acc.days = []httpapi.DayUsage{
		{KeyID: "kuser", Day: day("2026-05-01"), Requests: 2, AudioSeconds: 20, ProcessingSeconds: 2},
		{KeyID: "kother", Day: day("2026-05-01"), Requests: 5, AudioSeconds: 50, ProcessingSeconds: 5},
		{KeyID: "kuser", Day: day("2026-05-03"), Requests: 1, AudioSeconds: 10, ProcessingSeconds: 1},
	}
	for _, tc := range []struct {
		name, key, query string
		status           int
		requests         float64
		days             int
	}{
		{"own usage", "user", "since=2026-05-01&until=2026-05-31", 200, 3, 2},
		{"own usage by id", "user", "since=2026-05-01&until=2026-05-31&key=kuser", 200, 3, 2},
		{"one day", "user", "since=2026-05-03&until=2026-05-03", 200, 1, 1},
		{"RFC 3339", "user", "since=2026-05-02T23:00:00-02:00&until=2026-05-31", 200, 1, 1},
		{"another key's", "user", "since=2026-05-01&until=2026-05-31&key=kother", 403, 0, 0},
		{"admin, every key", "admin", "since=2026-05-01&until=2026-05-31", 200, 8, 3},
		{"admin, one key", "admin", "since=2026-05-01&until=2026-05-31&key=kother", 200, 5, 1},
		{"bad date", "user", "since=yesterday", 400, 0, 0},
		{"until before since", "user", "since=2026-05-03&until=2026-05-01", 400, 0, 0},
		{"unknown parameter", "user", "from=2026-05-01", 400, 0, 0},
		{"repeated", "user", "since=2026-05-01&since=2026-05-02", 400, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := do(t, api, "GET", "/v1/usage?"+tc.query, tc.key, "")
			if code != tc.status {
				t.Fatalf("status %d (%v), want %d", code, out, tc.status)
			}
			if code != 200 {
				return
			}
			total := out["total"].(map[string]any)
			if total["requests"] != tc.requests || len(out["data"].([]any)) != tc.days {
				t.Errorf("total %v, %d days; want %v requests, %d days", total, len(out["data"].([]any)), tc.requests, tc.days)
			}
		})
	}
	// By default: this month so far, as the quota counts it.
	do(t, api, "GET", "/v1/usage", "user", "")
	now := time.Now().UTC()
	if acc.query.From.Day() != 1 || acc.query.From.Month() != now.Month() || acc.query.To.Day() != now.Day() {
		t.Errorf("default range %v..%v", acc.query.From, acc.query.To)
	}
}

// FuzzNewKey: any body and content type at POST /v1/keys is a key made or
// a 4xx, never a panic or a 500.
func FuzzNewKey(f *testing.F) {
	f.Add([]byte(`{"name":"ci","scopes":["transcribe","admin"],"limits":{"rpm":60,"concurrency":2,"max_upload_bytes":26214400,"monthly_audio_seconds":360000}}`), "application/json")
	f.Add([]byte(`{"name":"\xff\xfe","limits":{"rpm":1e99}}`), "application/json; charset=latin1")
	f.Add([]byte(`[{"name":1}]`), "application/json")
	f.Add([]byte(`{"name":"a","name":"b"}`), "Application/JSON")
	api, _ := adminAPI(f)
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		req := httptest.NewRequest("POST", "/v1/keys", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer admin")
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		switch w.Code {
		case 201, 400, 413:
		default:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body.String())
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", w.Body.String())
		}
	})
}

// FuzzUsageQuery: any query string at GET /v1/usage is 200 or 400.
func FuzzUsageQuery(f *testing.F) {
	for _, q := range []string{"since=2026-05-01&until=2026-05-31", "key=kuser", "since=0001-01-01", "until=9999-12-31T23:59:59Z",
		"since=%ff&until=%00", "since=2026-02-30", "key=" + strings.Repeat("k", 200), "since=2026-05-01T00:00:00+14:00&until=2026-04-30T23:00:00-12:00"} {
		f.Add(q)
	}
	api, _ := adminAPI(f)
	f.Fuzz(func(t *testing.T, q string) {
		if _, err := url.ParseQuery(q); err != nil {
			q = url.QueryEscape(q)
		}
		for _, key := range []string{"user", "admin"} {
			req := httptest.NewRequest("GET", "/v1/usage", nil)
			req.URL.RawQuery = q
			req.Header.Set("Authorization", "Bearer "+key)
			w := httptest.NewRecorder()
			api.ServeHTTP(w, req)
			switch w.Code {
			case 200, 400, 403:
			default:
				t.Fatalf("status %d for %q: %s", w.Code, q, w.Body.String())
			}
		}
	})
}
