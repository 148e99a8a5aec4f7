package main

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/keys"
	"github.com/earshot-dev/earshot/store"
)

func TestKeysCommands(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	env := map[string]string{"EARSHOT_HOME": home, "USER": "tester"}

	// A keys file from an earlier earshot: imported once, then left alone.
	legacyPath := filepath.Join(home, "keys.json")
	legacy, err := keys.Open(legacyPath)
	if err != nil {
		t.Fatal(err)
	}
	oldKey, oldInfo, err := legacy.Create("laptop")
	if err != nil {
		t.Fatal(err)
	}
	legacyBytes, _ := os.ReadFile(legacyPath)

	out, errOut, err := run(t, env, "", "keys", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "imported 1 keys") || !strings.Contains(out, "laptop") || !strings.Contains(out, oldInfo.ID) {
		t.Errorf("first list: stdout %q, stderr %q", out, errOut)
	}
	if _, errOut, _ = run(t, env, "", "keys", "list"); strings.Contains(errOut, "imported") {
		t.Errorf("second list imported again: %q", errOut)
	}

	secret, errOut, err := run(t, env, "", "keys", "create", "--name", "ci", "--rpm", "60", "--concurrency", "2",
		"--max-upload", "25MiB", "--monthly-minutes", "6000", "--scope", "admin", "--scope", "transcribe")
	if err != nil {
		t.Fatalf("create: %v (%s)", err, errOut)
	}
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, store.SecretPrefix) || !strings.Contains(errOut, "not shown again") || strings.Contains(errOut, secret) {
		t.Errorf("create: stdout %q, stderr %q", secret, errOut)
	}

	out, _, err = run(t, env, "", "keys", "list")
	if err != nil {
		t.Fatal(err)
	}
	var ciLine string
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(l, "ci ") {
			ciLine = strings.Join(strings.Fields(l), " ")
		}
	}
	if !strings.Contains(ciLine, "admin,transcribe 60 2 25MiB 6000") || !strings.Contains(ciLine, "active") {
		t.Errorf("list line for ci: %q in\n%s", ciLine, out)
	}
	if strings.Contains(out, secret[len(store.SecretPrefix)+12:]) {
		t.Error("list shows a secret")
	}

	// The server's view: the store the commands wrote, with the pepper they made.
	pepperPath := filepath.Join(home, "key-pepper")
	if st, err := os.Stat(pepperPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("pepper file: %v, %v", st, err)
	}
	pepper, _ := os.ReadFile(pepperPath)
	s, err := store.Open(ctx, filepath.Join(home, "earshot.db"), store.Options{Pepper: []byte(strings.TrimSpace(string(pepper)))})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, secret)
	want := store.Limits{RPM: 60, Concurrency: 2, MaxUpload: 25 << 20, MonthlyAudioSeconds: 6000 * 60}
	if err != nil || p.Limits != want || !p.Can(store.ScopeAdmin) {
		t.Errorf("principal %+v, %v; want limits %+v", p, err, want)
	}
	if _, err := s.Authenticate(ctx, oldKey); err != nil {
		t.Errorf("imported key: %v", err)
	}
	now := time.Now().UTC()
	for i, sec := range []float64{90, 30} {
		if _, err := s.RecordUsage(ctx, store.UsageRecord{RequestID: string(rune('a' + i)), KeyID: p.KeyID, At: now, AudioSeconds: sec, ProcessingSeconds: 4}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	out, _, err = run(t, env, "", "keys", "usage", "--since", now.AddDate(0, 0, -1).Format(time.DateOnly), "--key", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(strings.Fields(out), " "), now.Format(time.DateOnly)+" "+p.KeyID+" ci 2 2.0 8.0") ||
		!strings.Contains(strings.Join(strings.Fields(out), " "), "TOTAL 2 2.0 8.0") {
		t.Errorf("usage:\n%s", out)
	}

	if _, errOut, err := run(t, env, "", "keys", "revoke", "ci"); err != nil || !strings.Contains(errOut, "revoked key \"ci\"") {
		t.Errorf("revoke: %v, %q", err, errOut)
	}
	if _, _, err := run(t, env, "", "keys", "revoke", "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second revoke: err = %v", err)
	}
	out, _, err = run(t, env, "", "keys", "audit")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"cli:tester  import  " + oldInfo.ID, "cli:tester  create  " + p.KeyID, "cli:tester  revoke  " + p.KeyID} {
		if !strings.Contains(out, w) {
			t.Errorf("audit lacks %q:\n%s", w, out)
		}
	}
	if after, _ := os.ReadFile(legacyPath); string(after) != string(legacyBytes) {
		t.Error("the keys file was written")
	}
}

