package live_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/live"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcripts"
)

// server serves live sessions on engine, with cfg's limits.
func server(t testing.TB, engine pipeline.Engine, cfg live.Config) (*httptest.Server, *live.Handler) {
	t.Helper()
	f, err := agentmode.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pipeline = pipeline.New(pipeline.Config{Engine: engine, Decoder: audio.Decoder{}, Formatter: f, Transcripts: transcripts.New(0, 0)})
	if cfg.ModelName == "" {
		cfg.ModelName = "whisper-1"
	}
	h := live.New(cfg)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close(context.Background())
		srv.Close()
	})
	return srv, h
}

// client is a test's end of a session: every server event, in order.
type client struct {
	t      testing.TB
	conn   *websocket.Conn
	events chan event
	done   chan struct{}

	mu  sync.Mutex
	all []event
}

type event map[string]any

func (e event) typ() string { s, _ := e["type"].(string); return s }
func (e event) str(k string) string {
	s, _ := e[k].(string)
	return s
}
func (e event) num(k string) float64 {
	f, _ := e[k].(float64)
	return f
}
func (e event) errField(k string) string {
	m, _ := e["error"].(map[string]any)
	s, _ := m[k].(string)
	return s
}

func dial(t testing.TB, url string, opts *websocket.DialOptions) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(url, "http", "ws", 1), opts)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(16 << 20)
	c := &client{t: t, conn: conn, events: make(chan event, 10000), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.events)
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var e event
			if err := json.Unmarshal(b, &e); err != nil {
				t.Errorf("server sent %q: %v", b, err)
				return
			}
			c.mu.Lock()
			c.all = append(c.all, e)
			c.mu.Unlock()
			c.events <- e
		}
	}()
	t.Cleanup(func() {
		conn.CloseNow()
		<-c.done
	})
	return c
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) sendRaw(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	if err := c.conn.Write(context.Background(), typ, b); err != nil {
		c.t.Fatal(err)
	}
}

// next is the next event, failing after timeout.
func (c *client) next(timeout time.Duration) event {
	c.t.Helper()
	select {
	case e, ok := <-c.events:
		if !ok {
			c.t.Fatal("the session closed")
		}
		return e
	case <-time.After(timeout):
		c.t.Fatalf("no event in %s", timeout)
	}
	return nil
}

// until reads events up to one of type typ, returning them all.
func (c *client) until(typ string, timeout time.Duration) []event {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var out []event
	for {
		e := c.next(time.Until(deadline))
		out = append(out, e)
		if e.typ() == typ {
			return out
		}
	}
}

func (c *client) append(pcm []byte) {
	c.send(map[string]any{"type": "input_audio_buffer.append", "audio": base64.StdEncoding.EncodeToString(pcm)})
}

// samples reads a test file as 16 kHz samples.
func samples(t testing.TB, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := audio.Decoder{}.Decode(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return a.Samples
}

func audioFile(name string) string { return filepath.Join("..", "testdata", "audio", name) }

// pcm16 encodes samples as 16-bit little-endian PCM.
func pcm16(x []float32) []byte {
	b := make([]byte, 2*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(max(-32768, min(32767, math.Round(float64(v)*32767))))))
	}
	return b
}

// upsample24k makes 24 kHz samples from 16 kHz ones by linear
// interpolation: enough for a test signal of speech.
func upsample24k(x []float32) []float32 {
	out := make([]float32, len(x)*3/2)
	for i := range out {
		pos := float64(i) * 2 / 3
		j := int(pos)
		f := float32(pos - float64(j))
		a, b := x[j], x[min(j+1, len(x)-1)]
		out[i] = a + (b-a)*f
	}
	return out
}

// regions reads testdata/turns.txt: where turns.wav has speech.
func regions(t testing.TB) [][2]time.Duration {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "turns.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]time.Duration
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var a, z int
		if _, err := fmt.Sscan(line, &a, &z); err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]time.Duration{time.Duration(a) * time.Millisecond, time.Duration(z) * time.Millisecond})
	}
	return out
}

// stream sends pcm in chunks of chunk bytes, paced at real time when
// pace is set (bytesPerSec of audio a second).
func (c *client) stream(pcm []byte, chunk int, bytesPerSec int, pace bool) {
	start := time.Now()
	for off := 0; off < len(pcm); off += chunk {
		c.append(pcm[off:min(off+chunk, len(pcm))])
		if pace {
			due := start.Add(time.Duration(off+chunk) * time.Second / time.Duration(bytesPerSec))
			time.Sleep(time.Until(due))
		}
	}
}
