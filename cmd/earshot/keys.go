package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/earshot-dev/earshot/store"
)

// keyStoreConfig is how a command finds the key store: --store, else
// $EARSHOT_STORE, else SQLite in the data dir; the pepper from
// --pepper-file, else $EARSHOT_KEY_PEPPER, else (SQLite only) the data dir's
// key-pepper file, made on first use.
type keyStoreConfig struct {
	dsn           string
	pepperFile    string
	oldPepperFile string
}

func keyStoreFlags(cmd *cobra.Command, c *keyStoreConfig) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&c.dsn, "store", "", "key, limit and usage store: postgres://... or a SQLite file (default $EARSHOT_STORE, else $EARSHOT_HOME/earshot.db)")
	fs.StringVar(&c.pepperFile, "pepper-file", "", "file holding the key pepper, the same on every replica (default $EARSHOT_KEY_PEPPER, else $EARSHOT_HOME/key-pepper for SQLite)")
	fs.StringVar(&c.oldPepperFile, "old-pepper-file", "", "file holding the pepper being rotated out (default $EARSHOT_KEY_PEPPER_OLD): keys under it keep working and move to the new pepper as they are used")
}

// oldPepper is the pepper being rotated out, if any.
func oldPepper(file string, getenv func(string) string) ([][]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--old-pepper-file: %w", err)
		}
		p, err := checkPepper(b, file)
		return [][]byte{p}, err
	}
	if p := getenv("EARSHOT_KEY_PEPPER_OLD"); p != "" {
		b, err := checkPepper([]byte(p), "$EARSHOT_KEY_PEPPER_OLD")
		return [][]byte{b}, err
	}
	return nil, nil
}

// openKeyStore opens the store and imports the data dir's keys.json (the
// key file of earlier earshots) the first time; the file is not written.
func openKeyStore(ctx context.Context, c keyStoreConfig, getenv func(string) string, stderr io.Writer) (*store.DB, error) {
	home := dataDir(getenv)
	dsn := c.dsn
	if dsn == "" {
		dsn = getenv("EARSHOT_STORE")
	}
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(home, "earshot.db")
	}
	kind, _, err := store.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	pepper, err := keyPepper(c.pepperFile, getenv, filepath.Join(home, "key-pepper"), kind == "sqlite")
	if err != nil {
		return nil, err
	}
	old, err := oldPepper(c.oldPepperFile, getenv)
	if err != nil {
		return nil, err
	}
	s, err := store.Open(ctx, dsn, store.Options{Pepper: pepper, OldPeppers: old})
	if errors.Is(err, store.ErrPepperMismatch) {
		return nil, fmt.Errorf("%w: every earshot on one store needs the same pepper ($EARSHOT_KEY_PEPPER or --pepper-file)", err)
	}
	if err != nil {
		return nil, err
	}
	legacy := filepath.Join(home, "keys.json")
	n, err := s.ImportKeysFile(ctx, legacy, actor(getenv))
	if err != nil {
		s.Close()
		return nil, err
	}
	if n > 0 {
		fmt.Fprintf(stderr, "earshot: imported %d keys from %s into the store; that file is no longer read\n", n, legacy)
	}
	return s, nil
}

// keyPepper reads the pepper; mayCreate makes def (32 random bytes, hex,
// mode 0600) when there is none, which suits one machine but not replicas,
// which must share one.
func keyPepper(file string, getenv func(string) string, def string, mayCreate bool) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--pepper-file: %w", err)
		}
		return checkPepper(b, file)
	}
	if p := getenv("EARSHOT_KEY_PEPPER"); p != "" {
		return checkPepper([]byte(p), "$EARSHOT_KEY_PEPPER")
	}
	b, err := os.ReadFile(def)
	if err == nil {
		return checkPepper(b, def)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if !mayCreate {
		return nil, errors.New("a PostgreSQL store needs a key pepper shared by every replica: set $EARSHOT_KEY_PEPPER or --pepper-file (at least 16 random bytes, e.g. from 'openssl rand -hex 32')")
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	p := []byte(hex.EncodeToString(raw[:]) + "\n")
	if err := os.MkdirAll(filepath.Dir(def), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(def, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // made meanwhile by another earshot
		return keyPepper("", getenv, def, false)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(p); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return checkPepper(p, def)
}

func checkPepper(b []byte, where string) ([]byte, error) {
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) < 16 {
		return nil, fmt.Errorf("the key pepper in %s is shorter than 16 bytes", where)
	}
	return b, nil
}

// actor names who manages keys from the command line, for the audit log.
func actor(getenv func(string) string) string {
	if u := getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

// parseMaxUpload is --max-upload of a key: a size such as 25MiB, at least a
// byte.
func parseMaxUpload(s string) (int64, error) {
	n, err := parseSize(s)
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, fmt.Errorf("%q is not a size such as 25MiB", s)
	}
	return n, nil
}

// parseDay reads a UTC date (2006-01-02).
func parseDay(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date such as 2026-01-31", s)
	}
	return t, nil
}

func limitText(n int64, unit string) string {
	if n <= 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10) + unit
}

