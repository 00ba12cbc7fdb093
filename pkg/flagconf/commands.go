package flagconf

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Command is one subcommand of a daemon: format, run, ...
type Command func(args []string) error

// Dispatch runs the command named by args[0] with the rest of args. No
// command, -h, --help or help prints usage to stdout.
func Dispatch(args []string, usage string, stdout io.Writer, commands map[string]Command) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		names := make([]string, 0, len(commands))
		for n := range commands {
			names = append(names, n)
		}
		slices.Sort(names)
		return fmt.Errorf("unknown command %q: use %s", args[0], strings.Join(names, " or "))
	}
	return cmd(args[1:])
}

// Exit ends a daemon's main: nothing for a nil error or a -h request,
// otherwise "name: error" on stderr and exit status 1.
func Exit(name string, err error) {
	if err == nil {
		return
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, name+":", err)
	os.Exit(1)
}
