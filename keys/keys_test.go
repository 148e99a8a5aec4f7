package keys_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/keys"
)

func TestLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "keys.json")
	s, err := keys.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	key, k, err := s.Create("laptop")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, keys.Prefix) || len(key) != len(keys.Prefix)+64 || !strings.HasPrefix(key, k.ID) {
		t.Errorf("key %q, id %q", key, k.ID)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), key[len(keys.Prefix)+8:]) {
		t.Error("the key file contains the key in plain text")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if _, _, err := s.Create("laptop"); !errors.Is(err, keys.ErrExists) {
		t.Errorf("duplicate name: err = %v", err)
	}
	tests := []struct {
		key  string
		want bool
	}{
		{key, true},
		{key + "x", false},
		{key[:len(key)-1], false},
		{"", false},
		{strings.ToUpper(key), false},
	}
	for _, tt := range tests {
		if got := s.Verify(tt.key); got != tt.want {
			t.Errorf("Verify(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
	// Another process (a second store on the same file) revokes it: the first sees it.
	other, err := keys.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Revoke("laptop"); err != nil {
		t.Fatal(err)
	}
	if s.Verify(key) {
		t.Error("revoked key still verifies")
	}
	if _, err := s.Revoke("laptop"); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("second revoke: err = %v", err)
	}
	if n := len(s.List()); n != 1 || s.Active() != 0 {
		t.Errorf("list %d, active %d", n, s.Active())
	}
	s.AddInMemory("esk_env")
	if !s.Verify("esk_env") || s.Active() != 1 {
		t.Error("in-memory key not accepted")
	}
}

func TestDamagedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := keys.Open(path); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("err = %v", err)
	}
}
