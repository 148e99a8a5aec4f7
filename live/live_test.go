package live_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/earshot-dev/earshot/live"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
	"github.com/earshot-dev/earshot/transcribe"
)

const wait = 10 * time.Second

// manual is a session with turn_detection off and 16 kHz input.
func manual(t *testing.T, c *client) {
	t.Helper()
	c.send(map[string]any{"type": "session.update", "session": map[string]any{"type": "transcription",
		"audio": map[string]any{"input": map[string]any{"format": map[string]any{"type": "audio/pcm", "rate": 16000}, "turn_detection": nil}}}})
	if e := c.next(wait); e.typ() != "session.updated" {
		t.Fatalf("after session.update: %v", e)
	}
}

func TestSessionCreatedShapes(t *testing.T) {
	srv, _ := server(t, &pipelinetest.Engine{}, live.Config{})
	for _, tc := range []struct {
		name, query string
		header      http.Header
		want        string
		format      string
	}{
		{"GA, as the openai SDK dials", "?model=gpt-4o-transcribe", nil, "session.created", ""},
		{"GA with intent", "?intent=transcription", nil, "session.created", ""},
		{"beta", "?intent=transcription", http.Header{"Openai-Beta": {"realtime=v1"}}, "transcription_session.created", "pcm16"},
	} {
		c := dial(t, srv.URL+"/v1/realtime"+tc.query, &websocket.DialOptions{HTTPHeader: tc.header})
		e := c.next(wait)
		if e.typ() != tc.want || !strings.HasPrefix(e.str("event_id"), "event_") {
			t.Errorf("%s: first event %v", tc.name, e)
			continue
		}
		s, _ := e["session"].(map[string]any)
		if s["object"] != "realtime.transcription_session" || !strings.HasPrefix(s["id"].(string), "sess_") {
			t.Errorf("%s: session %v", tc.name, s)
		}
		if tc.format != "" && s["input_audio_format"] != tc.format {
			t.Errorf("%s: input_audio_format %v", tc.name, s["input_audio_format"])
		}
		if tc.format == "" {
			b, _ := json.Marshal(s["audio"])
			if !strings.Contains(string(b), `"format":{"rate":24000,"type":"audio/pcm"}`) || !strings.Contains(string(b), `"type":"server_vad"`) {
				t.Errorf("%s: audio %s", tc.name, b)
			}
		}
	}
}

func TestHandshakeErrors(t *testing.T) {
	srv, _ := server(t, &pipelinetest.Engine{}, live.Config{Model: models})
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"?intent=conversation", http.StatusBadRequest},
		{"?model=nope", http.StatusNotFound},
		{"?intent=transcription", http.StatusUpgradeRequired}, // plain GET, no upgrade
	} {
		res, err := http.Get(srv.URL + "/v1/realtime" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Message, Type string }
		}
		json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode != tc.want || body.Error.Message == "" {
			t.Errorf("%s: %d %+v, want %d", tc.query, res.StatusCode, body, tc.want)
		}
	}
}

// The browser form: the key rides in a subprotocol; the answer is
// "realtime", never the key's.
func TestSubprotocolAnswer(t *testing.T) {
	srv, _ := server(t, &pipelinetest.Engine{}, live.Config{})
	c := dial(t, srv.URL+"/v1/realtime?model=whisper-1", &websocket.DialOptions{Subprotocols: []string{"realtime", "openai-insecure-api-key.esk_secret"}})
	if got := c.conn.Subprotocol(); got != "realtime" {
		t.Errorf("subprotocol %q, want realtime", got)
	}
}

