package agentmode_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/earshot-dev/earshot/agentmode"
)

// TestBudgetSaysWhatItCut is a property over budgets: at every budget the
// answer either is the "budget too small" error or fits and says what it
// cut. A transcription's answer always keeps its language, duration and
// the budget; the text is there or "omitted" names it; a cut page is
// truncated with a cursor to the next.
func TestBudgetSaysWhatItCut(t *testing.T) {
	f := shared(t)
	res := timedResult(longText(t, 3))
	text := longText(t, 3)
	step := 1
	if testing.Short() || raceDetector {
		step = 7
	}
	type input struct {
		name string
		opts agentmode.Options
		run  func(agentmode.Options) (*agentmode.Output, error)
	}
	fromResult := func(o agentmode.Options) (*agentmode.Output, error) { return f.Format(res, o) }
	fromText := func(o agentmode.Options) (*agentmode.Output, error) { return f.FormatText(text, o) }
	inputs := []input{
		{"raw", agentmode.Options{Mode: agentmode.Raw}, fromResult},
		{"raw words", agentmode.Options{Mode: agentmode.Raw, Words: true}, fromResult},
		{"clean", agentmode.Options{Mode: agentmode.Clean, Words: true}, fromResult},
		{"agent", agentmode.Options{Mode: agentmode.Agent, Words: true}, fromResult},
		{"agent text", agentmode.Options{Mode: agentmode.Agent}, fromText},
		{"clean text", agentmode.Options{Mode: agentmode.Clean}, fromText},
	}
	for _, in := range inputs {
		for budget := 1; budget <= 400; budget += step {
			o := in.opts
			o.MaxTokens = budget
			out, err := in.run(o)
			if errors.Is(err, agentmode.ErrBudget) {
				continue
			}
			if err != nil {
				t.Fatalf("%s, budget %d: %v", in.name, budget, err)
			}
			var d struct {
				Text     *string  `json:"text"`
				Language *string  `json:"language"`
				Duration *float64 `json:"duration"`
				Omitted  []string `json:"omitted"`
				Tokens   struct {
					Count  int `json:"count"`
					Budget int `json:"budget"`
				} `json:"tokens"`
				Truncated bool   `json:"truncated"`
				Next      string `json:"next"`
			}
			if err := json.Unmarshal(out.JSON, &d); err != nil {
				t.Fatal(err)
			}
			if d.Tokens.Count > budget || d.Tokens.Budget != budget {
				t.Errorf("%s, budget %d: tokens %+v", in.name, budget, d.Tokens)
			}
			if d.Text == nil && !slices.Contains(d.Omitted, "text") {
				t.Errorf("%s, budget %d: no text and omitted %q does not say so: %s", in.name, budget, d.Omitted, out.JSON)
			}
			if in.name != "agent text" && in.name != "clean text" && (d.Language == nil || d.Duration == nil) {
				t.Errorf("%s, budget %d: language or duration cut silently: %s", in.name, budget, out.JSON)
			}
			if d.Truncated != (d.Next != "") {
				t.Errorf("%s, budget %d: truncated %v with next %q", in.name, budget, d.Truncated, d.Next)
			}
		}
	}
}
