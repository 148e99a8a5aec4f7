package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/earshot-dev/earshot/httpapi/openai"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcribe/whisper"
)

type transcribeConfig struct {
	model   string
	format  string
	threads int
	opts    transcribe.Options
	words   bool
	gpu     bool
	ffmpeg  string
}

func newTranscribeCmd(getenv func(string) string) *cobra.Command {
	var c transcribeConfig
	cmd := &cobra.Command{
		Use:   "transcribe [flags] FILE...",
		Short: "Transcribe audio files (or - for stdin) and print the result",
		Long: `Transcribe audio files and print each transcript on stdout, in the order given.
FILE may be - to read standard input. Errors go to stderr, one line per file,
and the exit status is 1 if any file failed.

Input: WAV, MP3 and FLAC are decoded in process; Ogg (Vorbis, Opus), WebM,
MP4/M4A, AAC and anything else ffmpeg reads go through ffmpeg when it is
installed. The format is read from the bytes, never the file name.

Formats are OpenAI's: json ({"text": ...}), text, srt, vtt and verbose_json
(segments, tokens, probabilities; words with --word-timestamps). With several
files, json and verbose_json print one JSON document per line.`,
		Example: `  earshot transcribe --model ggml-base.en.bin meeting.wav
  EARSHOT_MODEL=ggml-base.bin earshot transcribe --format srt --language de talk.wav
  arecord -f S16_LE -r 16000 -d 5 | earshot transcribe -`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("no audio file given (name one or more files, or - for standard input)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.model == "" {
				c.model = getenv("EARSHOT_MODEL")
			}
			path, _, err := resolveModel(cmd.Context(), modelStore(getenv, cmd.ErrOrStderr()), c.model, false)
			if err != nil {
				return err
			}
			c.model = path
			return runTranscribe(cmd.Context(), c, args, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&c.model, "model", "m", "", "model file or downloaded model name (default $EARSHOT_MODEL, else base)")
	f.StringVarP(&c.format, "format", "f", "text", "output format: "+strings.Join(openai.ResponseFormats, ", "))
	f.StringVarP(&c.opts.Language, "language", "l", "", "spoken language: a code (en), a name (english) or a tag (en-US) (default: detect)")
	f.BoolVar(&c.opts.Translate, "translate", false, "translate the speech to English")
	f.StringVar(&c.opts.Prompt, "prompt", "", "text to guide spelling and style")
	f.Float32Var(&c.opts.Temperature, "temperature", 0, "first decoding temperature, 0..1")
	f.BoolVar(&c.opts.NoFallback, "no-fallback", false, "do not retry unreliable windows at higher temperatures")
	f.IntVar(&c.opts.BeamSize, "beam-size", 0, "beam search width (0 or 1: greedy)")
	f.IntVar(&c.opts.BestOf, "best-of", 0, "candidates when sampling (default 5)")
	f.BoolVar(&c.words, "word-timestamps", false, "compute token and word timestamps")
	f.DurationVar(&c.opts.Offset, "offset", 0, "start this far into the audio, e.g. 1m30s")
	f.DurationVar(&c.opts.Duration, "duration", 0, "transcribe only this much audio (0: to the end)")
	f.IntVar(&c.opts.MaxSegmentLen, "max-len", 0, "maximum segment length in characters (0: no limit)")
	f.BoolVar(&c.opts.SplitOnWord, "split-on-word", false, "with --max-len, split between words")
	f.IntVarP(&c.threads, "threads", "t", min(4, runtime.NumCPU()), "threads")
	f.BoolVar(&c.gpu, "gpu", true, "use the GPU when earshot was built with one")
	f.StringVar(&c.ffmpeg, "ffmpeg", "", "ffmpeg binary for Ogg/Opus/WebM/MP4/AAC (default: ffmpeg on $PATH)")
	return cmd
}

func runTranscribe(ctx context.Context, c transcribeConfig, files []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if !slices.Contains(openai.ResponseFormats, c.format) {
		return fmt.Errorf("unknown --format %q (want one of %s)", c.format, strings.Join(openai.ResponseFormats, ", "))
	}
	c.opts.TokenTimestamps = c.words
	if err := c.opts.Validate(); err != nil {
		return err
	}
	if slices.Contains(files, "-") && len(files) > 1 {
		return errors.New("- (stdin) cannot be combined with other files")
	}
	engine, err := whisper.NewEngine(c.model, whisper.LoadOptions{GPU: c.gpu}, transcribe.EngineOptions{Threads: c.threads, Workers: 1})
	if err != nil {
		return err
	}
	defer engine.Close()
	dec := audio.Decoder{FFmpeg: ffmpegPath(c.ffmpeg)}

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	failed := 0
	for _, name := range files {
		warn := func(msg string) { fmt.Fprintf(stderr, "earshot: %s: warning: %s\n", name, msg) }
		if err := transcribeFile(ctx, engine, dec, c, name, stdin, out, warn); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			out.Flush()
			fmt.Fprintf(stderr, "earshot: %s: %v\n", name, err)
			failed++
			continue
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return exitError{fmt.Errorf("%d of %d files failed", failed, len(files))}
	}
	return nil
}

// ffmpegPath is the --ffmpeg flag, or ffmpeg on $PATH, or "" for none.
func ffmpegPath(flag string) string {
	if flag != "" {
		return flag
	}
	return audio.LookFFmpeg()
}

func transcribeFile(ctx context.Context, e *transcribe.Engine, dec audio.Decoder, c transcribeConfig, name string, stdin io.Reader, out io.Writer, warn func(string)) error {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return errors.Unwrap(err) // the *PathError's path is already in the message
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return errors.New("is a directory")
		}
		r = f
	}
	a, err := dec.Read(ctx, r)
	if err != nil {
		return err
	}
	if a.Warning != "" {
		warn(a.Warning)
	}
	res, err := e.Transcribe(ctx, transcribe.Request{Samples: a.Samples, Options: c.opts})
	if err != nil {
		return err
	}
	return openai.Write(out, res, c.format)
}
