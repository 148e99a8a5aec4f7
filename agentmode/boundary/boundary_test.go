package boundary_test

import (
	"bytes"
	"math"
	"reflect"
	"testing"

	"github.com/earshot-dev/earshot/agentmode/boundary"
)

func examples() []boundary.Example {
	var exs []boundary.Example
	for i := range 200 {
		split := i%3 == 0
		f := []string{"bias", "conn=and"}
		if split {
			f = append(f, "cv+1=y")
		} else {
			f = append(f, "cap=yy")
		}
		exs = append(exs, boundary.Example{Features: f, Split: split})
	}
	return exs
}

// Training repeats exactly for a seed, learns the evidence, and survives
// being written and read back.
func TestTrainWriteRead(t *testing.T) {
	a, b := boundary.Train(examples(), 5, 1), boundary.Train(examples(), 5, 1)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two trainings with one seed differ")
	}
	m := boundary.New(a)
	yes, no := m.Probability([]string{"bias", "conn=and", "cv+1=y"}), m.Probability([]string{"bias", "conn=and", "cap=yy"})
	if yes < 0.9 || no > 0.1 {
		t.Errorf("probabilities %.3f (split) and %.3f (no split), want near 1 and 0", yes, no)
	}
	var buf bytes.Buffer
	if err := boundary.Write(&buf, a); err != nil {
		t.Fatal(err)
	}
	r, err := boundary.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Probability([]string{"bias", "conn=and", "cv+1=y"}); math.Abs(got-yes) > 1e-3 {
		t.Errorf("read back: %.4f, want %.4f", got, yes)
	}
	if _, err := boundary.Read(bytes.NewReader([]byte("not gzip"))); err == nil {
		t.Error("garbage read as a model")
	}
}

// The model built into earshot loads.
func TestLoad(t *testing.T) {
	m, err := boundary.Load()
	if err != nil {
		t.Fatal(err)
	}
	if p := m.Probability([]string{"bias"}); p <= 0 || p >= 1 {
		t.Errorf("probability %v", p)
	}
}
