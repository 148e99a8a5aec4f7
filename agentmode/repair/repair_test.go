package repair_test

import (
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/agentmode/repair"
)

func words(s string, boundaryAt int) []repair.Word {
	var out []repair.Word
	for i, w := range strings.Fields(s) {
		comma := strings.HasSuffix(w, ",")
		w = strings.TrimRight(w, ",")
		out = append(out, repair.Word{Lower: w, Comma: comma, Boundary: i == boundaryAt})
	}
	return out
}

// A request that starts after a connector is no editing term and is not
// taken back; the same words with no boundary are an ordinary repair.
func TestBoundaryKeepsRequests(t *testing.T) {
	m, err := repair.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text       string
		boundaryAt int
		wantEdits  bool
	}{
		{"book a restaurant in donnelly and then tell me what films are playing", 6, false},
		{"book a table for two, no, for four", -1, true},
		{"book a table for two, no, for four", 5, false}, // "no" marked as a request start: no cue
	} {
		edits := m.Find(words(tc.text, tc.boundaryAt))
		if got := len(edits) > 0; got != tc.wantEdits {
			t.Errorf("%q (boundary at %d): edits %+v, want edits: %v", tc.text, tc.boundaryAt, edits, tc.wantEdits)
		}
		for _, e := range edits {
			if e.Confidence <= 0.5 || e.Confidence > 1 {
				t.Errorf("%q: confidence %v, want above the default line", tc.text, e.Confidence)
			}
		}
	}
}

// A higher line makes fewer edits, never more.
func TestFindMin(t *testing.T) {
	m, err := repair.Load()
	if err != nil {
		t.Fatal(err)
	}
	ws := words("book a table for two, no, for four", -1)
	prev := len(m.FindMin(ws, 0.01))
	for _, line := range []float64{0.3, 0.5, 0.9, 0.99, 0.9999} {
		n := len(m.FindMin(ws, line))
		if n > prev {
			t.Errorf("line %v: %d edits, a lower line gave %d", line, n, prev)
		}
		prev = n
	}
	if prev != 0 {
		t.Errorf("line 0.9999 still made %d edits", prev)
	}
}
