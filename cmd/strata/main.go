// Command strata is Strata's command-line tool: administration (topics,
// configs, cluster, quorum, storage) and a local development cluster
// (dev), the console producer and consumer (produce, consume) and the
// benchmarks (bench). See internal/cli, or run "strata --help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/strata-log/strata/cmd/strata/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, LookupEnv: os.LookupEnv})
	stop()
	os.Exit(code)
}