// Bad input gets an error event in OpenAI's shape, and the session goes on.
func TestBadInputsAreErrorEvents(t *testing.T) {
	srv, _ := server(t, &pipelinetest.Engine{}, live.Config{Model: models})
	c := dial(t, srv.URL+"/v1/realtime?intent=transcription", nil)
	c.next(wait) // session.created
	for _, tc := range []struct {
		name, msg   string
		binary      bool
		code, param string
	}{
		{"bad JSON", `{"type":`, false, "invalid_json", ""},
		{"binary frame", `xx`, true, "", ""},
		{"unknown event", `{"type":"input_audio_buffer.push","event_id":"e1"}`, false, "unknown_event", "type"},
		{"response event", `{"type":"response.create"}`, false, "unsupported_event", "type"},
		{"no type", `{}`, false, "invalid_value", "type"},
		{"bad base64", `{"type":"input_audio_buffer.append","audio":"!!!"}`, false, "invalid_base64", "audio"},
		{"no audio", `{"type":"input_audio_buffer.append"}`, false, "invalid_value", "audio"},
		{"empty commit", `{"type":"input_audio_buffer.commit"}`, false, "input_audio_buffer_commit_empty", ""},
		{"realtime session", `{"type":"session.update","session":{"type":"realtime"}}`, false, "invalid_value", "session.type"},
		{"pcm at 44.1 kHz", `{"type":"session.update","session":{"type":"transcription","audio":{"input":{"format":{"type":"audio/pcm","rate":44100}}}}}`, false, "invalid_value", "session.audio.input.format.rate"},
		{"opus", `{"type":"session.update","session":{"type":"transcription","audio":{"input":{"format":{"type":"audio/opus"}}}}}`, false, "invalid_value", "session.audio.input.format.type"},
		{"beta format", `{"type":"transcription_session.update","session":{"input_audio_format":"mp3"}}`, false, "invalid_value", "session.input_audio_format"},
		{"threshold", `{"type":"session.update","session":{"type":"transcription","audio":{"input":{"turn_detection":{"type":"server_vad","threshold":2}}}}}`, false, "invalid_value", "session.audio.input.turn_detection.threshold"},
		{"eagerness", `{"type":"session.update","session":{"type":"transcription","audio":{"input":{"turn_detection":{"type":"semantic_vad","eagerness":"eager"}}}}}`, false, "invalid_value", "session.audio.input.turn_detection.eagerness"},
		{"language", `{"type":"session.update","session":{"type":"transcription","audio":{"input":{"transcription":{"language":"klingon"}}}}}`, false, "invalid_value", "session.audio.input.transcription.language"},
		{"model", `{"type":"session.update","session":{"type":"transcription","audio":{"input":{"transcription":{"model":"nope"}}}}}`, false, "model_not_found", "session.audio.input.transcription.model"},
		{"include", `{"type":"session.update","session":{"type":"transcription","include":["item.foo"]}}`, false, "invalid_value", "session.include"},
		{"earshot mode", `{"type":"session.update","session":{"type":"transcription","earshot":{"mode":"poetry"}}}`, false, "invalid_value", "session.earshot.mode"},
	} {
		typ := websocket.MessageText
		if tc.binary {
			typ = websocket.MessageBinary
		}
		c.sendRaw(typ, []byte(tc.msg))
		e := c.next(wait)
		if e.typ() != "error" || e.errField("message") == "" || e.errField("type") != "invalid_request_error" ||
			e.str("event_id") == "" {
			t.Errorf("%s: %v", tc.name, e)
			continue
		}
		if tc.code != "" && e.errField("code") != tc.code {
			t.Errorf("%s: code %q, want %q (%v)", tc.name, e.errField("code"), tc.code, e)
		}
		if e.errField("param") != tc.param {
			t.Errorf("%s: param %q, want %q", tc.name, e.errField("param"), tc.param)
		}
	}
	// The session went on through all of it.
	c.send(map[string]any{"type": "transcription_session.update", "event_id": "ok", "session": map[string]any{"input_audio_format": "g711_ulaw"}})
	e := c.next(wait)
	if s, _ := e["session"].(map[string]any); e.typ() != "transcription_session.updated" || s["input_audio_format"] != "g711_ulaw" {
		t.Errorf("after the errors: %v", e)
	}
}

func models(name string) error {
	if name == "nope" {
		return errNoModel
	}
	return nil
}

var errNoModel = pipeline.Errorf(pipeline.NotFound, "model_not_found", "The model does not exist.")

