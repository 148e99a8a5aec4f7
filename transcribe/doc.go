// Package transcribe is earshot's transcription core, in pure Go: the request
// and result types every surface speaks (segments, tokens, words, timestamps,
// probabilities), and Engine, a pool of workers behind a bounded queue that
// runs requests on a loaded model.
//
// The model itself comes from a Model implementation (transcribe/whisper wraps
// whisper.cpp); nothing here imports C, so every package that needs the types
// builds and tests without libwhisper.
//
// Concurrency: an Engine is safe for concurrent use. Each request runs on one
// worker (one whisper_state) at a time; at most Workers requests run at once
// and at most Queue more wait, after which Transcribe fails at once with
// ErrQueueFull. Callbacks of one request are called from that request's
// goroutine, one at a time. Close the Engine when done; Close cancels the
// requests still running, waits for them and frees the workers and the model.
package transcribe
