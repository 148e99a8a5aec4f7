//go:build !linux

package transcribe

// residentBytes cannot be measured here: a state's cost is unknown unless
// the model reports it.
func residentBytes() int64 { return 0 }
