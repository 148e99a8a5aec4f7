package pipeline_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

// A busy engine's own estimate of the wait becomes the 429's Retry-After.
func TestClassifyBusy(t *testing.T) {
	tests := []struct {
		err   error
		retry time.Duration
		says  string
	}{
		{&transcribe.BusyError{Wait: 90*time.Second + time.Millisecond, Limit: time.Minute, Waiting: 7}, 91 * time.Second, "expected wait of 1m30s is over the limit of 1m0s"},
		{fmt.Errorf("live turn: %w", &transcribe.BusyError{Wait: 2 * time.Second, Deadline: time.Second}), 2 * time.Second, "deadline"},
		{transcribe.ErrQueueFull, pipeline.DefaultRetryAfter, "queue is full"},
	}
	for _, tt := range tests {
		e := pipeline.Classify(tt.err)
		if e.Kind != pipeline.RateLimited || e.Code != "queue_full" || e.RetryAfter != tt.retry || !strings.Contains(e.Message, tt.says) {
			t.Errorf("Classify(%v) = %v %q, retry after %s, %q; want rate_limited queue_full, %s, saying %q",
				tt.err, e.Kind, e.Code, e.RetryAfter, e.Message, tt.retry, tt.says)
		}
		if strings.Contains(e.Message, "transcribe: ") {
			t.Errorf("Classify(%v).Message = %q carries a package prefix", tt.err, e.Message)
		}
	}
}
