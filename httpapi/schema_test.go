package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
)

// openAISchemas compiles the schemas of OpenAI's OpenAPI description that
// earshot's answers must match (a copy in openai/testdata, MIT licence).
func openAISchemas(t *testing.T) func(name string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("openai/testdata/openai-schemas.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("openai.json", doc); err != nil {
		t.Fatal(err)
	}
	return func(name string) *jsonschema.Schema {
		s, err := c.Compile("openai.json#/components/schemas/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func matches(t *testing.T, schema *jsonschema.Schema, what string, body []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: not JSON: %q", what, body)
	}
	if err := schema.Validate(v); err != nil {
		t.Errorf("%s does not match OpenAI's schema: %v\n%s", what, err, body)
	}
}

// Every answer validates against OpenAI's published schemas.
func TestResponsesMatchOpenAISchemas(t *testing.T) {
	schema := openAISchemas(t)
	f := scripted(t, &pipelinetest.Engine{}, 0)
	jfk := testdata(t, "jfk.wav")
	read := func(resp *http.Response) []byte {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return b
	}
	for _, tc := range []struct {
		name   string
		path   string
		fields map[string]string
		schema string
	}{
		{"json", "/v1/audio/transcriptions", nil, "CreateTranscriptionResponseJson"},
		{"json with logprobs and languages", "/v1/audio/transcriptions", map[string]string{"include[]": "logprobs", "languages[]": "en"}, "CreateTranscriptionResponseJson"},
		{"verbose_json with words", "/v1/audio/transcriptions", map[string]string{"response_format": "verbose_json", "timestamp_granularities[]": "word"}, "CreateTranscriptionResponseVerboseJson"},
		{"translation json", "/v1/audio/translations", nil, "CreateTranslationResponseJson"},
		{"translation verbose_json", "/v1/audio/translations", map[string]string{"response_format": "verbose_json"}, "CreateTranslationResponseVerboseJson"},
		{"error", "/v1/audio/transcriptions", map[string]string{"temperature": "7"}, "ErrorResponse"},
	} {
		matches(t, schema(tc.schema), tc.name, read(f.post(t, tc.path, jfk, tc.fields)))
	}

	resp := f.post(t, "/v1/audio/transcriptions", jfk, map[string]string{"stream": "true", "include[]": "logprobs"})
	sc := bufio.NewScanner(resp.Body)
	var n int
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct{ Type string }
		json.Unmarshal([]byte(line), &ev)
		switch ev.Type {
		case "transcript.text.delta":
			matches(t, schema("TranscriptTextDeltaEvent"), "delta event", []byte(line))
		case "transcript.text.done":
			matches(t, schema("TranscriptTextDoneEvent"), "done event", []byte(line))
		default:
			t.Errorf("unexpected event %s", line)
		}
		n++
	}
	resp.Body.Close()
	if n != 3 {
		t.Errorf("%d events, want two deltas and done", n)
	}

	req, _ := http.NewRequest("GET", f.url+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+f.key)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	matches(t, schema("ListModelsResponse"), "models", read(r))
}
