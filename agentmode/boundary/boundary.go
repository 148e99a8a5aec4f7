// Package boundary decides where one spoken request ends and the next
// begins when nothing but "and" or a comma joins them: "rate this book four
// stars and play some symphonic rock" is two requests, "play Simon and
// Garfunkel" and "add milk, eggs and bread to my list" are one.
//
// The model is logistic regression over sparse features that package
// agentmode works out at each candidate boundary (the connector, the words
// and word classes on both sides, whether a request starts after it, what
// kind of request came before, how long each side is, whether it is only
// a bare verb ("please call and reserve ..."), and what earshot's
// hand-written rules would say). Its output is a probability, which agent
// mode reports as the boundary's confidence and compares with the
// caller's min_confidence. It is trained (Train, `make train`) on SNIPS
// commands joined the ways people join requests ("and", "and then", "and
// also", ", and", ",", "then", "also"), where every position inside a
// command (inside its slot spans, names, titles and lists) is a negative,
// and on the fluent Disfl-QA questions, whose "and"s join no requests.
//
// Logistic regression was chosen over a perceptron for its calibrated
// probabilities, and over a CRF or a neural tagger because the decisions
// are few per utterance and independent enough: cross-validated on SNIPS
// train it splits joined commands right well past the targets (see
// `make eval`), and it costs a few hash lookups per "and".
//
// A Model is immutable and safe for concurrent use.
package boundary

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// Example is one candidate boundary: its features and whether a new
// request starts there.
type Example struct {
	Features []string
	Split    bool
}

// Trained is a trained model: feature weights by name.
type Trained struct {
	Weights map[string]float64
}

// Model scores candidate boundaries.
type Model struct {
	weights map[uint64]float32
}

//go:embed weights.txt.gz
var embedded []byte

// Load returns the model trained into earshot (weights.txt.gz, written by
// `make train`).
func Load() (*Model, error) { return Read(bytes.NewReader(embedded)) }

// New makes a model from what Train returns.
func New(t Trained) *Model {
	m := &Model{weights: make(map[uint64]float32, len(t.Weights))}
	for n, w := range t.Weights {
		m.weights[hash(n)] = float32(w)
	}
	return m
}

// Probability is the model's probability that a new request starts at a
// candidate with these features.
func (m *Model) Probability(features []string) float64 {
	s := 0.0
	for _, f := range features {
		s += float64(m.weights[hash(f)])
	}
	return sigmoid(s)
}

func sigmoid(s float64) float64 { return 1 / (1 + math.Exp(-s)) }

// hash is FNV-1a, 64 bit.
func hash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Train fits the weights by stochastic gradient descent on the log loss,
// with a small L2 penalty, in a fixed number of passes over the examples
// shuffled with seed: the same examples and seed give the same model.
func Train(exs []Example, epochs int, seed uint64) Trained {
	const l2 = 1e-6
	w := map[string]float64{}
	order := make([]int, len(exs))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, 5))
	for epoch := range epochs {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		lr := 0.3 / (1 + float64(epoch))
		for _, i := range order {
			ex := exs[i]
			s := 0.0
			for _, f := range ex.Features {
				s += w[f]
			}
			y := 0.0
			if ex.Split {
				y = 1
			}
			g := y - sigmoid(s)
			for _, f := range ex.Features {
				w[f] += lr * (g - l2*w[f])
			}
		}
	}
	for n, v := range w {
		if math.Abs(v) < 1e-3 {
			delete(w, n)
		}
	}
	return Trained{Weights: w}
}

// Write writes a trained model as gzipped text, a line "WEIGHT NAME" per
// feature, sorted by name, so that a retrained model diffs readably.
func Write(w io.Writer, t Trained) error {
	names := make([]string, 0, len(t.Weights))
	for n := range t.Weights {
		names = append(names, n)
	}
	sort.Strings(names)
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(zw)
	for _, n := range names {
		fmt.Fprintf(bw, "%.4g\t%s\n", t.Weights[n], n)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// Read reads a model written by Write.
func Read(r io.Reader) (*Model, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("boundary: reading model: %w", err)
	}
	m := &Model{weights: map[uint64]float32{}}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		value, name, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 32)
		if err != nil {
			return nil, fmt.Errorf("boundary: reading model: %w", err)
		}
		m.weights[hash(name)] = float32(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("boundary: reading model: %w", err)
	}
	return m, nil
}
