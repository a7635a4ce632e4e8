// Command plinth is the production machine-learning platform in one binary.
// It only wires the process to the cli package: signals, streams, exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/plinthml/plinth/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.DefaultEnv())
	stop()
	os.Exit(code)
}
