package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// testCert writes a self-signed certificate for 127.0.0.1 and its key.
func testCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// earshot serve --tls-cert --tls-key serves wss:// /v1/realtime, taking
// the browser's subprotocol key, and ends its sessions on shutdown.
func TestServeLiveOverTLS(t *testing.T) {
	model := testModel(t)
	addr := freeAddr(t)
	certFile, keyFile, pool := testCert(t)
	env := map[string]string{"EARSHOT_HOME": t.TempDir(), "EARSHOT_MODEL": model, "EARSHOT_API_KEY": "esk_test"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		root := newRoot(strings.NewReader(""), io.Discard, &logs, func(k string) string { return env[k] })
		root.SetArgs([]string{"serve", "--addr", addr, "--threads", "2", "--tls-cert", certFile, "--tls-key", keyFile})
		done <- root.ExecuteContext(ctx)
	}()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, err := hc.Get("https://" + addr + "/readyz"); err == nil {
			r.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	url := "wss://" + addr + "/v1/realtime?model=gpt-4o-transcribe"
	if _, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"realtime", "openai-insecure-api-key.wrong"}}); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong key: %v %v", res, err)
	}
	// Dialled with a context of its own: ctx is the server's, cancelled
	// below to shut it down while the client still listens.
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	conn, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"realtime", "openai-insecure-api-key.esk_test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if conn.Subprotocol() != "realtime" {
		t.Errorf("subprotocol %q", conn.Subprotocol())
	}
	read := func() map[string]any {
		rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer rcancel()
		_, b, err := conn.Read(rctx)
		if err != nil {
			t.Fatalf("%v; server log:\n%s", err, logs.String())
		}
		var e map[string]any
		json.Unmarshal(b, &e)
		return e
	}
	if e := read(); e["type"] != "session.created" {
		t.Fatalf("first event %v", e)
	}
	cancel()
	if e := read(); e["type"] != "error" || e["error"].(map[string]any)["code"] != "server_shutting_down" {
		t.Errorf("on shutdown: %v", e)
	}
	if err := <-done; err != nil {
		t.Errorf("serve returned %v, want nil", err)
	}
}
