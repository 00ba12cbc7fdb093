// Command strata is Strata's command-line tool: administration, console
// producer and consumer, a local development cluster and benchmarks.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "strata:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Println("usage: strata [--bootstrap-server HOST:PORT] topics|produce|consume|groups|cluster|quorum|storage|dev|bench ...")
		return nil
	}
	return fmt.Errorf("%s: not built yet", args[0])
}
