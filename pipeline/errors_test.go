package pipeline

import "testing"

// A message is one sentence, but a parameter's name that starts it keeps
// its spelling.
func TestErrorSentence(t *testing.T) {
	tests := []struct{ in, want string }{
		{"the audio is empty", "The audio is empty."},
		{"max_tokens 25 is less than the 96 this answer needs", "max_tokens 25 is less than the 96 this answer needs."},
		{"timestamp_granularities[] needs verbose_json", "timestamp_granularities[] needs verbose_json."},
		{"Already a sentence!", "Already a sentence!"},
		{"  ", ""},
	}
	for _, tt := range tests {
		if got := sentence(tt.in); got != tt.want {
			t.Errorf("sentence(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
