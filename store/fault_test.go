package store_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/store"
	"github.com/earshot-dev/earshot/store/storetest"
)

// PostgreSQL going away mid-run: the store answers ErrUnavailable (a 503,
// never a 401), and serves again once the server is back, with nothing
// lost.
func TestPostgresOutage(t *testing.T) {
	base := postgresURL(t)
	dsn := freshSchema(t, base)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := &storetest.Proxy{Target: u.Host}
	p.Start(t)
	u.Host = p.Addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	ctx := context.Background()
	s, err := store.Open(ctx, u.String(), store.Options{Pepper: storetest.Pepper})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	secret, k, err := s.CreateKey(ctx, store.NewKey{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordUsage(ctx, store.UsageRecord{RequestID: "before", KeyID: k.ID, AudioSeconds: 1}); err != nil {
		t.Fatal(err)
	}

	p.Stop()
	calls := []struct {
		name string
		call func() error
	}{
		{"Authenticate", func() error { _, err := s.Authenticate(ctx, secret); return err }},
		{"Allow", func() error { return s.Allow(ctx, k.ID, 10) }},
		{"Acquire", func() error { _, err := s.Acquire(ctx, k.ID, 1, time.Minute); return err }},
		{"CheckQuota", func() error { return s.CheckQuota(ctx, k.ID, 100) }},
		{"RecordUsage", func() error {
			_, err := s.RecordUsage(ctx, store.UsageRecord{RequestID: "during", KeyID: k.ID, AudioSeconds: 1})
			return err
		}},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.call()
		if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrUnauthenticated) {
			t.Errorf("%s while the server is gone: err = %v, want ErrUnavailable", c.name, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %v to fail", c.name, d)
		}
	}

	p.Start(t) // the same address
	defer p.Stop()
	var pr store.Principal
	deadline := time.Now().Add(15 * time.Second)
	for pr, err = s.Authenticate(ctx, secret); err != nil && time.Now().Before(deadline); pr, err = s.Authenticate(ctx, secret) {
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || pr.KeyID != k.ID {
		t.Fatalf("after the server came back: %+v, %v", pr, err)
	}
	if _, err := s.RecordUsage(ctx, store.UsageRecord{RequestID: "after", KeyID: k.ID, AudioSeconds: 1}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Usage(ctx, store.UsageQuery{KeyID: k.ID})
	if err != nil || len(got) != 1 || got[0].Requests != 2 {
		t.Errorf("usage after the outage: %+v, %v; want the 2 requests recorded while it was up", got, err)
	}
}

// A process recording usage is killed (SIGKILL) mid-stream: the SQLite file
// passes its integrity check, every acknowledged record is there, and
// recording them again counts none twice.
func TestSQLiteKilledWriter(t *testing.T) {
	if dir := os.Getenv("EARSHOT_STORE_TEST_WRITER"); dir != "" {
		writer(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteKilledWriter$")
	cmd.Env = append(os.Environ(), "EARSHOT_STORE_TEST_WRITER="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var keyID string
	acked := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "key "); ok {
			keyID = id
			continue
		}
		if _, err := strconv.Atoi(line); err == nil {
			acked++
		}
		if acked == 300 {
			cmd.Process.Kill()
			break
		}
	}
	cmd.Wait()
	if acked < 300 {
		t.Fatalf("the writer acknowledged %d records before dying", acked)
	}

	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(dir, "earshot.db"), store.Options{Pepper: storetest.Pepper})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Usage(ctx, store.UsageQuery{KeyID: keyID})
	if err != nil || len(got) != 1 {
		t.Fatalf("usage: %+v, %v", got, err)
	}
	n := got[0].Requests
	if n < int64(acked) || n > int64(acked)+1 {
		t.Errorf("%d requests recorded, %d acknowledged before the kill", n, acked)
	}
	again := 0
	for i := range int(n) + 1 {
		ok, err := s.RecordUsage(ctx, store.UsageRecord{RequestID: fmt.Sprint(i), KeyID: keyID, AudioSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			again++
		}
	}
	if again != 1 {
		t.Errorf("recording the %d requests again (and one more) recorded %d, want 1", n, again)
	}
	t.Logf("killed after %d acknowledged records; %d in the store; integrity ok", acked, n)
}

// writer is the child process of TestSQLiteKilledWriter: it records usage
// as fast as it can and prints each request id once it is committed.
func writer(dir string) {
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(dir, "earshot.db"), store.Options{Pepper: storetest.Pepper})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_, k, err := s.CreateKey(ctx, store.NewKey{Name: "load"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("key %s\n", k.ID)
	for i := 0; ; i++ {
		if _, err := s.RecordUsage(ctx, store.UsageRecord{RequestID: fmt.Sprint(i), KeyID: k.ID, AudioSeconds: 1}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(i)
	}
}
