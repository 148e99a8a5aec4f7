package web_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/web"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	tests := []struct {
		method, path string
		status       int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html", `<script type="module" src="/playground/app.js">`},
		{"HEAD", "/", 200, "text/html", ""},
		{"GET", "/playground/app.js", 200, "javascript", "/v1/transcriptions"},
		{"GET", "/playground/app.css", 200, "text/css", ".panes"},
		{"GET", "/playground/pcm.js", 200, "javascript", "registerProcessor"},
		{"GET", "/playground/", 404, "", ""},
		{"GET", "/playground/index.html", 404, "", ""},
		{"GET", "/playground/missing.js", 404, "", ""},
		{"GET", "/playground/../web.go", 404, "", ""},
		{"GET", "/elsewhere", 404, "", ""},
		{"POST", "/", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.status, b)
			}
			if tt.status != 200 {
				return
			}
			if ct := res.Header.Get("Content-Type"); !strings.Contains(ct, tt.ctype) {
				t.Errorf("Content-Type %q, want %q", ct, tt.ctype)
			}
			if !strings.Contains(string(b), tt.body) {
				t.Errorf("body lacks %q", tt.body)
			}
			csp := res.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self' ws://" + strings.TrimPrefix(srv.URL, "http://"), "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("CSP allows unsafe code: %q", csp)
			}
		})
	}
}

// Over TLS the page may open only wss:// to its own host.
func TestPolicyOverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(web.Handler())
	defer srv.Close()
	c := srv.Client()
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	res, err := c.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' wss://"+strings.TrimPrefix(srv.URL, "https://")+";") {
		t.Errorf("CSP over TLS: %q", csp)
	}
}
