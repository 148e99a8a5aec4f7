package transcribe

import "time"

// SetClock makes e read the time from now, so that tests of its estimates
// need no sleeping.
func SetClock(e *Engine, now func() time.Time) {
	e.mu.Lock()
	e.now = now
	e.mu.Unlock()
}

// SetRSS makes e measure resident memory with rss.
func SetRSS(e *Engine, rss func() int64) {
	e.mu.Lock()
	e.rss = rss
	e.mu.Unlock()
}
