// Command strata-controller runs a Strata controller: a member of the Raft
// quorum that owns the cluster metadata.
//
//	strata-controller format --data-dir D --cluster-id CID --node-id 1 --controller-quorum-voters 1@127.0.0.1:9301,...
//	strata-controller run --config controller.properties
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "strata-controller:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Println("usage: strata-controller format|run [flags]")
		return nil
	}
	switch args[0] {
	case "format", "run":
		return fmt.Errorf("%s: not built yet", args[0])
	default:
		return fmt.Errorf("unknown command %q: use format or run", args[0])
	}
}