// sizeText writes a byte count as --max-upload takes it: 25MiB, 1500000.
func sizeText(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return limitText(n, "")
}

func scopesText(sc []store.Scope) string {
	parts := make([]string, len(sc))
	for i, s := range sc {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

func newKeysCmd(getenv func(string) string) *cobra.Command {
	var sc keyStoreConfig
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage API keys, their limits and usage",
		Long: `Manage the API keys that earshot serve accepts, their limits, and see what
they used. Keys live in the store: a SQLite file, $EARSHOT_HOME/earshot.db
(default ~/.local/share/earshot), or a PostgreSQL database shared by several
earshot replicas (--store postgres://... or $EARSHOT_STORE). The store keeps
only a peppered hash of each key; a key is shown once, when it is created.
The pepper is --pepper-file, or $EARSHOT_KEY_PEPPER, or for SQLite a file
made on first use, $EARSHOT_HOME/key-pepper; replicas must share it.

Keys from an earlier earshot's $EARSHOT_HOME/keys.json are imported the first
time the store is opened, and keep working; the file is then no longer read.`,
	}
	keyStoreFlags(cmd, &sc)
	withStore := func(cmd *cobra.Command, f func(context.Context, *store.DB) error) error {
		s, err := openKeyStore(cmd.Context(), sc, getenv, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		defer s.Close()
		return f(cmd.Context(), s)
	}

	var (
		name           string
		scopes         []string
		rpm, conc      int
		maxUpload      string
		monthlyMinutes int64
	)
	create := &cobra.Command{
		Use:   "create --name NAME [--scope transcribe|admin] [--rpm N] [--concurrency N] [--max-upload SIZE] [--monthly-minutes N]",
		Short: "Create a key and print it (the only time it is shown)",
		Example: `  earshot keys create --name laptop
  earshot keys create --name ci --rpm 60 --concurrency 2 --max-upload 25MiB --monthly-minutes 6000
  earshot keys create --name ops --scope admin --scope transcribe`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nk := store.NewKey{Name: name, Actor: actor(getenv), Limits: store.Limits{RPM: rpm, Concurrency: conc}}
			for _, s := range scopes {
				sc, err := store.ParseScope(s)
				if err != nil {
					return fmt.Errorf("--scope: %w", err)
				}
				nk.Scopes = append(nk.Scopes, sc)
			}
			if rpm < 0 || conc < 0 || monthlyMinutes < 0 {
				return errors.New("--rpm, --concurrency and --monthly-minutes cannot be negative (0 is no limit)")
			}
			if monthlyMinutes > 1<<40 {
				return fmt.Errorf("--monthly-minutes %d is too large", monthlyMinutes)
			}
			nk.Limits.MonthlyAudioSeconds = monthlyMinutes * 60
			if maxUpload != "" {
				n, err := parseMaxUpload(maxUpload)
				if err != nil {
					return fmt.Errorf("--max-upload: %w", err)
				}
				nk.Limits.MaxUpload = n
			}
			var secret string
			var k store.Key
			err := withStore(cmd, func(ctx context.Context, s *store.DB) (err error) {
				secret, k, err = s.CreateKey(ctx, nk)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			l := k.Limits
			fmt.Fprintf(cmd.ErrOrStderr(), "created key %q (%s, scopes %s; rpm %s, concurrency %s, max upload %s, monthly minutes %s); it is not shown again\n",
				k.Name, k.ID, scopesText(k.Scopes), limitText(int64(l.RPM), ""), limitText(int64(l.Concurrency), ""),
				sizeText(l.MaxUpload), limitText(l.MonthlyAudioSeconds/60, ""))
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&name, "name", "", "what the key is for (required)")
	f.StringArrayVar(&scopes, "scope", nil, "what the key may do: transcribe or admin (repeatable; default transcribe)")
	f.IntVar(&rpm, "rpm", 0, "requests per minute, across every replica (0: no limit)")
	f.IntVar(&conc, "concurrency", 0, "requests and live sessions at once (0: no limit)")
	f.StringVar(&maxUpload, "max-upload", "", "largest upload for this key, e.g. 25MiB (default: the server's --max-upload)")
	f.Int64Var(&monthlyMinutes, "monthly-minutes", 0, "minutes of audio per calendar month, UTC (0: no limit)")
	create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keys and their limits (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ks []store.Key
			err := withStore(cmd, func(ctx context.Context, s *store.DB) (err error) {
				ks, err = s.Keys(ctx)
				return err
			})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tSCOPES\tRPM\tCONCURRENCY\tMAX UPLOAD\tMONTHLY MIN\tCREATED\tSTATUS")
			for _, k := range ks {
				status := "active"
				switch {
				case !k.Active():
					status = "revoked " + k.Revoked.Format(time.DateTime)
				case k.OldPepper:
					status = "active, old pepper" // not used since the pepper changed
				}
				l := k.Limits
				fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.ID, scopesText(k.Scopes),
					limitText(int64(l.RPM), ""), limitText(int64(l.Concurrency), ""), sizeText(l.MaxUpload),
					limitText(l.MonthlyAudioSeconds/60, ""), k.Created.Format(time.DateTime), status)
			}
			return tw.Flush()
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke ID|NAME",
		Short: "Revoke a key; requests with it get 401 from then on, on every replica",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var k store.Key
			err := withStore(cmd, func(ctx context.Context, s *store.DB) (err error) {
				k, err = s.RevokeKey(ctx, strings.TrimSuffix(args[0], "…"), actor(getenv))
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "revoked key %q (%s)\n", k.Name, k.ID)
			return nil
		},
	}

	var since, until, keyName string
	usage := &cobra.Command{
		Use:   "usage [--since DATE] [--until DATE] [--key ID|NAME]",
		Short: "Requests, audio and processing time per key and day (UTC)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now().UTC()
			q := store.UsageQuery{From: time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC), To: now}
			var err error
			if since != "" {
				if q.From, err = parseDay(since); err != nil {
					return fmt.Errorf("--since: %w", err)
				}
			}
			if until != "" {
				if q.To, err = parseDay(until); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			names := map[string]string{}
			var days []store.DayUsage
			err = withStore(cmd, func(ctx context.Context, s *store.DB) error {
				ks, err := s.Keys(ctx)
				if err != nil {
					return err
				}
				for _, k := range ks {
					names[k.ID] = k.Name
					if keyName != "" && (k.ID == keyName || (k.Name == keyName && k.Active())) {
						q.KeyID = k.ID
					}
				}
				if keyName != "" && q.KeyID == "" {
					return fmt.Errorf("%w: %q", store.ErrNotFound, keyName)
				}
				days, err = s.Usage(ctx, q)
				return err
			})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "DAY\tKEY\tNAME\tREQUESTS\tAUDIO MIN\tPROCESSING S\t")
			var total store.DayUsage
			for _, d := range days {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1f\t%.1f\t\n", d.Day.Format(time.DateOnly), d.KeyID, names[d.KeyID],
					d.Requests, d.AudioSeconds/60, d.ProcessingSeconds)
				total.Requests += d.Requests
				total.AudioSeconds += d.AudioSeconds
				total.ProcessingSeconds += d.ProcessingSeconds
			}
			fmt.Fprintf(tw, "%s..%s\t\tTOTAL\t%d\t%.1f\t%.1f\t\n", q.From.Format(time.DateOnly), q.To.Format(time.DateOnly),
				total.Requests, total.AudioSeconds/60, total.ProcessingSeconds)
			return tw.Flush()
		},
	}
	usage.Flags().StringVar(&since, "since", "", "first day, YYYY-MM-DD (default: the first of this month)")
	usage.Flags().StringVar(&until, "until", "", "last day, YYYY-MM-DD (default: today)")
	usage.Flags().StringVar(&keyName, "key", "", "one key only, by ID or name")

	var auditSince string
	audit := &cobra.Command{
		Use:   "audit [--since DATE]",
		Short: "The log of keys created, revoked and imported: who and when",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var from time.Time
			if auditSince != "" {
				var err error
				if from, err = parseDay(auditSince); err != nil {
					return fmt.Errorf("--since: %w", err)
				}
			}
			var entries []store.AuditEntry
			err := withStore(cmd, func(ctx context.Context, s *store.DB) (err error) {
				entries, err = s.Audit(ctx, from)
				return err
			})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tKEY\tNAME\tDETAIL")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Format(time.DateTime), e.Actor, e.Action, e.KeyID, e.KeyName, e.Detail)
			}
			return tw.Flush()
		},
	}
	audit.Flags().StringVar(&auditSince, "since", "", "first day, YYYY-MM-DD")

	cmd.AddCommand(create, list, revoke, usage, audit)
	return cmd
}