// checkTurns checks a session's events: each item's deltas come before its
// completed event, each delta keeps the text a prefix of the final
// transcript, and the deltas add up to it. It returns the transcripts in
// order.
func checkTurns(t *testing.T, events []event) []event {
	t.Helper()
	sofar := map[string]string{}
	committed, added, itemDone := map[string]bool{}, map[string]bool{}, map[string]bool{}
	ga := false // conversation.item.added (GA) is followed by conversation.item.done
	var done []event
	prev := ""
	for _, e := range events {
		item := e.str("item_id")
		switch e.typ() {
		case "input_audio_buffer.committed":
			if p, _ := e["previous_item_id"].(string); p != prev {
				t.Errorf("committed %s after %q, previous_item_id %q", item, prev, p)
			}
			prev = item
			committed[item] = true
		case "conversation.item.added", "conversation.item.created":
			it, _ := e["item"].(map[string]any)
			id, _ := it["id"].(string)
			if id != prev || !committed[id] || it["role"] != "user" || it["type"] != "message" {
				t.Errorf("%s for %q after committing %q: %v", e.typ(), id, prev, e)
			}
			if added[id] {
				t.Errorf("%s twice for %s", e.typ(), id)
			}
			added[id] = true
			ga = ga || e.typ() == "conversation.item.added"
		case "conversation.item.done":
			it, _ := e["item"].(map[string]any)
			id, _ := it["id"].(string)
			if !added[id] || itemDone[id] || it["role"] != "user" || it["status"] != "completed" {
				t.Errorf("conversation.item.done for %q (added %v, done before %v): %v", id, added[id], itemDone[id], e)
			}
			itemDone[id] = true
		case "conversation.item.input_audio_transcription.delta":
			if strings.Contains(sofar[item]+"\x00", "\x00") && sofar[item] == "" && strings.HasPrefix(e.str("delta"), " ") {
				t.Errorf("the first delta of %s begins with a space: %q", item, e.str("delta"))
			}
			sofar[item] += e.str("delta")
		case "conversation.item.input_audio_transcription.completed":
			if !committed[item] || !added[item] || ga && !itemDone[item] {
				t.Errorf("%s completed before it was committed, added to the conversation and done", item)
			}
			if tr := e.str("transcript"); tr != sofar[item] {
				t.Errorf("%s: deltas %q, transcript %q", item, sofar[item], tr)
			}
			if u, _ := e["usage"].(map[string]any); u["type"] != "duration" || u["seconds"].(float64) <= 0 {
				t.Errorf("%s: usage %v", item, e["usage"])
			}
			done = append(done, e)
		case "error", "conversation.item.input_audio_transcription.failed":
			t.Errorf("unexpected %v", e)
		}
	}
	return done
}

func TestManualCommit(t *testing.T) {
	engine := &pipelinetest.Engine{}
	srv, _ := server(t, engine, live.Config{})
	c := dial(t, srv.URL+"/v1/realtime?model=gpt-4o-transcribe", nil)
	c.next(wait)
	manual(t, c)
	pcm := pcm16(samples(t, audioFile("jfk.wav"))[:16000*3/2])
	c.stream(pcm, 3200, 32000, true) // 100 ms chunks, real time: the open turn is decoded as it grows
	c.send(map[string]any{"type": "input_audio_buffer.commit"})
	events := c.until("conversation.item.input_audio_transcription.completed", wait)
	done := checkTurns(t, events)
	if len(done) != 1 || done[0].str("transcript") != "Hello there. How are you?" {
		t.Fatalf("turns %v", done)
	}
	if u := done[0]["usage"].(map[string]any); u["seconds"] != 1.5 {
		t.Errorf("usage %v, want 1.5 s", u)
	}
	// The script says the same words whatever the audio, so two decodes
	// agree on all of them at once: one delta, before the commit.
	if n := engine.Calls(); n < 3 || events[0].typ() != "conversation.item.input_audio_transcription.delta" {
		t.Errorf("%d decodes, events %v: the open turn was not decoded as it grew", n, events)
	}

	// A second turn follows the first; clear drops what is not committed.
	c.append(pcm[:6400])
	c.send(map[string]any{"type": "input_audio_buffer.clear"})
	if e := c.until("input_audio_buffer.cleared", wait); len(e) == 0 {
		t.Fatal("no cleared")
	}
	c.append(pcm[:8000])
	c.send(map[string]any{"type": "input_audio_buffer.commit"})
	events = c.until("conversation.item.input_audio_transcription.completed", wait)
	var committed event
	for _, e := range events {
		if e.typ() == "input_audio_buffer.committed" {
			committed = e
		}
	}
	if committed["previous_item_id"] != done[0].str("item_id") {
		t.Errorf("second turn committed %v, previous item %s", committed, done[0].str("item_id"))
	}
	if u := events[len(events)-1]["usage"].(map[string]any); u["seconds"] != 0.25 {
		t.Errorf("second turn: usage %v, want 0.25 s (the cleared audio is gone)", u)
	}
}

