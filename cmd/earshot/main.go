// Command earshot is private speech-to-text for AI agents: it transcribes
// audio on this machine with whisper.cpp.
//
// main parses flags and the environment once, owns signals, and wires the
// packages together; the work happens in transcribe, transcribe/audio and
// transcribe/whisper.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdin, os.Stdout, os.Stderr, os.Getenv).ExecuteContext(ctx)
	stop()
	if err != nil {
		var quiet exitError
		if !errors.As(err, &quiet) {
			fmt.Fprintln(os.Stderr, "earshot:", err)
		}
		os.Exit(1)
	}
}

// exitError is a failure already reported on stderr.
type exitError struct{ error }

func newRoot(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   "earshot",
		Short: "Private speech-to-text for AI agents",
		Long: `earshot turns audio into text on this machine with whisper.cpp: audio never
leaves it. It transcribes files from the command line, shapes transcripts for
agents (earshot format), serves an OpenAI-compatible HTTP API to agents and
apps, and is an MCP tool server for Claude and other MCP clients (earshot mcp;
earshot serve at /mcp).

The model is a ggml whisper file or a model name (base, small.en, ...), given
with --model or EARSHOT_MODEL; 'earshot models' downloads and lists them.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newServeCmd(getenv),
		newTranscribeCmd(getenv),
		newFormatCmd(),
		newMCPCmd(getenv),
		newKeysCmd(getenv),
		newModelsCmd(getenv),
	)
	// Usage is silenced for errors of the work itself; a command line that
	// is wrong (arguments, flags) still gets the command's usage line.
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(c, err) })
	withUsageOnArgErrors(root)
	return root
}

// usageError ends err with cmd's usage line and where its flags are listed.
func usageError(cmd *cobra.Command, err error) error {
	return fmt.Errorf("%w\nusage: %s  (%s --help lists the flags)", err, cmd.UseLine(), cmd.CommandPath())
}

// withUsageOnArgErrors makes the argument check of cmd and of every command
// under it report its usage line along with what was wrong.
func withUsageOnArgErrors(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		withUsageOnArgErrors(c)
	}
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError(c, err)
			}
			return nil
		}
	}
}

// dataDir is where earshot keeps its keys (and models): $EARSHOT_HOME, else
// ${XDG_DATA_HOME:-~/.local/share}/earshot.
func dataDir(getenv func(string) string) string {
	if d := getenv("EARSHOT_HOME"); d != "" {
		return d
	}
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "earshot")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".local", "share", "earshot")
}
