package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Jobs run only with a key and a PostgreSQL store; anything else is off or
// an error that says what to do.
func TestResolveJobs(t *testing.T) {
	key := strings.Repeat("0f", 32)
	keyFile := filepath.Join(t.TempDir(), "jobs.key")
	os.WriteFile(keyFile, []byte(key+"\n"), 0o600)
	pg := "postgres://u:p@db/earshot"
	for _, tc := range []struct {
		name    string
		c       jobsConfig
		dsn     string
		env     map[string]string
		on      bool
		wantErr string
	}{
		{"no key: off", jobsConfig{}, pg, nil, false, ""},
		{"key from env", jobsConfig{}, pg, map[string]string{"EARSHOT_JOBS_KEY": key}, true, ""},
		{"key file", jobsConfig{keyFile: keyFile}, pg, nil, true, ""},
		{"store from env", jobsConfig{keyFile: keyFile}, "", map[string]string{"EARSHOT_STORE": pg}, true, ""},
		{"sqlite", jobsConfig{keyFile: keyFile}, "sqlite:/tmp/e.db", nil, false, "need PostgreSQL"},
		{"bad key", jobsConfig{}, pg, map[string]string{"EARSHOT_JOBS_KEY": "short"}, false, "64 hex digits"},
		{"missing file", jobsConfig{keyFile: "/nonexistent/key"}, pg, nil, false, "--jobs-key-file"},
		{"--no-jobs", jobsConfig{off: true, keyFile: keyFile}, "sqlite:/tmp/e.db", nil, false, ""},
	} {
		c := tc.c
		err := resolveJobs(&c, tc.dsn, func(k string) string { return tc.env[k] })
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || (c.key != nil) != tc.on || (tc.on && c.dsn != pg) {
			t.Errorf("%s: on %v (dsn %q), %v; want on %v", tc.name, c.key != nil, c.dsn, err, tc.on)
		}
	}
}
