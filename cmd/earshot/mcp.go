package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/earshot-dev/earshot/mcp"
	"github.com/earshot-dev/earshot/models"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/whisper"
	"github.com/earshot-dev/earshot/transcripts"
)

type mcpConfig struct {
	home      string
	model     string
	noPull    bool
	threads   int
	threadsT  int
	workers   int
	maxMemory string
	ffmpeg    string
	gpu       bool
	allowDirs []string
	maxFile   string
	storeTTL  time.Duration
	storeMax  string
	noVAD     bool
}

// engineFlags are the engine's shape flags, shared by mcp and serve.
func engineFlags(cmd *cobra.Command, threads, total, workers *int, maxMemory *string) {
	f := cmd.Flags()
	f.IntVarP(threads, "threads", "t", 0, "threads per request (0: chosen per request from the load, within --threads-total)")
	f.IntVar(total, "threads-total", runtime.NumCPU(), "threads all requests share at once")
	f.IntVar(workers, "workers", 0, "most requests transcribed at once, one whisper state each (default --threads-total, or threads-total/threads with --threads)")
	f.StringVar(maxMemory, "max-memory", "", "memory for whisper states, e.g. 1GiB: bounds the states by their measured cost (default: no bound)")
}

// parseMemory reads --max-memory: "" is no bound.
func parseMemory(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := parseSize(s)
	if err != nil {
		return 0, fmt.Errorf("--max-memory: %w", err)
	}
	return n, nil
}

// threadsLabel is how the logs name a thread setting.
func threadsLabel(n int) string {
	if n == 0 {
		return "adaptive"
	}
	return strconv.Itoa(n)
}

// storeFlags are the transcript store's flags, shared by mcp and serve.
func storeFlags(cmd *cobra.Command, ttl *time.Duration, max *string) {
	cmd.Flags().DurationVar(ttl, "transcript-ttl", transcripts.DefaultTTL, "how long a transcript stays readable by get_transcript after its last use")
	cmd.Flags().StringVar(max, "transcript-memory", "256MiB", "memory for stored transcripts; the least recently used go first")
}

func newMCPCmd(getenv func(string) string) *cobra.Command {
	var c mcpConfig
	cmd := &cobra.Command{
		Use:   "mcp [flags]",
		Short: "Serve the MCP tool server on stdin/stdout (for Claude Desktop, Claude Code and other MCP clients)",
		Long: `Serve earshot's MCP tools over stdio: the client starts this command and talks
MCP on its stdin and stdout; logs go to stderr.

Tools: transcribe (a file path or base64 audio -> agent, clean or raw JSON
within max_tokens, with progress notifications) and get_transcript (page
through a stored transcript); resources transcript://{id}.

transcribe reads files only inside the --allow-dir directories (default: your
home directory), after resolving symlinks; devices and FIFOs are refused.
The model (--model, EARSHOT_MODEL, else base) is loaded while the client
starts up; a first call waits for it.`,
		Example: `  claude mcp add earshot -- earshot mcp
  earshot mcp --model small.en --allow-dir ~/Recordings --allow-dir /srv/calls`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.model == "" {
				c.model = getenv("EARSHOT_MODEL")
			}
			c.home = getenv("HOME")
			if !cmd.Flags().Changed("allow-dir") && c.home != "" {
				c.allowDirs = []string{c.home}
			}
			return runMCP(cmd.Context(), c, modelStore(getenv, cmd.ErrOrStderr()), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&c.model, "model", "m", "", "model file or name, pulled if missing (default $EARSHOT_MODEL, else "+models.DefaultModel+")")
	f.BoolVar(&c.noPull, "no-pull", false, "fail instead of downloading a missing model")
	engineFlags(cmd, &c.threads, &c.threadsT, &c.workers, &c.maxMemory)
	f.StringVar(&c.ffmpeg, "ffmpeg", "", "ffmpeg binary for Ogg/Opus/WebM/MP4/AAC (default: ffmpeg on $PATH)")
	f.BoolVar(&c.gpu, "gpu", true, "use the GPU when earshot was built with one")
	f.StringArrayVar(&c.allowDirs, "allow-dir", nil, "directory transcribe may read files in (repeatable; default: your home directory)")
	f.StringVar(&c.maxFile, "max-file", "1GiB", "largest audio file or base64 payload")
	storeFlags(cmd, &c.storeTTL, &c.storeMax)
	f.BoolVar(&c.noVAD, "no-vad", false, "let whisper hear all of the audio: no voice activity detection before it")
	return cmd
}

func runMCP(ctx context.Context, c mcpConfig, store *models.Store, stdin io.Reader, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	maxFile, err := parseSize(c.maxFile)
	if err != nil {
		return fmt.Errorf("--max-file: %w", err)
	}
	storeMax, err := parseSize(c.storeMax)
	if err != nil {
		return fmt.Errorf("--transcript-memory: %w", err)
	}
	// Load the model while the client starts up; calls wait for it.
	loadCtx, cancelLoad := context.WithCancel(ctx)
	eng := &lazyEngine{done: make(chan struct{})}
	go func() {
		defer close(eng.done)
		path, name, err := resolveModel(loadCtx, store, c.model, !c.noPull)
		var maxMemory int64
		if err == nil {
			maxMemory, err = parseMemory(c.maxMemory)
		}
		if err == nil {
			eng.engine, err = whisper.NewEngine(path, whisper.LoadOptions{GPU: c.gpu}, transcribe.EngineOptions{
				Threads: c.threads, ThreadsTotal: c.threadsT, Workers: c.workers, MaxMemory: maxMemory,
			})
		}
		if err != nil {
			eng.err = modelUnavailable(err)
			log.Error("model not loaded", "error", err)
			return
		}
		log.Info("model loaded", "model", name, "threads", threadsLabel(c.threads), "threads_total", eng.engine.Options().ThreadsTotal,
			"states_max", eng.engine.MaxStates(), "state_mb", eng.engine.StateBytes()>>20)
	}()
	defer func() {
		cancelLoad()
		<-eng.done
		if eng.engine != nil {
			eng.engine.Close()
		}
	}()

	vad, closeVAD := loadVAD(store, c.noVAD, c.gpu, log)
	defer closeVAD()
	pipe, err := newPipeline(pipelineConfig{
		vad:      vad,
		parallel: c.workers,
		engine:   eng,
		ffmpeg:   ffmpegPath(c.ffmpeg),
		maxBytes: maxFile,
		store:    transcripts.New(c.storeTTL, storeMax),
		log:      log,
	})
	if err != nil {
		return err
	}
	srv, err := mcp.New(mcp.Config{
		Pipeline:     pipe,
		AllowDirs:    c.allowDirs,
		Home:         c.home,
		MaxFileBytes: maxFile,
		Version:      version,
		Logger:       log,
	})
	if err != nil {
		return err
	}
	log.Info("earshot MCP server on stdio", "allow_dirs", c.allowDirs)
	err = srv.ServeStdio(ctx, stdin, stdout, stderr)
	if ctx.Err() != nil {
		return nil // a signal: a normal end
	}
	return err
}
