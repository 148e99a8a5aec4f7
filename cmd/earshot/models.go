package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
)

func newModelsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Manage whisper models",
	}
	cmd.AddCommand(newSynthCmd())
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
of whisper's tiny model (about 75 MB) and costs what tiny costs to run, for
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
