package cli

import (
	"context"
	"flag"

	"github.com/plinthml/plinth/demo"
)

func runDemo(ctx context.Context, e *Env, args []string) error {
	fs := flag.NewFlagSet("plinth demo", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	data := fs.String("data", "", "data directory (default: a new temporary directory)")
	addr := fs.String("addr", "127.0.0.1:7070", "address the demo's server listens on (a busy port falls back to a free one)")
	exit := fs.Bool("exit", false, "exit when done instead of serving until interrupted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	_, err := demo.Run(ctx, demo.Config{DataDir: *data, Addr: *addr, Exit: *exit, Out: e.Stdout})
	return err
}
