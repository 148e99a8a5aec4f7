package live_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/earshot-dev/earshot/live"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
)

// FuzzClientEvents sends arbitrary client messages into one live session,
// each followed by a probe (input_audio_buffer.clear): whatever a message
// holds, the session answers the probe, stays open and sends only JSON.
func FuzzClientEvents(f *testing.F) {
	for _, s := range []string{
		`{"type":"input_audio_buffer.append","audio":"AAAAAAAA"}`,
		`{"type":"input_audio_buffer.append","audio":"not base64!"}`,
		`{"type":"input_audio_buffer.commit","event_id":"e1"}`,
		`{"type":"session.update","session":{"type":"transcription","audio":{"input":{"format":{"type":"audio/pcm","rate":16000},"turn_detection":null}}}}`,
		`{"type":"session.update","session":{"audio":{"input":{"turn_detection":{"type":"semantic_vad","eagerness":"bogus"}}}}}`,
		`{"type":"transcription_session.update","session":{"input_audio_format":"g711_ulaw"}}`,
		`{"type":"response.create"}`,
		`{"type":7}`,
		`[1,2,3]`,
		`{`,
		``,
	} {
		f.Add([]byte(s))
	}
	srv, _ := server(f, &pipelinetest.Engine{}, live.Config{})
	url := strings.Replace(srv.URL, "http", "ws", 1) + "/v1/realtime?intent=transcription"
	var conn *websocket.Conn
	f.Fuzz(func(t *testing.T, msg []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn == nil {
			c, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.SetReadLimit(16 << 20)
			conn = c
		}
		if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
			t.Fatalf("writing %q: %v", msg, err)
		}
		if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"input_audio_buffer.clear","event_id":"probe"}`)); err != nil {
			t.Fatalf("after %q the probe could not be sent: %v", msg, err)
		}
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				conn.CloseNow()
				conn = nil
				t.Fatalf("after %q the session stopped: %v", msg, err)
			}
			var e map[string]any
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("after %q the server sent %q", msg, b)
			}
			if e["type"] == "input_audio_buffer.cleared" {
				return
			}
		}
	})
	if conn != nil {
		conn.Close(websocket.StatusNormalClosure, "")
	}
}
