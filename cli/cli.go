// Package cli is plinth's command line. Every verb but server and demo is a
// client of the HTTP API: against a running server (--url or PLINTH_URL) or,
// with --data, against a data directory opened in-process through the same
// API handler, so both paths behave identically.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/server"
)

// Env is what a command runs with: its streams and environment. Tests give
// their own.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, e *Env, args []string) error
}

func commands() []command {
	return []command{
		{"server", "--data DIR --addr HOST:PORT", "serve the API", runServer},
		{"worker", "--data DIR --queue URL", "run pipeline steps taken from the work queue", runWorker},
		{"demo", "[--data DIR] [--addr HOST:PORT] [--exit]", "run the platform end to end on real data", runDemo},
		{"experiments", "[list | create NAME]", "list or create experiments", runExperiments},
		{"runs", "[list | show | start | log | end | note | metric | compare | upload | download]", "track runs", runRuns},
		{"models", "[list | show | versions | register | alias | unalias | approve | reject | delete-version | card | audit]", "the model registry", runModels},
		{"export", "MODEL@VERSION [-o FILE]", "write a model version as a bundle for embedded inference in Go", runExport},
		{"model", "[train | predict | evaluate | explain | import | info]", "work with model files directly, no server needed", runModel},
		{"datasets", "[list | spec | ingest | push | versions | quarantines | inspect | replay]", "ingest and version data, with validation and quarantine", runDatasets},
		{"endpoints", "[list | deploy | promote | rollback | history | shadow | predict | trace]", "serve model versions behind named endpoints", runEndpoints},
		{"monitor", "[report | check | alerts | skew | silence]", "drift, data quality, performance and alerts of served traffic", runMonitor},
		{"pipelines", "[list | plan | run | rerun | runs | show | approve | cancel]", "run pipelines: cached, resumable DAGs of steps", runPipelines},
		{"plan", "[-f plinth.yaml] [--prune]", "show how the project file differs from the registry", runPlan(false)},
		{"apply", "[-f plinth.yaml] [--prune]", "register the project file", runPlan(true)},
		{"features", "[list | training-set | range | materialize | get]", "feature definitions and point-in-time training sets", runFeatures},
		{"tokens", "[list | create NAME --role ROLE | revoke NAME]", "API tokens: who may call a server with access control, as what", runTokens},
		{"audit", "[--principal NAME] [--since 24h]", "who changed what, across models, endpoints, pipelines, definitions and tokens", runAudit},
	}
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, e *Env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.Stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, e, args[1:])
			if err == nil {
				return 0
			}
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			fmt.Fprintf(e.Stderr, "plinth %s: %s\n", c.name, describe(err))
			var ue usageError
			if errors.As(err, &ue) {
				return 2
			}
			return 1
		}
	}
	fmt.Fprintf(e.Stderr, "plinth: unknown command %q\n\n", args[0])
	usage(e.Stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "plinth: a production machine-learning platform in one binary.")
	fmt.Fprintln(w, "\nUsage: plinth COMMAND [ARGS]\n\nCommands:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nClient commands reach a server with --url URL (or PLINTH_URL), or open a data")
	fmt.Fprintln(w, "directory directly with --data DIR (or PLINTH_DATA). A server started with --auth")
	fmt.Fprintln(w, "wants a token: --token (or PLINTH_TOKEN). Listings take --output json.")
	fmt.Fprintln(w, "Run 'plinth COMMAND SUBCOMMAND -h' for a command's flags.")
}

// usageError marks a mistake in how the command was called.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// describe renders an error for a person: API errors show their field.
func describe(err error) string {
	var pe *plinth.Error
	if errors.As(err, &pe) {
		if pe.Field != "" {
			return fmt.Sprintf("%s: %s (%s)", pe.Field, pe.Message, pe.Code)
		}
		return fmt.Sprintf("%s (%s)", pe.Message, pe.Code)
	}
	return err.Error()
}

// flags is a flag set with the connection and output flags every client
// command shares.
type flags struct {
	*flag.FlagSet
	url, data, output, token string
}

func newFlags(e *Env, name string) *flags {
	f := &flags{FlagSet: flag.NewFlagSet("plinth "+name, flag.ContinueOnError)}
	f.SetOutput(e.Stderr)
	f.StringVar(&f.url, "url", e.Getenv("PLINTH_URL"), "server URL (default $PLINTH_URL)")
	f.StringVar(&f.data, "data", e.Getenv("PLINTH_DATA"), "data directory to open directly (default $PLINTH_DATA)")
	f.StringVar(&f.output, "output", "table", "output format: table or json")
	f.StringVar(&f.token, "token", e.Getenv("PLINTH_TOKEN"), "API token for a server with access control (default $PLINTH_TOKEN)")
	return f
}

// parse parses flags anywhere among the arguments (Go's flag package stops
// at the first positional one) and returns the positional arguments.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			return nil, err
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if f.output != "table" && f.output != "json" {
		return nil, usagef("--output must be table or json, have %q", f.output)
	}
	return pos, nil
}

// connect returns a client for the server or data directory the flags name,
// and a function that releases it.
func (f *flags) connect(ctx context.Context) (*client.Client, func(), error) {
	switch {
	case f.url != "":
		c, err := client.New(f.url)
		if err == nil && f.token != "" {
			c = c.WithToken(f.token)
		}
		return c, func() {}, err
	case f.data != "":
		n, err := server.Open(ctx, server.Config{DataDir: f.data, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return nil, nil, err
		}
		return client.Local(n.Handler()), func() { n.Close() }, nil
	}
	return nil, nil, usagef("no server or data directory: give --url URL (or set PLINTH_URL) or --data DIR (or set PLINTH_DATA)")
}

// emit writes v as JSON, or calls table to write it for a person.
func (f *flags) emit(e *Env, v any, table func(w *tabwriter.Writer)) error {
	if f.output == "json" {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// kvFlag collects repeated key=value flags.
type kvFlag map[string]string

func (k kvFlag) String() string {
	var parts []string
	for key, v := range k {
		parts = append(parts, key+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (k kvFlag) Set(s string) error {
	key, v, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return fmt.Errorf("want key=value, have %q", s)
	}
	k[key] = v
	return nil
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// arity returns a check that a subcommand of command got exactly n
// positional arguments, failing with its usage line.
func arity(pos []string, command string) func(n int, usage string) error {
	return func(n int, usage string) error {
		if len(pos) != n {
			return usagef("usage: plinth %s %s", command, usage)
		}
		return nil
	}
}

// subcommand splits off the subcommand, defaulting to def when the first
// argument is absent or a flag.
func subcommand(args []string, def string) (string, []string) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return def, args
	}
	return args[0], args[1:]
}

// DefaultEnv is the process's own streams and environment.
func DefaultEnv() *Env {
	return &Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}