func TestAgentTurns(t *testing.T) {
	srv, _ := server(t, &pipelinetest.Engine{Text: "Um, book a table for two. And, uh, send me the confirmation."}, live.Config{})
	c := dial(t, srv.URL+"/v1/realtime?model=whisper-1", nil)
	c.next(wait)
	c.send(map[string]any{"type": "session.update", "session": map[string]any{"type": "transcription", "earshot": map[string]any{"mode": "agent"},
		"audio": map[string]any{"input": map[string]any{"format": map[string]any{"type": "audio/pcm", "rate": 16000}, "turn_detection": nil}}}})
	if e := c.next(wait); e["session"].(map[string]any)["earshot"].(map[string]any)["mode"] != "agent" {
		t.Fatalf("session.updated %v", e)
	}
	c.append(pcm16(samples(t, audioFile("jfk.wav"))[:16000]))
	c.send(map[string]any{"type": "input_audio_buffer.commit"})
	c.until("conversation.item.input_audio_transcription.completed", wait)
	e := c.next(wait)
	if e.typ() != "earshot.turn.agent" || e.str("item_id") == "" {
		t.Fatalf("after completed: %v", e)
	}
	out, _ := e["output"].(map[string]any)
	b, _ := json.Marshal(out)
	if out["mode"] != "agent" || !strings.Contains(string(b), "Book a table") {
		t.Errorf("agent output %s", b)
	}
}

// A client that leaves mid-turn frees its worker: the decode running for
// it is cancelled.
func TestDisconnectCancelsDecode(t *testing.T) {
	engine := &pipelinetest.Engine{Block: true}
	srv, h := server(t, engine, live.Config{})
	c := dial(t, srv.URL+"/v1/realtime?intent=transcription", nil)
	c.next(wait)
	manual(t, c)
	c.append(pcm16(samples(t, audioFile("jfk.wav"))[:16000]))
	c.send(map[string]any{"type": "input_audio_buffer.commit"})
	deadline := time.Now().Add(wait)
	for engine.Running() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c.conn.CloseNow()
	for (engine.Running() > 0 || h.Sessions() > 0) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if engine.Running() != 0 || engine.Canceled() == 0 || h.Sessions() != 0 {
		t.Errorf("after the client left: %d running, %d cancelled, %d sessions", engine.Running(), engine.Canceled(), h.Sessions())
	}
}

func TestIdleSessionCloses(t *testing.T) {
	srv, _ := server(t, &pipelinetest.Engine{}, live.Config{IdleTimeout: 200 * time.Millisecond})
	c := dial(t, srv.URL+"/v1/realtime?intent=transcription", nil)
	c.next(wait)
	if e := c.next(wait); e.typ() != "error" || e.errField("code") != "session_idle" {
		t.Fatalf("idle: %v", e)
	}
	select {
	case <-c.done:
	case <-time.After(wait):
		t.Fatal("the idle session stayed open")
	}
}

func TestCloseEndsSessions(t *testing.T) {
	srv, h := server(t, &pipelinetest.Engine{}, live.Config{})
	c := dial(t, srv.URL+"/v1/realtime?intent=transcription", nil)
	c.next(wait)
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e := c.next(wait); e.typ() != "error" || e.errField("code") != "server_shutting_down" {
		t.Fatalf("on close: %v", e)
	}
}

// A client that sends but never reads is disconnected once its events
// have waited WriteTimeout, rather than piling up in memory.
func TestClientThatDoesNotReadIsClosed(t *testing.T) {
	srv, h := server(t, &pipelinetest.Engine{}, live.Config{WriteTimeout: 100 * time.Millisecond})
	conn, _, err := websocket.Dial(t.Context(), strings.Replace(srv.URL, "http", "ws", 1)+"/v1/realtime?intent=transcription", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	bad := []byte(`{"type":"nope","event_id":"` + strings.Repeat("x", 400) + `"}`) // each answered by an error event
	deadline := time.Now().Add(wait)
	for h.Sessions() > 0 && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		err := conn.Write(ctx, websocket.MessageText, bad)
		cancel()
		if err != nil {
			break
		}
	}
	for h.Sessions() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.Sessions(); n != 0 {
		t.Fatalf("%d sessions still open for a client that never reads", n)
	}
}

