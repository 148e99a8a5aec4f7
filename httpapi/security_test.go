package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
)

// doorServer serves the API over the scripted engine behind a real HTTP
// server: auth on when auth is given.
func doorServer(t *testing.T, auth pipeline.Authenticator, cfg httpapi.Config) string {
	t.Helper()
	e := &pipelinetest.Engine{}
	cfg.Pipeline = pipeline.New(pipeline.Config{Engine: e, Auth: auth})
	cfg.Stats = e
	srv := httptest.NewServer(httpapi.New(cfg))
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url, host string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// With auth off, a request addressed to a name that is not loopback is a
// web page that rebound its own domain to 127.0.0.1, and a page of another
// site may send simple requests: both are refused. With auth on, keys
// guard the door and any Host is served.
func TestDoor(t *testing.T) {
	open := doorServer(t, nil, httpapi.Config{})
	listed := doorServer(t, nil, httpapi.Config{AllowedHosts: []string{"box.lan"}, CORSOrigins: []string{"https://app.example"}})
	keyed := doorServer(t, testAuth{}, httpapi.Config{})
	bearer := map[string]string{"Authorization": "Bearer " + testKey}
	for _, tc := range []struct {
		name   string
		url    string
		host   string
		header map[string]string
		want   int
	}{
		{"loopback IP", open, "", nil, 200},
		{"localhost", open, "localhost:8080", nil, 200},
		{"LOCALHOST", open, "LOCALHOST", nil, 200},
		{"IPv6 loopback", open, "[::1]:8080", nil, 200},
		{"127.0.0.2", open, "127.0.0.2:80", nil, 200},
		{"rebound name", open, "evil.example:8080", nil, 403},
		{"rebound name, no port", open, "evil.example", nil, 403},
		{"localhost as a subdomain", open, "localhost.evil.example", nil, 403},
		{"private address", open, "192.168.1.10:8080", nil, 403},
		{"empty Host", open, " ", nil, 403},
		{"listed host", listed, "box.lan:8080", nil, 200},
		{"listed host, other name", listed, "box2.lan:8080", nil, 403},
		{"foreign page", open, "", map[string]string{"Origin": "https://evil.example"}, 403},
		{"null origin", open, "", map[string]string{"Origin": "null"}, 403},
		{"loopback page", open, "", map[string]string{"Origin": "http://localhost:3000"}, 200},
		{"CORS origin", listed, "", map[string]string{"Origin": "https://app.example"}, 200},
		{"auth on, any Host", keyed, "evil.example", bearer, 200},
		{"auth on, foreign page with a key", keyed, "", map[string]string{"Authorization": "Bearer " + testKey, "Origin": "https://evil.example"}, 200},
		{"auth on, rebound name without key", keyed, "evil.example", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, tc.url+"/v1/models", tc.host, tc.header)
			if resp.StatusCode != tc.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	// /healthz too: nothing of the API answers a rebound name.
	if got := get(t, open+"/healthz", "evil.example", nil).StatusCode; got != 403 {
		t.Errorf("/healthz with a rebound Host: %d, want 403", got)
	}
}

// A multipart POST from a foreign page (no preflight needed) is refused
// before its body is read, in OpenAI's envelope.
func TestDoorRefusesCrossSitePost(t *testing.T) {
	url := doorServer(t, nil, httpapi.Config{})
	body, ct := multipartBody(t, testdata(t, "jfk.wav")[:2000], nil)
	req, _ := http.NewRequest("POST", url+"/v1/audio/transcriptions", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Origin", "http://attacker.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e apiErr
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 403 || e.Error.Code == nil || *e.Error.Code != "origin_not_allowed" {
		t.Errorf("status %d, error %+v; want 403 origin_not_allowed", resp.StatusCode, e.Error)
	}
}

func TestSecurityHeaders(t *testing.T) {
	url := doorServer(t, testAuth{}, httpapi.Config{})
	for _, path := range []string{"/v1/models", "/healthz", "/nope"} {
		resp := get(t, url+path, "", map[string]string{"Authorization": "Bearer " + testKey})
		for k, want := range map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
	}
	resp := get(t, url+"/v1/models", "", map[string]string{"Authorization": "Bearer " + testKey})
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("/v1 Cache-Control = %q, want no-store", got)
	}
}

// CORS is off unless configured: no Access-Control header for anyone, and
// a preflight is not answered; a configured origin gets both, others not.
func TestCORS(t *testing.T) {
	off := doorServer(t, testAuth{}, httpapi.Config{})
	on := doorServer(t, testAuth{}, httpapi.Config{CORSOrigins: []string{"https://app.example"}})
	preflight := func(url, origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", url+"/v1/audio/transcriptions", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct {
		name, url, origin string
		wantStatus        int
		wantAllow         string
	}{
		{"off", off, "https://app.example", 405, ""},
		{"configured", on, "https://app.example", 204, "https://app.example"},
		{"other origin", on, "https://evil.example", 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := preflight(tc.url, tc.origin)
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("Access-Control-Allow-Origin") != tc.wantAllow {
				t.Errorf("preflight: %d, allow-origin %q; want %d, %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), tc.wantStatus, tc.wantAllow)
			}
			resp = get(t, tc.url+"/v1/models", "", map[string]string{"Origin": tc.origin, "Authorization": "Bearer " + testKey})
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.wantAllow {
				t.Errorf("GET: allow-origin %q, want %q", got, tc.wantAllow)
			}
		})
	}
}

// The playground is served without a key (it asks for one and sends it to
// /v1 like any client), with its own Content-Security-Policy; the API
// behind it still wants the key, and with the page off / is a 404. With
// auth off the door holds for the page too: a non-loopback Host is refused.
func TestPlayground(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'")
		w.Write([]byte("<!doctype html>"))
	})
	on := doorServer(t, testAuth{}, httpapi.Config{Page: page})
	off := doorServer(t, testAuth{}, httpapi.Config{})
	open := doorServer(t, nil, httpapi.Config{Page: page})
	tests := []struct {
		name, url, host string
		status          int
		csp             string
	}{
		{"page without a key", on + "/", "", 200, "default-src 'none'; script-src 'self'"},
		{"asset without a key", on + "/playground/app.js", "", 200, "default-src 'none'; script-src 'self'"},
		{"the API still wants the key", on + "/v1/models", "", 401, "default-src 'none'; frame-ancestors 'none'"},
		{"page off", off + "/", "", 404, "default-src 'none'; frame-ancestors 'none'"},
		{"auth off, loopback", open + "/", "", 200, "default-src 'none'; script-src 'self'"},
		{"auth off, rebinding Host", open + "/", "evil.example", 403, "default-src 'none'; frame-ancestors 'none'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, tt.url, tt.host, nil)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != tt.csp {
				t.Errorf("CSP %q, want %q", got, tt.csp)
			}
			if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("X-Frame-Options %q", got)
			}
		})
	}
}
