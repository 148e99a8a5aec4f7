//go:build cgo

// Sessions on whisper.cpp with the synthetic model (random weights: the
// words mean nothing, the decoding is real): turn detection on known
// speech, partials that are prefixes of the final text, turns that cover
// the audio once. The protocol alone is tested on the scripted engine.
package live_test

import (
	"os"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/live"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/whisper/whispertest"
)

var modelPath string

func TestMain(m *testing.M) { os.Exit(whispertest.Main(m, &modelPath)) }

// turnEvents streams pcm into a server_vad session and returns every event
// up to the last turn's completed one.
func turnEvents(t *testing.T, c *client, pcm []byte, chunk, bytesPerSec int, pace bool, turns int) []event {
	t.Helper()
	c.stream(pcm, chunk, bytesPerSec, pace)
	// A second of silence after the end lets the last turn end.
	c.stream(make([]byte, bytesPerSec), chunk, bytesPerSec, false)
	var events []event
	for n := 0; n < turns; n++ {
		events = append(events, c.until("conversation.item.input_audio_transcription.completed", 60*time.Second)...)
	}
	return events
}

func TestTurnsOnWhisper(t *testing.T) {
	engine := whispertest.Engine(t, modelPath, transcribe.EngineOptions{Threads: 2, Workers: 1})
	srv, _ := server(t, engine, live.Config{})
	want := regions(t)
	speech := samples(t, "testdata/turns.wav")
	for _, tc := range []struct {
		name  string
		rate  int
		chunk time.Duration
		pace  bool
	}{
		{"24 kHz, 20 ms chunks, real time", 24000, 20 * time.Millisecond, true},
		{"16 kHz, 100 ms chunks, as fast as it goes", 16000, 100 * time.Millisecond, false},
		{"24 kHz, 50 ms chunks, as fast as it goes", 24000, 50 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, srv.URL+"/v1/realtime?model=gpt-4o-transcribe", nil)
			c.next(wait)
			x := speech
			if tc.rate == 24000 {
				x = upsample24k(speech)
			}
			c.send(map[string]any{"type": "session.update", "session": map[string]any{"type": "transcription", "audio": map[string]any{"input": map[string]any{
				"format":         map[string]any{"type": "audio/pcm", "rate": tc.rate},
				"transcription":  map[string]any{"language": "en"},
				"turn_detection": map[string]any{"type": "server_vad", "silence_duration_ms": 500, "prefix_padding_ms": 300},
			}}}})
			c.next(wait)
			bps := 2 * tc.rate
			events := turnEvents(t, c, pcm16(x), int(tc.chunk.Seconds()*float64(bps)), bps, tc.pace, len(want))
			done := checkTurns(t, events)
			if len(done) != len(want) {
				t.Fatalf("%d turns, want %d", len(done), len(want))
			}
			// Protocol order per turn: started, stopped, committed, completed.
			var starts, stops []event
			next := map[string]string{}
			for _, e := range events {
				item := e.str("item_id")
				order := map[string][2]string{
					"input_audio_buffer.speech_started":                     {"", "started"},
					"input_audio_buffer.speech_stopped":                     {"started", "stopped"},
					"input_audio_buffer.committed":                          {"stopped", "committed"},
					"conversation.item.input_audio_transcription.completed": {"committed", "completed"},
				}[e.typ()]
				if order[1] == "" {
					continue
				}
				if next[item] != order[0] {
					t.Errorf("%s of %s after %q", e.typ(), item, next[item])
				}
				next[item] = order[1]
				switch e.typ() {
				case "input_audio_buffer.speech_started":
					starts = append(starts, e)
				case "input_audio_buffer.speech_stopped":
					stops = append(stops, e)
				}
			}
			if len(starts) != len(want) || len(stops) != len(want) {
				t.Fatalf("%d starts, %d stops, want %d", len(starts), len(stops), len(want))
			}
			end := time.Duration(0)
			for i, r := range want {
				start := time.Duration(starts[i].num("audio_start_ms")) * time.Millisecond
				stop := time.Duration(stops[i].num("audio_end_ms")) * time.Millisecond
				if start < end {
					t.Errorf("turn %d starts at %s, inside the turn before (to %s)", i, start, end)
				}
				end = stop
				// audio_start_ms includes the prefix padding, audio_end_ms
				// the silence that ended the turn (as OpenAI's do).
				if d := start + 300*time.Millisecond - r[0]; d.Abs() > 200*time.Millisecond {
					t.Errorf("turn %d: speech started at %s (less 300 ms padding: %s), known %s", i, start, start+300*time.Millisecond, r[0])
				}
				if d := stop - 500*time.Millisecond - r[1]; d.Abs() > 200*time.Millisecond {
					t.Errorf("turn %d: speech stopped at %s (less 500 ms silence: %s), known %s", i, stop, stop-500*time.Millisecond, r[1])
				}
				if starts[i].str("item_id") != done[i].str("item_id") {
					t.Errorf("turn %d: started %s, completed %s", i, starts[i].str("item_id"), done[i].str("item_id"))
				}
				secs := done[i]["usage"].(map[string]any)["seconds"].(float64)
				if got := time.Duration(secs * float64(time.Second)); (got - (stop - start)).Abs() > 20*time.Millisecond {
					t.Errorf("turn %d: usage %s, its audio is %s", i, got, stop-start)
				}
			}
		})
	}
}

