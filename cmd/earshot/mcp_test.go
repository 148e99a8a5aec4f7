package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// TestMain lets a test run this test binary as the earshot command: with
// EARSHOT_TEST_AS_MAIN=1 it is main, for tests that need a real process.
func TestMain(m *testing.M) {
	if os.Getenv("EARSHOT_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestMCPStdioProcess drives `earshot mcp` as Claude Desktop does: a child
// process speaking MCP on stdin/stdout, its logs on stderr.
func TestMCPStdioProcess(t *testing.T) {
	model := testModel(t)
	audioDir, err := filepath.Abs("../../testdata/audio")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "EARSHOT_TEST_AS_MAIN=1", "EARSHOT_HOME="+t.TempDir(), "EARSHOT_MODEL="+model)
	c, err := client.NewStdioMCPClient(os.Args[0], env, "mcp", "--allow-dir", audioDir, "--threads", "2")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var init mcpgo.InitializeRequest
	init.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcpgo.Implementation{Name: "earshot-test", Version: "1"}
	info, err := c.Initialize(t.Context(), init)
	if err != nil {
		t.Fatal(err)
	}
	if info.ServerInfo.Name != "earshot" {
		t.Errorf("server %q", info.ServerInfo.Name)
	}
	tools, err := c.ListTools(t.Context(), mcpgo.ListToolsRequest{})
	if err != nil || len(tools.Tools) != 2 {
		t.Fatalf("tools: %v %v", tools, err)
	}
	var req mcpgo.CallToolRequest
	req.Params.Name = "transcribe"
	req.Params.Arguments = map[string]any{"path": filepath.Join(audioDir, "jfk.wav"), "language": "en", "max_tokens": 2000}
	res, err := c.CallTool(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("transcribe: %v", res.Content)
	}
	b, _ := json.Marshal(res.StructuredContent)
	var doc struct {
		Mode         string  `json:"mode"`
		TranscriptID string  `json:"transcript_id"`
		Duration     float64 `json:"duration"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Mode != "agent" || doc.Duration != 11 || !strings.HasPrefix(doc.TranscriptID, "tr_") {
		t.Fatalf("structured content %s (%v)", b, err)
	}
	req.Params.Name = "get_transcript"
	req.Params.Arguments = map[string]any{"transcript_id": doc.TranscriptID, "mode": "raw", "max_tokens": 3000}
	if res, err := c.CallTool(t.Context(), req); err != nil || res.IsError {
		t.Fatalf("get_transcript: %v %v", err, res)
	}
	// A file outside --allow-dir is a tool error, not a protocol error.
	req.Params.Name = "transcribe"
	req.Params.Arguments = map[string]any{"path": "/etc/hostname"}
	if res, err := c.CallTool(t.Context(), req); err != nil || !res.IsError {
		t.Fatalf("outside path: %v %+v", err, res)
	}
}
