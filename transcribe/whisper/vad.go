//go:build cgo

package whisper

/*
#if !__has_include(<whisper.h>)
#error "earshot: whisper.h not found. Build earshot with make (it builds whisper.cpp and sets CGO_CFLAGS/CGO_LDFLAGS), or see the README, section Building."
#endif
#include <stdlib.h>
#include <float.h>
#include <whisper.h>

static void earshot_vad_quiet_log(enum ggml_log_level level, const char *text, void *user_data) {
	(void)level; (void)text; (void)user_data;
}

static void earshot_vad_quiet(void) {
	whisper_log_set(earshot_vad_quiet_log, NULL);
}
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
)

// vadChunk is how many samples go to whisper.cpp in one call (960 Silero
// windows, 30.72 s). Between calls Detect checks its context, so a cancel
// takes effect within one chunk; the LSTM state carries across calls, so the
// probabilities are exactly those of one call over the whole audio.
const vadChunk = 960 * 512

// SileroVAD runs Silero VAD in whisper.cpp (whisper_vad_*) from a ggml VAD
// file. It implements transcribe.VAD.
//
// Concurrency: a whisper_vad_context holds the network's LSTM state and
// scratch buffers, so one context serves one Detect at a time. SileroVAD
// keeps a pool of contexts (up to VADOptions.Contexts, made on demand, each
// about 1 MB) and lends one to each Detect; callers beyond that wait for a
// free one or for their context to end. SileroVAD is safe for concurrent
// use. Close it when done: it frees the idle contexts, and the busy ones as
// their Detect returns.
type SileroVAD struct {
	path, name string
	params     C.struct_whisper_vad_context_params

	slots chan struct{} // one token per context that may exist

	mu     sync.Mutex
	idle   []*C.struct_whisper_vad_context
	closed bool
}

// VADLoadOptions say how the Silero VAD runs.
type VADLoadOptions struct {
	// Threads per Detect (default 1: the network is small, and more
	// threads cost more in synchronisation than they save).
	Threads int
	// Contexts is how many Detect calls may run at once (default 4).
	Contexts int
	// GPU runs the network on the GPU when whisper.cpp has one (make
	// CUDA=1). On a CPU build it changes nothing.
	GPU bool
	// Log lets whisper.cpp print its own diagnostics on stderr; without it
	// whisper.cpp's process-wide logger is silenced (as Load does).
	Log bool
}

// LoadVAD checks the ggml VAD file at path in Go (ggml.CheckVAD), then loads
// it into a first context, so that a file whisper.cpp cannot use fails
// here and not on the first request.
func LoadVAD(path string, opts VADLoadOptions) (*SileroVAD, error) {
	if opts.Threads < 0 || opts.Threads > transcribe.MaxThreads || opts.Contexts < 0 || opts.Contexts > 1024 {
		return nil, fmt.Errorf("%w: VAD threads %d, contexts %d", ErrModel, opts.Threads, opts.Contexts)
	}
	if opts.Threads == 0 {
		opts.Threads = 1
	}
	if opts.Contexts == 0 {
		opts.Contexts = 4
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModel, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrModel, err)
	}
	hdr, err := ggml.CheckVAD(f, st.Size())
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrModel, path, err)
	}
	if !opts.Log {
		quietOnce.Do(func() { C.earshot_vad_quiet() })
	}
	v := &SileroVAD{
		path:  path,
		name:  fmt.Sprintf("silero-v%d", hdr.Version.Major),
		slots: make(chan struct{}, opts.Contexts),
	}
	v.params = C.whisper_vad_default_context_params()
	v.params.n_threads = C.int(opts.Threads)
	v.params.use_gpu = C.bool(opts.GPU)
	vc, err := v.newContext()
	if err != nil {
		return nil, err
	}
	v.idle = append(v.idle, vc)
	return v, nil
}

func (v *SileroVAD) newContext() (*C.struct_whisper_vad_context, error) {
	cpath := C.CString(v.path)
	defer C.free(unsafe.Pointer(cpath))
	vc := C.whisper_vad_init_from_file_with_params(cpath, v.params)
	if vc == nil {
		return nil, fmt.Errorf("%w: whisper.cpp could not load the VAD model %s", ErrModel, v.path)
	}
	return vc, nil
}

// Name is "silero-v5" or "silero-v6", from the file's header.
func (v *SileroVAD) Name() string { return v.name }

// acquire lends a context, waiting while all are busy.
func (v *SileroVAD) acquire(ctx context.Context) (*C.struct_whisper_vad_context, error) {
	select {
	case v.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		<-v.slots
		return nil, fmt.Errorf("%w: the VAD is closed", ErrFailed)
	}
	if n := len(v.idle); n > 0 {
		vc := v.idle[n-1]
		v.idle = v.idle[:n-1]
		v.mu.Unlock()
		return vc, nil
	}
	v.mu.Unlock()
	vc, err := v.newContext()
	if err != nil {
		<-v.slots
		return nil, err
	}
	return vc, nil
}

func (v *SileroVAD) release(vc *C.struct_whisper_vad_context) {
	v.mu.Lock()
	if v.closed {
		C.whisper_vad_free(vc)
	} else {
		v.idle = append(v.idle, vc)
	}
	v.mu.Unlock()
	<-v.slots
}

// Detect finds the speech in samples (16 kHz mono) with Silero, deciding
// regions with transcribe.SpeechFromProbs (whisper.cpp's rule, in Go).
func (v *SileroVAD) Detect(ctx context.Context, samples []float32, o transcribe.VADOptions) ([]transcribe.Speech, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	probs, err := v.Probabilities(ctx, samples)
	if err != nil {
		return nil, err
	}
	return transcribe.SpeechFromProbs(probs, vadWindow, len(samples), o), nil
}

// vadWindow is the samples per probability of whisper.cpp's Silero.
const vadWindow = 512

// Probabilities returns Silero's speech probability for every 512 samples
// (32 ms; the last window zero-padded), checking ctx between chunks.
func (v *SileroVAD) Probabilities(ctx context.Context, samples []float32) ([]float32, error) {
	if err := transcribe.CheckSamples(samples); err != nil {
		return nil, err
	}
	if len(samples) > math.MaxInt32-vadChunk {
		return nil, fmt.Errorf("%w: %d samples", transcribe.ErrInvalidAudio, len(samples))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	probs := make([]float32, 0, (len(samples)+vadWindow-1)/vadWindow)
	if len(samples) == 0 {
		return probs, nil
	}
	vc, err := v.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer v.release(vc)
	C.whisper_vad_reset_state(vc)
	for off := 0; off < len(samples); off += vadChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		chunk := samples[off:min(off+vadChunk, len(samples))]
		if !C.whisper_vad_detect_speech_no_reset(vc, (*C.float)(unsafe.Pointer(&chunk[0])), C.int(len(chunk))) {
			return nil, fmt.Errorf("%w: whisper_vad_detect_speech failed", ErrFailed)
		}
		n := int(C.whisper_vad_n_probs(vc))
		if want := (len(chunk) + vadWindow - 1) / vadWindow; n != want {
			return nil, fmt.Errorf("%w: VAD gave %d probabilities for %d windows", ErrFailed, n, want)
		}
		probs = append(probs, unsafe.Slice((*float32)(unsafe.Pointer(C.whisper_vad_probs(vc))), n)...)
	}
	return probs, nil
}

// nativeSpeech runs whisper.cpp's own whisper_vad_segments_from_samples
// (which rounds to centiseconds and cannot be interrupted), for tests that
// hold Detect to whisper.cpp's result.
func (v *SileroVAD) nativeSpeech(samples []float32, o transcribe.VADOptions) ([]transcribe.Speech, error) {
	if err := transcribe.CheckSamples(samples); err != nil {
		return nil, err
	}
	if len(samples) == 0 || len(samples) > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d samples", transcribe.ErrInvalidAudio, len(samples))
	}
	vc, err := v.acquire(context.Background())
	if err != nil {
		return nil, err
	}
	defer v.release(vc)
	p := C.whisper_vad_default_params()
	if o.Threshold != 0 {
		p.threshold = C.float(o.Threshold)
	} else {
		p.threshold = 0.5
	}
	p.min_speech_duration_ms = C.int(o.MinSpeech.Milliseconds())
	p.min_silence_duration_ms = C.int(o.MinSilence.Milliseconds())
	p.speech_pad_ms = C.int(o.Pad.Milliseconds())
	p.max_speech_duration_s = C.FLT_MAX
	if o.MaxSpeech > 0 {
		p.max_speech_duration_s = C.float(o.MaxSpeech.Seconds())
	}
	segs := C.whisper_vad_segments_from_samples(vc, p, (*C.float)(unsafe.Pointer(&samples[0])), C.int(len(samples)))
	if segs == nil {
		return nil, fmt.Errorf("%w: whisper_vad_segments_from_samples failed", ErrFailed)
	}
	defer C.whisper_vad_free_segments(segs)
	n := int(C.whisper_vad_segments_n_segments(segs))
	out := make([]transcribe.Speech, 0, n)
	for i := range n {
		// t0 and t1 are centiseconds.
		t0 := float64(C.whisper_vad_segments_get_segment_t0(segs, C.int(i)))
		t1 := float64(C.whisper_vad_segments_get_segment_t1(segs, C.int(i)))
		out = append(out, transcribe.Speech{Start: time.Duration(t0 * float64(10*time.Millisecond)), End: time.Duration(t1 * float64(10*time.Millisecond))})
	}
	return out, nil
}

// Close frees the idle contexts; contexts still in a Detect are freed when
// it returns. Detect after Close fails.
func (v *SileroVAD) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	for _, vc := range v.idle {
		C.whisper_vad_free(vc)
	}
	v.idle = nil
	return nil
}