// jfk.wav is one turn of continuous speech: the open turn is decoded as it
// grows, and every delta is kept by the final transcript.
func TestPartialsOnWhisper(t *testing.T) {
	engine := whispertest.Engine(t, modelPath, transcribe.EngineOptions{Threads: 2, Workers: 1})
	srv, _ := server(t, engine, live.Config{})
	c := dial(t, srv.URL+"/v1/realtime?intent=transcription", nil)
	c.next(wait)
	manual(t, c)
	pcm := pcm16(samples(t, audioFile("jfk.wav")))
	c.stream(pcm, 1600, 32000, false)
	c.send(map[string]any{"type": "input_audio_buffer.commit"})
	events := c.until("conversation.item.input_audio_transcription.completed", 60*time.Second)
	done := checkTurns(t, events)
	if len(done) != 1 || done[0]["usage"].(map[string]any)["seconds"] != 11.0 {
		t.Fatalf("completed %v", done)
	}
	// At most the partial decode running at the commit is given up (the
	// audio it lacked is the commit's): no other decode is cancelled.
	if engine.Canceled() > 1 {
		t.Errorf("%d decodes cancelled", engine.Canceled())
	}
}

// A client that leaves mid-turn frees the worker on the real engine.
func TestDisconnectFreesWhisper(t *testing.T) {
	engine := whispertest.Engine(t, modelPath, transcribe.EngineOptions{Threads: 2, Workers: 1})
	srv, h := server(t, engine, live.Config{})
	c := dial(t, srv.URL+"/v1/realtime?intent=transcription", nil)
	c.next(wait)
	manual(t, c)
	c.stream(pcm16(samples(t, audioFile("jfk.wav"))), 3200, 32000, false)
	c.send(map[string]any{"type": "input_audio_buffer.commit"})
	c.until("input_audio_buffer.committed", wait)
	c.conn.CloseNow()
	deadline := time.Now().Add(wait)
	for (engine.Running() > 0 || h.Sessions() > 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if engine.Running() != 0 || h.Sessions() != 0 {
		t.Fatalf("after the client left: %d running, %d sessions", engine.Running(), h.Sessions())
	}
	// The worker is free: another session gets its turn decoded.
	c2 := dial(t, srv.URL+"/v1/realtime?intent=transcription", nil)
	c2.next(wait)
	manual(t, c2)
	c2.append(pcm16(samples(t, audioFile("jfk.wav"))[:16000]))
	c2.send(map[string]any{"type": "input_audio_buffer.commit"})
	checkTurns(t, c2.until("conversation.item.input_audio_transcription.completed", 30*time.Second))
}
