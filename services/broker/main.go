// Command strata-broker runs a Strata broker: it stores partitions and
// serves producers, consumers and follower replicas.
//
//	strata-broker format --data-dir D --cluster-id CID --node-id 101
//	strata-broker run --config broker.properties
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "strata-broker:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Println("usage: strata-broker format|run [flags]")
		return nil
	}
	switch args[0] {
	case "format", "run":
		return fmt.Errorf("%s: not built yet", args[0])
	default:
		return fmt.Errorf("unknown command %q: use format or run", args[0])
	}
}
