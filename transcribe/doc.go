// Package transcribe is earshot's transcription core, in pure Go: the request
// and result types every surface speaks (segments, tokens, words, timestamps,
// probabilities), and Engine, which runs requests on a loaded model: it
// shares a thread budget among whisper states made as the load needs them,
// admits a request while its expected wait is short enough, and starts
// waiting requests in the order they are expected to finish.
//
// The model itself comes from a Model implementation (transcribe/whisper wraps
// whisper.cpp); nothing here imports C, so every package that needs the types
// builds and tests without libwhisper.
//
// Concurrency: an Engine is safe for concurrent use. Each request runs on one
// worker (one whisper_state) at a time; at most Workers requests run at once,
// with at most ThreadsTotal threads among them when adaptive, and a request
// whose expected wait is over MaxQueueWait (or that finds Queue waiting, or
// whose deadline it could not meet) fails at once with a *BusyError, which
// is ErrQueueFull and says when to retry. Callbacks of one request are called from that request's
// goroutine, one at a time. Close the Engine when done; Close cancels the
// requests still running, waits for them and frees the workers and the model.
package transcribe
