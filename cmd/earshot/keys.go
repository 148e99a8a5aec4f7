package main

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/earshot-dev/earshot/keys"
)

func newKeysCmd(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage API keys for earshot serve",
		Long: `Manage the API keys that earshot serve accepts. Keys are stored hashed in
$EARSHOT_HOME/keys.json (default ~/.local/share/earshot); a key is shown once,
when it is created. A running server sees new and revoked keys at once.`,
	}
	open := func() (*keys.Store, error) {
		return keys.Open(filepath.Join(dataDir(getenv), "keys.json"))
	}
	var name string
	create := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Create a key and print it (the only time it is shown)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			key, _, err := s.Create(name)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), key)
			fmt.Fprintf(cmd.ErrOrStderr(), "created key %q; it is not shown again\n", name)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the key is for (required)")
	create.MarkFlagRequired("name")
	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tCREATED\tSTATUS")
			for _, k := range s.List() {
				status := "active"
				if k.Revoked != nil {
					status = "revoked " + k.Revoked.Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\n", k.Name, k.ID, k.Created.Format(time.DateTime), status)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke NAME|ID",
		Short: "Revoke a key; requests with it get 401 from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			k, err := s.Revoke(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "revoked key %q (%s…)\n", k.Name, k.ID)
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
