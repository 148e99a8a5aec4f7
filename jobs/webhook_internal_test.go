package jobs

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// Webhooks reach the internet, not this machine, the private network or a
// cloud's metadata service, unless the server allows it.
func TestWebhookAddresses(t *testing.T) {
	tests := []struct {
		addr     string
		internal bool
	}{
		{"127.0.0.1", true}, {"::1", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"fe80::1", true}, {"fd00::1", true}, {"0.0.0.0", true}, {"::", true},
		{"100.64.0.1", true}, {"224.0.0.1", true}, {"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true},
		{"93.184.215.14", false}, {"8.8.8.8", false}, {"2606:4700::1111", false}, {"172.32.0.1", false},
	}
	for _, tt := range tests {
		if got := internal(netip.MustParseAddr(tt.addr)); got != tt.internal {
			t.Errorf("internal(%s) = %v, want %v", tt.addr, got, tt.internal)
		}
	}
	hosts := []struct {
		url     string
		refused bool
	}{
		{"http://localhost:8080/hook", true}, {"https://api.localhost/hook", true}, {"http://127.0.0.1/hook", true},
		{"http://[::1]:9000/hook", true}, {"http://169.254.169.254/latest/meta-data", true}, {"http://10.0.0.5/x", true},
		{"https://hooks.example/earshot", false}, {"https://93.184.215.14/hook", false},
	}
	for _, tt := range hosts {
		if err := checkWebhookHost(tt.url); (err != nil) != tt.refused {
			t.Errorf("checkWebhookHost(%s) = %v, want refused %v", tt.url, err, tt.refused)
		}
	}
}

// The check is made as the connection is made: a name that resolves to
// loopback (here the test server's own address) is refused, not posted
// to; with WebhookPrivate it is delivered.
func TestWebhookClientRefusesInternal(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	_, err := webhookClient(false).Post(srv.URL, "application/json", nil)
	if !errors.Is(err, errInternalAddress) || hits != 0 {
		t.Errorf("public-only client: %v, %d posts", err, hits)
	}
	res, err := webhookClient(true).Post(srv.URL, "application/json", nil)
	if err != nil || hits != 1 {
		t.Fatalf("private client: %v, %d posts", err, hits)
	}
	res.Body.Close()
}
