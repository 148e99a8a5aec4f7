package transcribe

import "time"

// SetClock makes e read the time from now, so that tests of its estimates
// need no sleeping.
func SetClock(e *Engine, now func() time.Time) {
	e.mu.Lock()
	e.now = now
	e.mu.Unlock()
}
