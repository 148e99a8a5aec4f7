package main

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServeRefusesOpenAddressWithoutKey(t *testing.T) {
	model := testModel(t)
	env := map[string]string{"EARSHOT_HOME": t.TempDir(), "EARSHOT_MODEL": model}
	_, _, err := run(t, env, "", "serve", "--addr", "0.0.0.0:0")
	if err == nil || !strings.Contains(err.Error(), "refusing to serve 0.0.0.0:0 without an API key") {
		t.Fatalf("err = %v", err)
	}
}

// SIGTERM (here: the context) lets a running request finish, then serve
// returns nil (exit 0).
func TestServeGracefulShutdown(t *testing.T) {
	model := testModel(t)
	addr := freeAddr(t)
	env := map[string]string{"EARSHOT_HOME": t.TempDir(), "EARSHOT_MODEL": model, "EARSHOT_API_KEY": "esk_test"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		root := newRoot(strings.NewReader(""), io.Discard, &logs, func(k string) string { return env[k] })
		root.SetArgs([]string{"serve", "--addr", addr, "--threads", "2"})
		done <- root.ExecuteContext(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, err := http.Get("http://" + addr + "/readyz"); err == nil {
			r.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	data, err := os.ReadFile("../../testdata/audio/jfk.wav")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("language", "en")
	fw, _ := mw.CreateFormFile("file", "a.wav")
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/audio/transcriptions", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer esk_test")
	status := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- -1
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	time.Sleep(300 * time.Millisecond) // the request is running
	cancel()
	if s := <-status; s != 200 {
		t.Errorf("in-flight request got %d during shutdown, want 200", s)
	}
	if err := <-done; err != nil {
		t.Errorf("serve returned %v, want nil", err)
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Errorf("logs: %s", logs.String())
	}
}

// A key made with 'earshot keys create' opens a server on the same store;
// once revoked it does not, and a wrong key never does.
func TestServeUsesTheKeyStore(t *testing.T) {
	model := testModel(t)
	env := map[string]string{"EARSHOT_HOME": t.TempDir(), "EARSHOT_MODEL": model}
	secret, errOut, err := run(t, env, "", "keys", "create", "--name", "ci")
	if err != nil {
		t.Fatalf("create: %v (%s)", err, errOut)
	}
	secret = strings.TrimSpace(secret)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := newRoot(strings.NewReader(""), io.Discard, io.Discard, func(k string) string { return env[k] })
		root.SetArgs([]string{"serve", "--addr", addr, "--threads", "1"})
		done <- root.ExecuteContext(ctx)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	models := func(key string) int {
		deadline := time.Now().Add(20 * time.Second)
		for {
			req, _ := http.NewRequest("GET", "http://"+addr+"/v1/models", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			if time.Now().After(deadline) {
				t.Fatal("server did not come up")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got := models(secret); got != 200 {
		t.Errorf("created key: %d, want 200", got)
	}
	if got := models(secret + "x"); got != 401 {
		t.Errorf("wrong key: %d, want 401", got)
	}
	if _, errOut, err := run(t, env, "", "keys", "revoke", "ci"); err != nil {
		t.Fatalf("revoke: %v (%s)", err, errOut)
	}
	if got := models(secret); got != 401 {
		t.Errorf("revoked key: %d, want 401", got)
	}
}
