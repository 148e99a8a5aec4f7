package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/earshot-dev/earshot/models"
	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
)

// modelStore is the model cache: $EARSHOT_HOME/models, downloading from
// EARSHOT_MODEL_BASE_URL (default Hugging Face), with progress on stderr.
func modelStore(getenv func(string) string, stderr io.Writer) *models.Store {
	return &models.Store{
		Dir:      filepath.Join(dataDir(getenv), "models"),
		BaseURL:  getenv("EARSHOT_MODEL_BASE_URL"),
		Progress: progressPrinter(stderr),
	}
}

// resolveModel turns --model (a path, a model name, whisper-1, or empty for
// the default) into a file, pulling a missing named model when pull is set.
// It returns the path and the name the model is served under. When there is
// no model, the error says every way to get one, offline ways included.
func resolveModel(ctx context.Context, s *models.Store, model string, pull bool) (path, name string, err error) {
	if model == "" || model == "whisper-1" {
		model = models.DefaultModel
	}
	if st, err := os.Stat(model); err == nil && !st.IsDir() {
		return model, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(model), "ggml-"), ".bin"), nil
	}
	path, err = s.Resolve(model)
	if errors.Is(err, models.ErrNotCached) && pull {
		path, err = s.Pull(ctx, model)
	}
	return path, model, noModelHelp(err, model, s.BaseURL != "")
}

// helpError is an error whose text says what to do; it wraps the error it
// explains, so that the packages' sentinel errors still match.
type helpError struct {
	msg string
	err error
}

func (e *helpError) Error() string { return e.msg }
func (e *helpError) Unwrap() error { return e.err }

// noModelHelp rewrites a model that is not downloaded, or cannot be, into
// one sentence naming the three ways out: a model file, a mirror, and a
// synthetic model, which works on a machine with no network at all. mirror
// says whether EARSHOT_MODEL_BASE_URL is set: then the advice is to check
// it, not to set it. Other errors are returned as they are.
func noModelHelp(err error, name string, mirror bool) error {
	file := "ggml-" + name + ".bin"
	modelFile := fmt.Sprintf("a model file you have (--model /path/to/%s or EARSHOT_MODEL=/path/to/%s)", file, file)
	synth := fmt.Sprintf("a synthetic model, which needs no network (`%s models synth --out /tmp/synthetic.bin`, then use that file; its words are meaningless)", progName())
	var de *models.DownloadError
	switch {
	case errors.As(err, &de) && mirror:
		return &helpError{fmt.Sprintf("cannot download model %s from the mirror in EARSHOT_MODEL_BASE_URL (%s: %s): check that mirror, or use %s, or %s",
			name, de.URL, de.Reason(), modelFile, synth), err}
	case errors.As(err, &de):
		why := de.Reason()
		if de.Unreachable() {
			why += "; this machine may be offline"
		}
		return &helpError{fmt.Sprintf("cannot download model %s from %s (%s): use %s, a mirror that serves %s (EARSHOT_MODEL_BASE_URL=https://mirror.example/whisper), or %s",
			name, host(de.URL), why, modelFile, file, synth), err}
	case errors.Is(err, models.ErrNotCached):
		from := "from Hugging Face, or a mirror in EARSHOT_MODEL_BASE_URL"
		if mirror {
			from = "from the mirror in EARSHOT_MODEL_BASE_URL"
		}
		return &helpError{fmt.Sprintf("model %s is not downloaded: get it with `%s models pull %s` (%s), use %s, or %s",
			name, progName(), name, from, modelFile, synth), err}
	}
	return err
}

// host is the host of a URL, or the URL when it has none.
func host(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return u
}

// progName is how to run this earshot again: "earshot" when that is what
// $PATH finds, else the path it was started as (bin/earshot in a checkout,
// before `make install`), so that the commands it prints can be pasted.
func progName() string {
	p := os.Args[0]
	if !strings.ContainsRune(p, filepath.Separator) {
		return "earshot"
	}
	if found, err := exec.LookPath(filepath.Base(p)); err == nil {
		a, errA := os.Stat(found)
		b, errB := os.Stat(p)
		if errA == nil && errB == nil && os.SameFile(a, b) {
			return filepath.Base(p)
		}
	}
	return p
}

