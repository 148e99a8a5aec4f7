package live_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/earshot-dev/earshot/live"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcripts"
)

// keyLimiter is a key store's limits in memory: it counts what it admits,
// the leases held, and the usage recorded; refuse answers every Admit.
type keyLimiter struct {
	mu       sync.Mutex
	admitted int
	held     int
	usage    []pipeline.Usage
	refuse   error
	// turns, when > 0, is the monthly quota in turns: CheckQuota refuses
	// once that many have been recorded.
	turns int
}

func (l *keyLimiter) CheckQuota(_ context.Context, p pipeline.Principal) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.turns > 0 && len(l.usage) >= l.turns {
		return &pipeline.Error{Kind: pipeline.QuotaExceeded, Code: "insufficient_quota", Message: "This API key has used its monthly audio allowance."}
	}
	return nil
}

func (l *keyLimiter) Admit(_ context.Context, p pipeline.Principal) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refuse != nil {
		return nil, l.refuse
	}
	l.admitted++
	l.held++
	var once sync.Once
	return func() { once.Do(func() { l.mu.Lock(); l.held--; l.mu.Unlock() }) }, nil
}

func (l *keyLimiter) Record(_ context.Context, p pipeline.Principal, u pipeline.Usage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.usage = append(l.usage, u)
	return nil
}

func (l *keyLimiter) counts() (admitted, held int, usage []pipeline.Usage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.admitted, l.held, append([]pipeline.Usage(nil), l.usage...)
}

// keyServer serves live sessions as a key "k1" with limiter's limits.
func keyServer(t *testing.T, engine pipeline.Engine, limiter *keyLimiter) string {
	t.Helper()
	pipe := pipeline.New(pipeline.Config{Engine: engine, Decoder: audio.Decoder{}, Transcripts: transcripts.New(0, 0), Limits: limiter})
	h := live.New(live.Config{Pipeline: pipe, ModelName: "whisper-1"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(pipeline.WithPrincipal(r.Context(), pipeline.Principal{KeyID: "k1"})))
	}))
	t.Cleanup(func() {
		h.Close(context.Background())
		srv.Close()
	})
	return srv.URL
}

// A session is one request against its key's limits, however many
// decodes its partials take: admitted once at the handshake, its lease
// held until it closes, and each turn's audio recorded once, under an id
// of its own.
func TestSessionIsOneRequestOfItsKey(t *testing.T) {
	engine := &pipelinetest.Engine{}
	limiter := &keyLimiter{}
	url := keyServer(t, engine, limiter)
	c := dial(t, url+"/v1/realtime?intent=transcription", nil)
	c.next(wait)
	manual(t, c)
	pcm := pcm16(samples(t, audioFile("jfk.wav"))[:16000*3/2])
	c.stream(pcm, 3200, 32000, true) // real time: partial decodes as the turn grows
	c.send(map[string]any{"type": "input_audio_buffer.commit"})
	c.until("conversation.item.input_audio_transcription.completed", wait)
	c.append(pcm[:8000])
	c.send(map[string]any{"type": "input_audio_buffer.commit"})
	c.until("conversation.item.input_audio_transcription.completed", wait)
	if engine.Calls() < 3 {
		t.Fatalf("%d decodes: the open turn was not decoded as it grew", engine.Calls())
	}
	admitted, held, usage := limiter.counts()
	if admitted != 1 || held != 1 {
		t.Errorf("while open: admitted %d, leases held %d; want 1 and 1", admitted, held)
	}
	if len(usage) != 2 || usage[0].AudioSeconds != 1.5 || usage[1].AudioSeconds != 0.25 ||
		usage[0].RequestID == usage[1].RequestID || !strings.Contains(usage[0].RequestID, "item_") {
		t.Errorf("usage %+v, want 1.5 s and 0.25 s under two ids", usage)
	}
	for _, u := range usage {
		if u.ProcessingSeconds <= 0 {
			t.Errorf("usage %+v without processing time", u)
		}
	}
	c.conn.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(wait)
	for {
		if _, held, _ := limiter.counts(); held == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session's lease is still held after it closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A key over its limits is refused at the handshake, in the API's shape.
func TestSessionRefusedByItsKeysLimits(t *testing.T) {
	tests := []struct {
		name   string
		refuse error
		status int
		code   string
		retry  string
	}{
		{"rate", &pipeline.Error{Kind: pipeline.RateLimited, Code: "rate_limit_exceeded", Message: "Too many requests.", RetryAfter: 1500 * time.Millisecond}, 429, "rate_limit_exceeded", "2"},
		{"quota", &pipeline.Error{Kind: pipeline.QuotaExceeded, Code: "insufficient_quota", Message: "Quota used up."}, 429, "insufficient_quota", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := keyServer(t, &pipelinetest.Engine{}, &keyLimiter{refuse: tt.refuse})
			_, res, err := websocket.Dial(context.Background(), strings.Replace(url, "http", "ws", 1)+"/v1/realtime?intent=transcription", nil)
			if err == nil || res == nil {
				t.Fatalf("dialled: %v", err)
			}
			defer res.Body.Close()
			if res.StatusCode != tt.status || res.Header.Get("Retry-After") != tt.retry {
				t.Errorf("status %d Retry-After %q, want %d %q", res.StatusCode, res.Header.Get("Retry-After"), tt.status, tt.retry)
			}
			if b := readAll(res); !strings.Contains(b, `"code":"`+tt.code+`"`) {
				t.Errorf("body %s lacks code %s", b, tt.code)
			}
		})
	}
}

func readAll(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// A session's key that spends its monthly quota mid-session: the next
// turn is not decoded, fails with insufficient_quota, and the session
// closes with it.
func TestSessionEndsWhenItsQuotaIsSpent(t *testing.T) {
	engine := &pipelinetest.Engine{}
	limiter := &keyLimiter{turns: 1}
	url := keyServer(t, engine, limiter)
	c := dial(t, url+"/v1/realtime?intent=transcription", nil)
	c.next(wait)
	manual(t, c)
	pcm := pcm16(samples(t, audioFile("jfk.wav"))[:16000])
	c.append(pcm)
	c.send(map[string]any{"type": "input_audio_buffer.commit"})
	c.until("conversation.item.input_audio_transcription.completed", wait)
	c.append(pcm)
	c.send(map[string]any{"type": "input_audio_buffer.commit"})
	events := c.until("conversation.item.input_audio_transcription.failed", wait)
	for _, e := range events {
		if e.typ() == "conversation.item.input_audio_transcription.completed" {
			t.Errorf("a turn was transcribed after the quota was spent: %v", e)
		}
	}
	if f := events[len(events)-1]; f.errField("code") != "insufficient_quota" {
		t.Errorf("failed turn: %v", f)
	}
	if e := c.next(wait); e.typ() != "error" || e.errField("code") != "insufficient_quota" {
		t.Errorf("after the failed turn: %v", e)
	}
	select {
	case <-c.done:
	case <-time.After(wait):
		t.Fatal("the session stayed open after its quota was spent")
	}
	if _, _, usage := limiter.counts(); len(usage) != 1 {
		t.Errorf("usage %+v, want the first turn only", usage)
	}
}