// semantic_vad waits longer after words that leave the sentence open.
func TestSemanticVADWaitsForOpenSentences(t *testing.T) {
	known := regions(t)[0][1]
	speech := samples(t, "testdata/turns.wav")[:int(known.Seconds()*16000)]
	for _, tc := range []struct {
		text     string
		min, max time.Duration // silence before the turn ends
	}{
		{"Book a table for two.", 200 * time.Millisecond, 700 * time.Millisecond},
		{"Book a table for two and", 1800 * time.Millisecond, 2400 * time.Millisecond},
	} {
		srv, _ := server(t, &pipelinetest.Engine{Text: tc.text}, live.Config{})
		c := dial(t, srv.URL+"/v1/realtime?model=gpt-4o-transcribe", nil)
		c.next(wait)
		c.send(map[string]any{"type": "session.update", "session": map[string]any{"type": "transcription", "audio": map[string]any{"input": map[string]any{
			"format":         map[string]any{"type": "audio/pcm", "rate": 16000},
			"turn_detection": map[string]any{"type": "semantic_vad", "eagerness": "high"},
		}}}})
		c.next(wait)
		pcm := pcm16(speech)
		c.stream(pcm, 3200, 32000, true) // real time: the turn is decoded while it is spoken
		c.stream(make([]byte, 32000*5/2), 3200, 32000, true)
		var stopped event
		for _, e := range c.until("input_audio_buffer.speech_stopped", wait) {
			stopped = e
		}
		silence := time.Duration(stopped.num("audio_end_ms"))*time.Millisecond - known
		if silence < tc.min || silence > tc.max {
			t.Errorf("%q: the turn ended after %s of silence, want %s..%s", tc.text, silence, tc.min, tc.max)
		}
	}
}

func TestSessionLimit(t *testing.T) {
	srv, _ := server(t, &pipelinetest.Engine{}, live.Config{MaxSessions: 1})
	c := dial(t, srv.URL+"/v1/realtime?intent=transcription", nil)
	c.next(wait)
	_, res, err := websocket.Dial(t.Context(), strings.Replace(srv.URL, "http", "ws", 1)+"/v1/realtime?intent=transcription", nil)
	if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a second session: %v %v", res, err)
	}
}

// heardTwice says one thing while a turn grows and, for the whole turn,
// hears its first words differently: a final decode that disagrees with
// the partials already sent.
type heardTwice struct{ full int }

func (e heardTwice) Transcribe(ctx context.Context, req transcribe.Request) (*transcribe.Result, error) {
	text := " Book a table for two."
	if len(req.Samples) >= e.full {
		text = " Cook a cable for two and call Tom."
	}
	d := float64(len(req.Samples)) / 16000
	return &transcribe.Result{Language: "en", LanguageProb: 1, Duration: d,
		Segments: []transcribe.Segment{{Start: 0, End: d, Text: text}}}, nil
}

// TestAgentTurnFollowsTheTranscript: a turn's agent output is made from
// its completed transcript, which keeps the words the partials gave, not
// from a final decode that heard them differently.
func TestAgentTurnFollowsTheTranscript(t *testing.T) {
	audio := samples(t, audioFile("jfk.wav"))[:3*16000]
	srv, _ := server(t, heardTwice{full: len(audio)}, live.Config{Step: 100 * time.Millisecond})
	c := dial(t, srv.URL+"/v1/realtime?model=whisper-1", nil)
	c.next(wait)
	c.send(map[string]any{"type": "session.update", "session": map[string]any{"type": "transcription", "earshot": map[string]any{"mode": "agent"},
		"audio": map[string]any{"input": map[string]any{"format": map[string]any{"type": "audio/pcm", "rate": 16000}, "turn_detection": nil}}}})
	c.next(wait)
	pcm := pcm16(audio)
	c.stream(pcm, 3200, 32000, true) // 100 ms chunks at real time: partials as it grows
	c.send(map[string]any{"type": "input_audio_buffer.commit"})
	events := c.until("conversation.item.input_audio_transcription.completed", wait)
	done := checkTurns(t, events)
	if len(done) != 1 || !strings.HasPrefix(done[0].str("transcript"), "Book a table for two.") {
		t.Fatalf("want one turn that keeps the partials' words, got %v", done)
	}
	e := c.next(wait)
	if e.typ() != "earshot.turn.agent" {
		t.Fatalf("after completed: %v", e)
	}
	b, _ := json.Marshal(e["output"])
	if !strings.Contains(string(b), "table") || strings.Contains(string(b), "cable") {
		t.Errorf("agent output %s does not follow the transcript %q", b, done[0].str("transcript"))
	}
}
