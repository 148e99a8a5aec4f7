package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/agentmode/tokens"
	"github.com/earshot-dev/earshot/transcribe"
)

type formatConfig struct {
	mode   string
	opts   agentmode.Options
	jsonl  bool
	schema bool
}

// maxFormatInput bounds what format reads from stdin (a whole transcript;
// in --jsonl mode, one line).
const maxFormatInput = 64 << 20

func newFormatCmd() *cobra.Command {
	var c formatConfig
	cmd := &cobra.Command{
		Use:   "format [flags] < transcript",
		Short: "Shape a transcript for an agent: clean text, or agent JSON with intents",
		Long: `Read a transcript on stdin and print it shaped for whoever reads it, as JSON:

  clean  readable: fillers (um, uh), repetitions and stutters out, paragraphs
  agent  for an LLM: clean, self-repairs resolved ("book the, no wait, cancel
         the meeting" -> "Cancel the meeting."), split into intents (command,
         question, statement) with times and confidence
  raw    whisper's own output (needs a transcription JSON, not text)

The input is plain text, or a transcription as JSON: earshot's (earshot
transcribe --format verbose_json, /v1/transcriptions mode=raw) or OpenAI's
verbose_json; then intents and removals carry times and probabilities.

Every output states its size in tokens ("tokens": {"encoding", "count"}).
With --max-tokens the JSON never exceeds that many tokens: the removed list
goes first, then word detail, then whole intents from the end; the output
then says "truncated": true and "next": a cursor to pass to --cursor for the
following page.

With --jsonl each input line is {"id": ..., "text": ...} and each output line
is the formatted JSON with the same "id" first (its token count is of the
document without the id); a line that fails gives {"id": ..., "error": ...}.

--schema prints the JSON Schema of the output and exits.`,
		Example: `  echo "um, book the, no wait, cancel the meeting" | earshot format
  earshot transcribe -f verbose_json --word-timestamps call.wav | earshot format --max-tokens 2000
  earshot format --jsonl --mode clean < utterances.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.schema {
				_, err := cmd.OutOrStdout().Write(append(agentmode.Schema(), '\n'))
				return err
			}
			mode, err := agentmode.ParseMode(c.mode)
			if err != nil {
				return err
			}
			c.opts.Mode = mode
			f, err := agentmode.New()
			if err != nil {
				return err
			}
			if _, err := f.Encoding(c.opts.Encoding); err != nil {
				return err
			}
			if c.jsonl {
				return formatLines(f, c.opts, cmd.InOrStdin(), cmd.OutOrStdout())
			}
			in, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxFormatInput+1))
			if err != nil {
				return err
			}
			if len(in) > maxFormatInput {
				return fmt.Errorf("the transcript on stdin is larger than %d MiB", maxFormatInput>>20)
			}
			out, err := formatOne(f, c.opts, in)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(append(out.JSON, '\n'))
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&c.mode, "mode", "agent", "clean, agent or raw")
	fl.IntVar(&c.opts.MaxTokens, "max-tokens", 0, "largest output in tokens (0: no limit)")
	fl.Float64Var(&c.opts.MinConfidence, "min-confidence", 0, "agent mode: the confidence an edit or split must reach, 0..1 (0: the default, 0.5); higher keeps more words")
	fl.StringVar(&c.opts.Encoding, "encoding", tokens.Default, "tokenizer to count with: "+strings.Join(tokens.Names, ", "))
	fl.StringVar(&c.opts.Cursor, "cursor", "", "continue a truncated output: its \"next\"")
	fl.StringVarP(&c.opts.Language, "language", "l", "", "language of plain-text input (default en; a transcription says its own)")
	fl.BoolVar(&c.opts.Words, "words", false, "include each word with its time and probability")
	fl.BoolVar(&c.jsonl, "jsonl", false, `read {"id","text"} lines, write one output per line`)
	fl.BoolVar(&c.schema, "schema", false, "print the output's JSON Schema and exit")
	return cmd
}

// formatOne formats a transcription JSON, or else the input as text.
func formatOne(f *agentmode.Formatter, opts agentmode.Options, in []byte) (*agentmode.Output, error) {
	if t := bytes.TrimSpace(in); len(t) > 0 && t[0] == '{' {
		res, err := transcribe.DecodeJSON(t)
		if err == nil {
			return f.Format(res, opts)
		}
		// {"text": ...}: OpenAI's json format, and --jsonl's lines.
		var doc struct {
			Text *string `json:"text"`
		}
		if json.Unmarshal(t, &doc) == nil && doc.Text != nil {
			return f.FormatText(*doc.Text, opts)
		}
		if !errors.Is(err, transcribe.ErrNotTranscript) {
			return nil, err
		}
	}
	return f.FormatText(string(in), opts)
}

// formatLines formats {"id","text"} lines.
func formatLines(f *agentmode.Formatter, opts agentmode.Options, stdin io.Reader, stdout io.Writer) error {
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 64<<10), maxFormatInput)
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	failed, n := 0, 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		n++
		var in struct {
			ID   json.RawMessage `json:"id"`
			Text *string         `json:"text"`
		}
		err := json.Unmarshal(line, &in)
		if err == nil && in.Text == nil {
			err = errors.New(`the line has no "text"`)
		}
		if len(in.ID) == 0 {
			in.ID = json.RawMessage("null")
		}
		var out *agentmode.Output
		if err == nil {
			out, err = f.FormatText(*in.Text, opts)
		}
		if err != nil {
			failed++
			msg, _ := json.Marshal(fmt.Sprintf("line %d: %v", n, err))
			fmt.Fprintf(w, "{\"id\":%s,\"error\":%s}\n", in.ID, msg)
			continue
		}
		w.WriteString(`{"id":`)
		w.Write(in.ID)
		w.WriteByte(',')
		w.Write(out.JSON[1:])
		w.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if failed > 0 {
		w.Flush()
		return fmt.Errorf("%d of %d lines failed (see their \"error\")", failed, n)
	}
	return nil
}
