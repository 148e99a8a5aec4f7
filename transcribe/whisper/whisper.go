//go:build cgo

// Package whisper runs transcribe requests on whisper.cpp. It is earshot's
// only cgo: the model is loaded once (whisper_init_from_file_with_params_no_state)
// and every worker gets its own whisper_state, so requests on different
// workers run in parallel on shared weights.
//
// Build it through make, which builds whisper.cpp as static libraries and
// sets CGO_CFLAGS and CGO_LDFLAGS; without cgo the package builds and Load
// returns ErrUnavailable.
//
// Concurrency: a Model is safe for concurrent use; a Worker runs one request
// at a time (transcribe.Engine guarantees that). Callbacks reach Go through
// runtime/cgo.Handle, never through package-level maps. Close every worker,
// then the model.
package whisper

/*
#if !__has_include(<whisper.h>)
#error "earshot: whisper.h not found. Build earshot with make (it builds whisper.cpp and sets CGO_CFLAGS/CGO_LDFLAGS), or see the README, section Building."
#endif
#include <stdlib.h>
#include <stdint.h>
#include <stdbool.h>
#include <whisper.h>

#include <time.h>

extern void earshotSegment(struct whisper_context *, struct whisper_state *, int, void *);
extern void earshotProgress(struct whisper_context *, struct whisper_state *, int, void *);

// earshot_run is the part of a request that whisper.cpp checks at every
// encoder and decoder step. It lives in C memory and is read in C: a call
// into Go at each of those hundreds of steps would cost more than the check,
// and would wake Go's scheduler threads against whisper's compute threads.
typedef struct {
	int abort;          // set by Go (cancel, callback error), read atomically
	int encoding;
	long long enc_start_ns;
	long long encode_ns; // time spent in the encoder
} earshot_run;

static long long earshot_now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// whisper calls encoder_begin before each 30 s window and checks abort right
// after the encoder finishes (whisper_encode_internal ends with that check),
// so the span between the two is the encoder's time.
static bool earshot_encoder_begin(struct whisper_context *ctx, struct whisper_state *st, void *p) {
	(void)ctx; (void)st;
	earshot_run *r = p;
	r->enc_start_ns = earshot_now_ns();
	r->encoding = 1;
	return __atomic_load_n(&r->abort, __ATOMIC_RELAXED) == 0;
}

static bool earshot_abort(void *p) {
	earshot_run *r = p;
	if (r->encoding) {
		r->encode_ns += earshot_now_ns() - r->enc_start_ns;
		r->encoding = 0;
	}
	return __atomic_load_n(&r->abort, __ATOMIC_RELAXED) != 0;
}

static void earshot_stop(earshot_run *r) {
	__atomic_store_n(&r->abort, 1, __ATOMIC_RELAXED);
}

static void earshot_quiet_log(enum ggml_log_level level, const char *text, void *user_data) {
	(void)level; (void)text; (void)user_data;
}

static void earshot_quiet(void) {
	whisper_log_set(earshot_quiet_log, NULL);
}

// earshot_callbacks points the segment and progress callbacks at earshot's
// Go callbacks with the request's cgo.Handle as user data, and the per-step
// callbacks at the C ones above.
static void earshot_callbacks(struct whisper_full_params *p, uintptr_t h, earshot_run *r) {
	p->new_segment_callback = earshotSegment;
	p->new_segment_callback_user_data = (void *)h;
	p->progress_callback = earshotProgress;
	p->progress_callback_user_data = (void *)h;
	p->encoder_begin_callback = earshot_encoder_begin;
	p->encoder_begin_callback_user_data = r;
	p->abort_callback = earshot_abort;
	p->abort_callback_user_data = r;
}
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/cgo"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
)

var quietOnce sync.Once

// Model is a whisper model loaded once, shared by its workers.
type Model struct {
	ctx  *C.struct_whisper_context
	info transcribe.ModelInfo

	mu      sync.Mutex
	workers int // open workers; Close refuses while any remain
	closed  bool
}

// Load checks and loads the model file at path.
func Load(path string, opts LoadOptions) (*Model, error) {
	hdr, size, err := checkFile(path)
	if err != nil {
		return nil, err
	}
	if !opts.Log {
		// whisper.cpp's logger is process-wide; earshot keeps it quiet so
		// that stdout and stderr belong to the program.
		quietOnce.Do(func() { C.earshot_quiet() })
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	cp := C.whisper_context_default_params()
	cp.use_gpu = C.bool(opts.GPU)
	cp.flash_attn = C.bool(!opts.NoFlashAttention)
	ctx := C.whisper_init_from_file_with_params_no_state(cpath, cp)
	if ctx == nil {
		return nil, fmt.Errorf("%w: %s: whisper.cpp rejected the file (wrong tensors for its dimensions?)", ErrModel, path)
	}
	return &Model{
		ctx: ctx,
		info: transcribe.ModelInfo{
			Name:         strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "ggml-"), ".bin"),
			Path:         path,
			Type:         C.GoString(C.whisper_model_type_readable(ctx)),
			Multilingual: C.whisper_is_multilingual(ctx) != 0,
			Vocab:        hdr.Vocab,
			AudioLayers:  hdr.AudioLayer,
			TextLayers:   hdr.TextLayer,
			State:        hdr.State,
			Bytes:        size,
		},
	}, nil
}

// checkFile refuses what whisper.cpp must never see: a missing file, a
// directory or device, and any file that is not structurally a ggml whisper
// model.
func checkFile(path string) (ggml.Header, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return ggml.Header{}, 0, fmt.Errorf("%w: %w", ErrModel, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ggml.Header{}, 0, fmt.Errorf("%w: %w", ErrModel, err)
	}
	if !st.Mode().IsRegular() {
		return ggml.Header{}, 0, fmt.Errorf("%w: %s is not a regular file", ErrModel, path)
	}
	hdr, err := ggml.Check(f, st.Size())
	if err != nil {
		return hdr, 0, fmt.Errorf("%w: %s: %w", ErrModel, path, err)
	}
	return hdr, st.Size(), nil
}

// Info describes the model.
func (m *Model) Info() transcribe.ModelInfo { return m.info }

// NewWorker allocates a whisper_state for one request at a time.
func (m *Model) NewWorker() (transcribe.Worker, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("%w: model is closed", ErrFailed)
	}
	st := C.whisper_init_state(m.ctx)
	if st == nil {
		return nil, fmt.Errorf("%w: cannot allocate a whisper state", ErrFailed)
	}
	m.workers++
	return &Worker{model: m, state: st}, nil
}

// Close frees the model. It fails while workers are open.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	if m.workers > 0 {
		return fmt.Errorf("whisper: closing a model with %d open workers", m.workers)
	}
	m.closed = true
	C.whisper_free(m.ctx)
	m.ctx = nil
	return nil
}

// Worker runs requests on its own whisper_state.
type Worker struct {
	model *Model
	state *C.struct_whisper_state
}

// Close frees the worker's state.
func (w *Worker) Close() error {
	if w.state == nil {
		return nil
	}
	C.whisper_free_state(w.state)
	w.state = nil
	w.model.mu.Lock()
	w.model.workers--
	w.model.mu.Unlock()
	return nil
}

// run is the state of one request shared with the C callbacks.
type run struct {
	w        *Worker
	req      *transcribe.Request
	duration float64 // seconds of audio; times are clamped to it

	segments []transcribe.Segment
	cbErr    error // first error from a callback; stops the run
	progress int
	c        *C.earshot_run // C memory, freed when Run returns
}

// Run transcribes one request. The options must be validated
// (transcribe.Engine does it) and Threads positive.
func (w *Worker) Run(ctx context.Context, req *transcribe.Request) (*transcribe.Result, error) {
	if w.state == nil {
		return nil, fmt.Errorf("%w: worker is closed", ErrFailed)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	o := req.Options
	mctx := w.model.ctx
	pcm := req.Samples
	if len(pcm) < minSamples {
		// whisper.cpp returns nothing for very short input; padding with
		// silence lets a one-word clip ("yes") through.
		pcm = append(make([]float32, 0, minSamples), pcm...)
		pcm = pcm[:minSamples]
	}
	samples := (*C.float)(unsafe.Pointer(unsafe.SliceData(pcm)))
	n := C.int(len(pcm))
	threads := C.int(max(1, o.Threads))

	cr := (*C.earshot_run)(C.calloc(1, C.sizeof_earshot_run))
	if cr == nil {
		return nil, fmt.Errorf("%w: out of memory", ErrFailed)
	}
	defer C.free(unsafe.Pointer(cr))
	r := &run{w: w, req: req, duration: float64(len(req.Samples)) / transcribe.SampleRate, c: cr}
	h := cgo.NewHandle(r)
	defer h.Delete()

	lang, langProb := o.Language, float32(1)
	var encode time.Duration
	switch {
	case lang == "" && C.whisper_is_multilingual(mctx) != 0:
		// Detect here rather than inside whisper_full, to report whisper's
		// probability for the language; whisper_full then skips detection.
		t := time.Now()
		if C.whisper_pcm_to_mel_with_state(mctx, w.state, samples, n, threads) != 0 {
			return nil, fmt.Errorf("%w: computing the mel spectrogram", ErrFailed)
		}
		probs := make([]C.float, C.whisper_lang_max_id()+1)
		offset := C.int(o.Offset.Milliseconds())
		id := C.whisper_lang_auto_detect_with_state(mctx, w.state, offset, threads, unsafe.SliceData(probs))
		if id < 0 {
			return nil, fmt.Errorf("%w: detecting the language", ErrFailed)
		}
		if len(o.Languages) > 0 {
			id = bestOf(probs, o.Languages)
		}
		lang = C.GoString(C.whisper_lang_str(id))
		langProb = float32(probs[id])
		encode = time.Since(t)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	case lang == "":
		lang = "en" // English-only model
	}

	var strategy C.enum_whisper_sampling_strategy = C.WHISPER_SAMPLING_GREEDY
	if o.BeamSize > 1 {
		strategy = C.WHISPER_SAMPLING_BEAM_SEARCH
	}
	p := C.whisper_full_default_params(strategy)
	p.n_threads = threads
	p.offset_ms = C.int(min(o.Offset.Milliseconds(), math.MaxInt32))
	if audio := time.Duration(len(req.Samples)) * time.Second / transcribe.SampleRate; o.Offset+o.Duration < audio {
		// A duration past the end means "to the end", which whisper.cpp
		// spells 0; it would otherwise plan windows beyond the audio.
		p.duration_ms = C.int(min(o.Duration.Milliseconds(), math.MaxInt32))
	}
	p.translate = C.bool(o.Translate)
	p.print_special = false
	p.print_progress = false
	p.print_realtime = false
	p.print_timestamps = false
	p.token_timestamps = C.bool(o.TokenTimestamps || o.MaxSegmentLen > 0)
	p.max_len = C.int(o.MaxSegmentLen)
	p.split_on_word = C.bool(o.SplitOnWord)
	p.temperature = C.float(o.Temperature)
	if o.NoFallback {
		p.temperature_inc = 0
	}
	p.no_context = C.bool(o.NoContext)
	if o.BestOf > 0 {
		p.greedy.best_of = C.int(o.BestOf)
	}
	if o.BeamSize > 1 {
		p.beam_search.beam_size = C.int(o.BeamSize)
	}
	if o.ShortWindow {
		if audioCtx, tokens, ok := shortWindow(len(pcm), int(C.whisper_n_audio_ctx(mctx))); ok {
			p.audio_ctx = C.int(audioCtx)
			p.max_tokens = C.int(tokens)
			p.single_segment = true
		}
	}
	clang := C.CString(lang)
	defer C.free(unsafe.Pointer(clang))
	p.language = clang
	p.detect_language = false
	prompt, promptTokens, dropped := w.prompt(o.Keywords, o.Prompt)
	if prompt != "" {
		cprompt := C.CString(prompt)
		defer C.free(unsafe.Pointer(cprompt))
		p.initial_prompt = cprompt
	}
	C.earshot_callbacks(&p, C.uintptr_t(h), cr)

	// Cancellation sets the flag whisper.cpp checks at its next step. The
	// flag must outlive the callback, so wait for a callback already started.
	stopped := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { C.earshot_stop(cr); close(stopped) })
	rc := C.whisper_full_with_state(mctx, w.state, p, samples, n)
	if !stop() {
		<-stopped
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.cbErr != nil {
		return nil, r.cbErr
	}
	if rc != 0 {
		return nil, fmt.Errorf("%w: whisper_full returned %d", ErrFailed, int(rc))
	}
	// Collect what the segment callback has not delivered (there should be
	// nothing left, but whisper's contract does not promise it).
	if err := r.collect(int(C.whisper_full_n_segments_from_state(w.state))); err != nil {
		return nil, err
	}
	if r.progress < 100 && req.OnProgress != nil {
		req.OnProgress(100)
	}
	total := time.Since(start)
	encode += time.Duration(cr.encode_ns)
	res := &transcribe.Result{
		Language:        lang,
		LanguageProb:    langProb,
		Duration:        r.duration,
		Segments:        r.segments,
		PromptTokens:    promptTokens,
		DroppedKeywords: dropped,
		Timings: transcribe.Timings{
			EncodeMS: ms(encode),
			DecodeMS: ms(total - encode),
			TotalMS:  ms(total),
		},
	}
	if res.Segments == nil {
		res.Segments = []transcribe.Segment{}
	}
	if o.TokenTimestamps {
		res.Words = transcribe.Words(res.Segments)
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// bestOf is the most probable of the candidate language codes (validated
// by Options.Validate, so each is one whisper knows).
func bestOf(probs []C.float, candidates []string) C.int {
	best := C.int(-1)
	for _, code := range candidates {
		cs := C.CString(code)
		id := C.whisper_lang_id(cs)
		C.free(unsafe.Pointer(cs))
		if id >= 0 && int(id) < len(probs) && (best < 0 || probs[id] > probs[best]) {
			best = id
		}
	}
	return max(best, 0)
}

// prompt is whisper's initial prompt: the keywords, as many as fit in the
// prompt budget (n_text_ctx/2 tokens; whisper would silently keep only the
// last tokens of a longer one), then the caller's prompt. It returns the
// prompt, its length in tokens, and the keywords left out.
func (w *Worker) prompt(keywords []string, prompt string) (string, int, []string) {
	mctx := w.model.ctx
	count := func(s string) int {
		if s == "" {
			return 0
		}
		cs := C.CString(s)
		defer C.free(unsafe.Pointer(cs))
		return int(C.whisper_token_count(mctx, cs))
	}
	budget := int(C.whisper_n_text_ctx(mctx))/2 - 1
	used := count(prompt)
	var kept, dropped []string
	for _, k := range keywords {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if n := count(" " + k + ","); len(dropped) == 0 && used+n <= budget {
			kept = append(kept, k)
			used += n
			continue
		}
		dropped = append(dropped, k)
	}
	if len(kept) == 0 {
		return prompt, used, dropped
	}
	full := strings.Join(kept, ", ") + "."
	if prompt != "" {
		full += " " + prompt
	}
	return full, count(full), dropped
}

// minSamples is the shortest input handed to whisper.cpp (1 s).
const minSamples = transcribe.SampleRate

// shortWindow is the encoder context and the token budget for samples of
// audio decoded with Options.ShortWindow, and whether it applies (the audio
// leaves part of the model's maxCtx unused). One encoder position is two
// 10 ms mel frames. The context is a multiple of 256: with flash attention
// whisper.cpp attends over the context padded to 256 positions, unmasked,
// so positions past a shorter context would hold whatever an earlier
// request left there (results would depend on the worker's history). The
// margin of at least 64 positions (1.28 s) keeps the end of the speech
// away from the end of the window, which on real models invites repeated
// or invented words. The token budget, 12 a second plus 16, is well above
// what speech produces (fast English is about 4 a second).
func shortWindow(samples, maxCtx int) (ctx, tokens int, ok bool) {
	const perPosition = transcribe.SampleRate / 50
	ctx = (samples+perPosition-1)/perPosition + 64
	ctx = (ctx + 255) / 256 * 256
	if ctx >= maxCtx {
		return 0, 0, false
	}
	return ctx, samples*12/transcribe.SampleRate + 16, true
}

// clamp converts whisper's centiseconds to seconds within the audio: the
// decoder can emit timestamps past the end, which mean nothing to a user.
func (r *run) clamp(t C.int64_t) float64 {
	return min(max(0, float64(t)/100), r.duration)
}

// collect reads the segments whisper has finished beyond those already
// collected, up to n, and hands each to OnSegment.
func (r *run) collect(n int) error {
	st := r.w.state
	mctx := r.w.model.ctx
	eot := int(C.whisper_token_eot(mctx))
	for i := len(r.segments); i < n; i++ {
		ci := C.int(i)
		seg := transcribe.Segment{
			ID:           i,
			Start:        r.clamp(C.whisper_full_get_segment_t0_from_state(st, ci)),
			End:          r.clamp(C.whisper_full_get_segment_t1_from_state(st, ci)),
			Text:         strings.ToValidUTF8(C.GoString(C.whisper_full_get_segment_text_from_state(st, ci)), "\uFFFD"),
			NoSpeechProb: float64(C.whisper_full_get_segment_no_speech_prob_from_state(st, ci)),
			Temperature:  float64(r.req.Options.Temperature),
		}
		nt := int(C.whisper_full_n_tokens_from_state(st, ci))
		seg.Tokens = make([]transcribe.Token, 0, nt)
		var lsum float64
		var ln int
		for j := range nt {
			d := C.whisper_full_get_token_data_from_state(st, ci, C.int(j))
			t := transcribe.Token{
				ID:      int(d.id),
				Text:    C.GoString(C.whisper_full_get_token_text_from_state(mctx, st, ci, C.int(j))),
				P:       float64(d.p),
				Logprob: float64(d.plog),
				Start:   seg.Start,
				End:     seg.End,
				Special: int(d.id) >= eot,
			}
			if r.req.Options.TokenTimestamps && d.t0 >= 0 && d.t1 >= 0 {
				t.Start, t.End = r.clamp(d.t0), r.clamp(d.t1)
			}
			if !t.Special {
				lsum += t.Logprob
				ln++
			}
			seg.Tokens = append(seg.Tokens, t)
		}
		if ln > 0 {
			seg.AvgLogprob = lsum / float64(ln)
		}
		r.segments = append(r.segments, seg)
		if r.req.OnSegment != nil {
			if err := r.req.OnSegment(seg); err != nil {
				return err
			}
		}
	}
	return nil
}

// The callbacks below run on the goroutine that called whisper_full, inside
// that call; whisper.cpp calls them one at a time.

//export earshotSegment
func earshotSegment(wctx *C.struct_whisper_context, st *C.struct_whisper_state, nNew C.int, user unsafe.Pointer) {
	r := cgo.Handle(uintptr(user)).Value().(*run)
	if r.cbErr != nil {
		return
	}
	if err := r.collect(int(C.whisper_full_n_segments_from_state(st))); err != nil {
		r.cbErr = err
		C.earshot_stop(r.c)
	}
}

//export earshotProgress
func earshotProgress(wctx *C.struct_whisper_context, st *C.struct_whisper_state, progress C.int, user unsafe.Pointer) {
	r := cgo.Handle(uintptr(user)).Value().(*run)
	p := min(100, max(0, int(progress)))
	if p > r.progress && r.req.OnProgress != nil {
		r.req.OnProgress(p)
	}
	r.progress = max(r.progress, p)
}
