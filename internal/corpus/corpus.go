// Package corpus reads the public datasets earshot trains and evaluates
// agent mode on (testdata/disfluency, testdata/intents): Disfl-QA pairs and
// SNIPS commands. It is for earshot-train and earshot-eval, in a stable
// order so that their runs repeat.
package corpus

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Pair is a Disfl-QA question: disfluent, and its fluent original.
type Pair struct {
	Original  string `json:"original"`
	Disfluent string `json:"disfluent"`
}

// DisflQA reads a Disfl-QA file ({id: {"original", "disfluent"}}), sorted by id.
func DisflQA(path string) ([]Pair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]Pair
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]Pair, len(ids))
	for i, id := range ids {
		p := m[id]
		out[i] = Pair{Original: unescape(p.Original), Disfluent: unescape(p.Disfluent)}
	}
	return out, nil
}

// unescape undoes the second escaping some Disfl-QA texts went through:
// they hold a literal "\u00e8" where "è" was meant, and "\u007f" (a
// delete character) glued to words ("rather\u007f"), which would keep
// those words from matching any editing term. Control characters go.
func unescape(s string) string {
	if !strings.Contains(s, `\u`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+6 <= len(s) && s[i+1] == 'u' {
			if r, err := strconv.ParseUint(s[i+2:i+6], 16, 32); err == nil {
				if !unicode.IsControl(rune(r)) {
					b.WriteRune(rune(r))
				}
				i += 5
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// SNIPS reads every command of the SNIPS files in dir (validate_*.json, the
// validation sets, or train_*_full.json, the training sets), file by file
// in name order, with white space collapsed.
func SNIPS(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "validate_*.json"))
	if err == nil && len(files) == 0 {
		files, err = filepath.Glob(filepath.Join(dir, "train_*.json"))
	}
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no SNIPS validate_*.json or train_*.json files in %s", dir)
	}
	slices.Sort(files)
	var cmds []string
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		// The files are Latin-1 in places; json wants UTF-8.
		if !utf8.Valid(b) {
			b = latin1(b)
		}
		var m map[string][]struct {
			Data []struct {
				Text string `json:"text"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		for _, us := range m { // one intent per file
			for _, u := range us {
				var s strings.Builder
				for _, d := range u.Data {
					s.WriteString(d.Text)
				}
				if t := strings.Join(strings.Fields(s.String()), " "); t != "" {
					cmds = append(cmds, t)
				}
			}
		}
	}
	return cmds, nil
}

func latin1(b []byte) []byte {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return []byte(string(r))
}

// DisflQAFiles reads several Disfl-QA files (comma-separated paths), one
// after the other.
func DisflQAFiles(paths string) ([]Pair, error) {
	var out []Pair
	for _, p := range strings.Split(paths, ",") {
		ps, err := DisflQA(strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}
