package mcp_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/earshot-dev/earshot/mcp"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcripts"
)

// FuzzToolArguments calls every tool with arbitrary arguments, as a
// client may send them: each call ends, in time, as a result (a tool
// error for bad arguments), never a panic or a protocol error.
func FuzzToolArguments(f *testing.F) {
	wav := base64.StdEncoding.EncodeToString(tone(0.5))
	f.Add(uint8(0), []byte(`{"audio_base64":"`+wav+`","mode":"agent","max_tokens":50}`))
	f.Add(uint8(0), []byte(`{"audio_base64":"AAAA","filename":"x.mp3","language":"zz","mode":"raw"}`))
	f.Add(uint8(0), []byte(`{"path":"/etc/passwd","audio_base64":"`+wav+`"}`))
	f.Add(uint8(0), []byte(`{"audio_base64":12,"mode":["agent"],"max_tokens":-1e308,"timestamps":"yes"}`))
	f.Add(uint8(1), []byte(`{"transcript_id":"tr_x","page":-1,"mode":"clean"}`))
	f.Add(uint8(1), []byte(`["not","an","object"]`))
	f.Add(uint8(0), []byte(`null`))
	// No ffmpeg: the fuzzer's bytes meet the built-in decoders only.
	pipe := pipeline.New(pipeline.Config{Engine: scripted(2), Decoder: audio.Decoder{}, Formatter: formatter, Transcripts: transcripts.New(time.Minute, 1<<20)})
	srv, err := mcp.New(mcp.Config{Pipeline: pipe, MaxFileBytes: 1 << 20, Version: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	tools := srv.Tools()
	f.Fuzz(func(t *testing.T, which uint8, args []byte) {
		tool := tools[int(which)%len(tools)]
		var req mcpgo.CallToolRequest
		req.Params.Name = tool.Tool.Name
		if err := json.Unmarshal(args, &req.Params.Arguments); err != nil {
			req.Params.Arguments = string(args)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := tool.Handler(ctx, req)
		if err != nil {
			t.Fatalf("%s: a protocol error for arguments %q: %v", tool.Tool.Name, args, err)
		}
		if res == nil {
			t.Fatalf("%s: no result for arguments %q", tool.Tool.Name, args)
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: the call outlasted 10 s for arguments %q", tool.Tool.Name, args)
		}
	})
}

// tone is seconds of a 440 Hz tone as a 16 kHz 16-bit mono WAV file.
func tone(seconds float64) []byte {
	n := int(seconds * 16000)
	b := make([]byte, 44+2*n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], 16000)
	binary.LittleEndian.PutUint32(b[28:], 32000)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/16000))
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	return b
}