func TestKeysCommandErrors(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"EARSHOT_HOME": home}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no name", env, []string{"keys", "create"}, `"name" not set`},
		{"zero upload", env, []string{"keys", "create", "--name", "x", "--max-upload", "0"}, "--max-upload"},
		{"NaN upload", env, []string{"keys", "create", "--name", "x", "--max-upload", "NaN"}, "--max-upload"},
		{"tiny upload", env, []string{"keys", "create", "--name", "x", "--max-upload", "0.5B"}, "--max-upload"},
		{"bad scope", env, []string{"keys", "create", "--name", "x", "--scope", "root"}, "--scope"},
		{"negative rpm", env, []string{"keys", "create", "--name", "x", "--rpm", "-1"}, "negative"},
		{"bad date", env, []string{"keys", "usage", "--since", "yesterday"}, "--since"},
		{"unknown key", env, []string{"keys", "usage", "--key", "nobody"}, "no such key"},
		{"bad store", env, []string{"keys", "list", "--store", "mysql://h/db"}, "want postgres://"},
		{"postgres without pepper", map[string]string{"EARSHOT_HOME": t.TempDir()}, []string{"keys", "list", "--store", "postgres://127.0.0.1:1/x"}, "EARSHOT_KEY_PEPPER"},
		{"short pepper", map[string]string{"EARSHOT_HOME": home, "EARSHOT_KEY_PEPPER": "short"}, []string{"keys", "list"}, "shorter than 16"},
		{"missing pepper file", env, []string{"keys", "list", "--pepper-file", filepath.Join(home, "none")}, "--pepper-file"},
	}
	for _, tt := range tests {
		_, _, err := run(t, tt.env, "", tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to say %q", tt.name, err, tt.want)
		}
	}
	// The store now exists with the pepper file's pepper: another is refused.
	other := map[string]string{"EARSHOT_HOME": home, "EARSHOT_KEY_PEPPER": "a different pepper, long enough"}
	if _, _, err := run(t, other, "", "keys", "list"); !errors.Is(err, store.ErrPepperMismatch) || !strings.Contains(err.Error(), "same pepper") {
		t.Errorf("another pepper: err = %v", err)
	}
}

func TestSizeText(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{{0, "-"}, {1, "1"}, {1023, "1023"}, {1024, "1KiB"}, {25 << 20, "25MiB"}, {3 << 30, "3GiB"}, {1500000, "1500000"}, {1536 << 10, "1536KiB"}}
	for _, tt := range tests {
		got := sizeText(tt.n)
		if got != tt.want {
			t.Errorf("sizeText(%d) = %q, want %q", tt.n, got, tt.want)
		}
		if tt.n > 0 {
			if back, err := parseMaxUpload(got); err != nil || back != tt.n {
				t.Errorf("parseMaxUpload(sizeText(%d)) = %d, %v", tt.n, back, err)
			}
		}
	}
}

// FuzzParseMaxUpload: --max-upload never panics and accepts only sizes of
// at least a byte and at most a TiB.
func FuzzParseMaxUpload(f *testing.F) {
	for _, s := range []string{"25MiB", "100MB", "5000000", "1.5GiB", "0", "-1", "NaN", "Inf", "0.5B", " 7 KiB ", "1e400", "0x10", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseMaxUpload(s)
		if err != nil {
			if n != 0 {
				t.Errorf("parseMaxUpload(%q) = %d with error %v", s, n, err)
			}
			return
		}
		if n < 1 || n > 1<<40 || n == math.MinInt64 {
			t.Errorf("parseMaxUpload(%q) = %d", s, n)
		}
	})
}

// Rotating the pepper from the command line: the new pepper alone is
// refused, with the old one beside it the store is taken over and lists
// the keys still on the old pepper; a key used once has moved.
func TestKeysPepperRotation(t *testing.T) {
	home := t.TempDir()
	oldP, newP := strings.Repeat("a1", 16), strings.Repeat("b2", 16)
	env := map[string]string{"EARSHOT_HOME": home, "USER": "tester", "EARSHOT_KEY_PEPPER": oldP}
	secret, errOut, err := run(t, env, "", "keys", "create", "--name", "ci")
	if err != nil {
		t.Fatalf("create: %v (%s)", err, errOut)
	}
	env["EARSHOT_KEY_PEPPER"] = newP
	if _, _, err := run(t, env, "", "keys", "list"); err == nil || !strings.Contains(err.Error(), "same pepper") {
		t.Errorf("the new pepper alone before the rotation: %v", err)
	}
	env["EARSHOT_KEY_PEPPER_OLD"] = oldP
	out, _, err := run(t, env, "", "keys", "list")
	if err != nil || !strings.Contains(out, "active, old pepper") {
		t.Fatalf("list during the rotation: %v\n%s", err, out)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(home, "earshot.db"), store.Options{Pepper: []byte(newP), OldPeppers: [][]byte{[]byte(oldP)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, strings.TrimSpace(secret)); err != nil {
		t.Errorf("the key during the rotation: %v", err)
	}
	db.Close()
	delete(env, "EARSHOT_KEY_PEPPER_OLD")
	out, _, err = run(t, env, "", "keys", "list")
	if err != nil || strings.Contains(out, "old pepper") || !strings.Contains(out, "active") {
		t.Errorf("list with the new pepper alone after the key's use: %v\n%s", err, out)
	}
}