// progressPrinter draws a bar on a terminal and prints a line every few
// seconds otherwise (logs, CI).
func progressPrinter(w io.Writer) func(models.Progress) {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	var last time.Time
	bar := false // a progress bar is on the current line
	return func(p models.Progress) {
		switch {
		case p.RetryAfter != nil:
			if bar {
				fmt.Fprintln(w)
				bar = false
			}
			// Say "resuming" only when there is something to resume.
			if p.Done > 0 {
				fmt.Fprintf(w, "earshot: download of %s interrupted at %s (%v); resuming (attempt %d of %d)\n", p.Name, mb(p.Done), p.RetryAfter, p.Attempt+1, p.Attempts)
			} else {
				fmt.Fprintf(w, "earshot: download of %s failed (%v); trying again (attempt %d of %d)\n", p.Name, p.RetryAfter, p.Attempt+1, p.Attempts)
			}
			return
		case p.Verifying:
			fmt.Fprintf(w, "earshot: verifying %s\n", p.Name)
			return
		}
		pct := ""
		if p.Total > 0 {
			pct = fmt.Sprintf("%3.0f%% ", 100*float64(p.Done)/float64(p.Total))
		}
		line := fmt.Sprintf("pulling %s: %s%s / %s, %s/s", p.Name, pct, mb(p.Done), mb(p.Total), mb(int64(p.BytesPerS)))
		switch {
		case tty:
			meter := ""
			if p.Total > 0 {
				n := int(30 * p.Done / p.Total)
				meter = "[" + strings.Repeat("=", n) + strings.Repeat(" ", 30-n) + "] "
			}
			fmt.Fprintf(w, "\r%s%s   ", meter, line)
			bar = !p.Finished
			if p.Finished {
				fmt.Fprintln(w)
			}
		case p.Finished || time.Since(last) > 5*time.Second:
			last = time.Now()
			fmt.Fprintln(w, "earshot: "+line)
		}
	}
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func newModelsCmd(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Download, list and remove whisper models",
		Long: `Models are whisper.cpp's ggml files, named as whisper.cpp names them (tiny, base.en,
large-v3-turbo-q5_0, ...). They are downloaded from
https://huggingface.co/ggerganov/whisper.cpp (or EARSHOT_MODEL_BASE_URL, a mirror
serving the same ggml-NAME.bin files) into $EARSHOT_HOME/models (default
~/.local/share/earshot/models), checked against the SHA-1 whisper.cpp publishes and
for structure, and resumed if the connection breaks.`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List known models and which are downloaded",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s := modelStore(getenv, cmd.ErrOrStderr())
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSIZE\tLANGUAGES\tWEIGHTS\tCHECKSUM\tDOWNLOADED")
			for _, i := range models.Catalog {
				langs := "99 languages"
				if i.English() {
					langs = "English"
				}
				check := "sha1"
				if i.SHA1 == "" {
					check = "none published"
				}
				cached := ""
				if s.Cached(i.Name) {
					cached = "yes"
				}
				def := ""
				if i.Name == models.DefaultModel {
					def = " (default)"
				}
				fmt.Fprintf(tw, "%s%s\t~%d MiB\t%s\t%s\t%s\t%s\n", i.Name, def, i.MiB, langs, i.Quantization(), check, cached)
			}
			vad := "no (make build converts it)"
			if s.VADCached() {
				vad = "yes"
			}
			fmt.Fprintf(tw, "%s (VAD)\t~%d MiB\tspeech detection\tf16/f32\tsha512 (npm)\t%s\n", models.VAD.Name, models.VAD.MiB, vad)
			return tw.Flush()
		},
	}
	pull := &cobra.Command{
		Use:   "pull NAME",
		Short: "Download a model (resumes an interrupted download)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := modelStore(getenv, cmd.ErrOrStderr())
			p, err := s.Pull(cmd.Context(), args[0])
			if err != nil {
				return noModelHelp(err, args[0], s.BaseURL != "")
			}
			fmt.Fprintln(cmd.OutOrStdout(), p)
			return nil
		},
	}
	path := &cobra.Command{
		Use:   "path NAME",
		Short: "Print the file of a downloaded model",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := modelStore(getenv, cmd.ErrOrStderr()).Resolve(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), p)
			return nil
		},
	}
	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Delete a downloaded model",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return modelStore(getenv, cmd.ErrOrStderr()).Remove(args[0])
		},
	}
	cmd.AddCommand(list, pull, path, rm, newSynthCmd(), newVADCmd(getenv))
	return cmd
}

func newSynthCmd() *cobra.Command {
	var (
		out  string
		size string
		seed uint64
	)
	cmd := &cobra.Command{
		Use:   "synth --out PATH [--size test|tiny] [--seed N]",
		Short: "Write a synthetic model with random weights (for tests and benchmarks only)",
		Long: `Write a synthetic whisper model: a valid ggml whisper file with random weights.

It PRODUCES MEANINGLESS WORDS. It exists so that tests and benchmarks can run
the whole pipeline (loading, encoding, decoding, timestamps, concurrency) on
machines that cannot download real weights. Never use it to transcribe.

Sizes: "test" is a few MB and fast, for unit tests; "tiny" has the dimensions
of whisper's tiny model (about 78 MB) and costs what tiny costs to run, for
benchmarks. The same size and seed always give the same file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := ggml.SizeByName(size)
			if err != nil {
				return err
			}
			if err := ggml.SynthesizeFile(out, s, seed); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote synthetic %s model (random weights, meaningless output) to %s\n", size, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "", "file to write (required)")
	f.StringVar(&size, "size", "test", "model dimensions: test or tiny")
	f.Uint64Var(&seed, "seed", 1, "random seed")
	cmd.MarkFlagRequired("out")
	return cmd
}

func newVADCmd(getenv func(string) string) *cobra.Command {
	var onnx string
	cmd := &cobra.Command{
		Use:   "vad [--onnx FILE]",
		Short: "Print the Silero VAD model's file, or install it from Silero's ONNX file",
		Long: `The VAD model (Silero VAD, MIT) finds speech so that whisper never sees silence.
Its weights are the ONNX file silero_vad_v5.onnx from the npm package
@ricky0123/vad-web@0.0.31, which scripts/silero-vad.sh fetches and checks;
` + "`make build`" + ` runs "earshot models vad --onnx FILE" with it, which converts it to
whisper.cpp's ggml VAD format as $EARSHOT_HOME/models/ggml-silero-v5.bin.
Without --onnx this prints that file's path, or fails if it is not there
(earshot then falls back to an energy-based VAD and says so).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s := modelStore(getenv, cmd.ErrOrStderr())
			if onnx != "" {
				p, err := s.InstallVAD(onnx)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), p)
				return nil
			}
			if !s.VADCached() {
				return fmt.Errorf("%w: the VAD model %s (run `make build`, or `earshot models vad --onnx \"$(scripts/silero-vad.sh)\"`)",
					models.ErrNotCached, s.VADPath())
			}
			fmt.Fprintln(cmd.OutOrStdout(), s.VADPath())
			return nil
		},
	}
	cmd.Flags().StringVar(&onnx, "onnx", "", "Silero VAD v5 ONNX file to convert and install")
	return cmd
}
