// Package cli is the `strata` command line: a tree of commands parsed with
// the standard flag package, as Kafka users know them (kafka-topics,
// kafka-configs, kafka-metadata-quorum, kafka-storage), on pkg/client.
//
// Each command lives in its own file: its flags, what it does, and its
// output as a pure function of client types (tested against
// testdata/*.golden). Main runs a command line and returns the exit code:
// 0 when it worked, 1 when the operation failed, 2 for a usage error. Errors
// are one line on stderr, "strata: ...".
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// Env is what a command line runs against; tests fill it with buffers and
// a fake admin client.
type Env struct {
	// Stdin is what produce reads; nil reads nothing.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// LookupEnv reads environment variables (os.LookupEnv).
	LookupEnv func(string) (string, bool)
	// NewAdmin makes the admin client; nil means pkg/client's.
	NewAdmin func(AdminConfig) (Admin, error)
}

// Main runs the command line args (without the program name) and returns
// the exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.LookupEnv == nil {
		env.LookupEnv = func(string) (string, bool) { return "", false }
	}
	if env.NewAdmin == nil {
		env.NewAdmin = newClientAdmin
	}
	s := &session{env: env, conn: connFlags{timeout: DefaultTimeout}}
	defer s.close()
	err := s.dispatch(ctx, rootCommand(), nil, args)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintln(env.Stderr, "strata: "+oneLine(ue.Error()))
		return ExitUsage
	default:
		fmt.Fprintln(env.Stderr, "strata: "+oneLine(err.Error()))
		return ExitFailed
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// command is a node of the command tree: a group with subcommands, or a
// leaf that runs.
type command struct {
	name string
	// summary is one line for the parent's list of commands.
	summary string
	// synopsis is the usage line(s) after "usage: ".
	synopsis string
	// help is the text after the synopsis: what the command does and
	// prints.
	help string
	subs []*command
	// setup registers a leaf's flags and returns the function that runs it
	// once the flags are parsed.
	setup func(fs *flag.FlagSet, s *session) func(context.Context) error
	// admin says whether the command talks to the cluster (and so takes
	// the connection flags).
	admin bool
	// planned marks a command of the design that is not built yet.
	planned bool
}

func (c *command) sub(name string) *command {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// takesConn reports whether the command, or a command under it, talks to
// the cluster, and so takes the connection flags.
func (c *command) takesConn() bool {
	if c.admin {
		return true
	}
	for _, s := range c.subs {
		if s.takesConn() {
			return true
		}
	}
	return false
}

// errHelpShown ends a run after --help printed the usage: exit 0.
var errHelpShown = errors.New("help shown")

// usageError is a wrong command line: exit 2.
type usageError struct {
	path []string
	msg  string
}

func (e *usageError) Error() string {
	if len(e.path) == 0 {
		return e.msg + " (see 'strata --help')"
	}
	cmd := strings.Join(e.path, " ")
	return fmt.Sprintf("%s: %s (see 'strata %s --help')", cmd, e.msg, cmd)
}

func usagef(path []string, format string, args ...any) error {
	return &usageError{path: slices.Clone(path), msg: fmt.Sprintf(format, args...)}
}

// session is one run of Main: the environment, the connection flags and
// the admin client once made.
type session struct {
	env    Env
	conn   connFlags
	client Admin
	path   []string // the command being run, for usage errors
}

func (s *session) close() {
	if s.client != nil {
		_ = s.client.Close()
	}
}

func (s *session) stdout() io.Writer { return s.env.Stdout }

// usage is a usage error of the running command.
func (s *session) usage(format string, args ...any) error { return usagef(s.path, format, args...) }

// admin returns the admin client, making it on first use from the
// connection flags or the environment.
func (s *session) admin() (Admin, error) {
	if s.client != nil {
		return s.client, nil
	}
	cfg, err := s.conn.config(s.env.LookupEnv)
	if err != nil {
		return nil, s.usage("%v", err)
	}
	a, err := s.env.NewAdmin(cfg)
	if err != nil {
		return nil, err
	}
	s.client = a
	return a, nil
}

// dispatch parses args for cmd (whose words so far are path) and runs it,
// or descends to the subcommand the first argument names.
func (s *session) dispatch(ctx context.Context, cmd *command, path []string, args []string) error {
	s.path = path
	fs := flag.NewFlagSet("strata "+strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if cmd.takesConn() {
		s.conn.register(fs)
	}
	var run func(context.Context) error
	if cmd.setup != nil {
		run = cmd.setup(fs, s)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeHelp(s.stdout(), cmd, path, fs)
			return errHelpShown
		}
		return usagef(path, "%v", err)
	}
	rest := fs.Args()
	if cmd.subs != nil {
		if len(rest) == 0 {
			return usagef(path, "missing command: one of %s", strings.Join(names(cmd.subs), ", "))
		}
		if rest[0] == "help" {
			return s.help(cmd, path, rest[1:])
		}
		sub := cmd.sub(rest[0])
		if sub == nil {
			return usagef(path, "unknown command %q: one of %s", rest[0], strings.Join(names(cmd.subs), ", "))
		}
		if sub.planned {
			return fmt.Errorf("%s: not built yet", strings.Join(append(slices.Clone(path), sub.name), " "))
		}
		return s.dispatch(ctx, sub, append(slices.Clone(path), sub.name), rest[1:])
	}
	if len(rest) > 0 {
		return usagef(path, "unexpected argument %q", rest[0])
	}
	return run(ctx)
}

// help prints the help of the command that words name under cmd, as
// "strata help topics create".
func (s *session) help(cmd *command, path, words []string) error {
	for _, w := range words {
		sub := cmd.sub(w)
		if sub == nil {
			return usagef(path, "unknown command %q: one of %s", w, strings.Join(names(cmd.subs), ", "))
		}
		cmd, path = sub, append(slices.Clone(path), w)
	}
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	if cmd.takesConn() {
		c := connFlags{timeout: DefaultTimeout}
		c.register(fs)
	}
	if cmd.setup != nil {
		cmd.setup(fs, s)
	}
	writeHelp(s.stdout(), cmd, path, fs)
	return errHelpShown
}

func names(cmds []*command) []string {
	var out []string
	for _, c := range cmds {
		if !c.planned {
			out = append(out, c.name)
		}
	}
	return out
}

// writeHelp prints a command's usage: synopsis, description, subcommands,
// its own flags, then the connection flags.
func writeHelp(w io.Writer, cmd *command, path []string, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n", cmd.synopsis)
	if cmd.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(cmd.help, "\n"))
	}
	if len(cmd.subs) > 0 {
		fmt.Fprintln(w, "\ncommands:")
		width := 0
		for _, c := range cmd.subs {
			width = max(width, len(c.name))
		}
		for _, c := range cmd.subs {
			fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
		}
	}
	var own, conn []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if isConnFlag(f.Name) {
			conn = append(conn, f)
		} else {
			own = append(own, f)
		}
	})
	writeFlags(w, "flags", own)
	writeFlags(w, "connection flags (before or after the command)", conn)
	if len(cmd.subs) > 0 {
		where := strings.Join(append([]string{"strata"}, path...), " ")
		fmt.Fprintf(w, "\nRun '%s <command> --help' for a command's flags.\n", where)
	}
	if len(path) == 0 {
		fmt.Fprintln(w, "\nExit status: 0 when the command worked, 1 when the operation failed, 2 for a usage error.")
	}
}

func writeFlags(w io.Writer, title string, flags []*flag.Flag) {
	if len(flags) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	type row struct{ left, usage string }
	var rows []row
	width := 0
	for _, f := range flags {
		arg, usage := flag.UnquoteUsage(f)
		// Usages start with their backquoted argument name, shown on
		// the left only.
		usage = strings.TrimPrefix(usage, arg+" ")
		left := "--" + f.Name
		if isBool(f) {
			arg = ""
		}
		if arg != "" {
			left += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			usage += " (default " + f.DefValue + ")"
		}
		rows = append(rows, row{left, usage})
		width = max(width, len(left))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r.left, r.usage)
	}
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// rootCommand is the whole command tree.
func rootCommand() *command {
	return &command{
		synopsis: "strata [--bootstrap-server HOST:PORT[,...] | --bootstrap-controller HOST:PORT[,...]] <command> [flags]",
		help: `Strata's command-line tool. Its commands and output follow Kafka's tools
(kafka-topics, kafka-configs, kafka-metadata-quorum, kafka-storage).`,
		subs: []*command{
			topicsCommand(),
			configsCommand(),
			clusterCommand(),
			quorumCommand(),
			storageCommand(),
			produceCommand(),
			consumeCommand(),
			groupsCommand(),
			devCommand(),
			benchCommand(),
		},
	}
}

// group is a command with subcommands.
func group(name, summary string, subs ...*command) *command {
	return &command{
		name: name, summary: summary, subs: subs,
		synopsis: "strata " + name + " <command> [flags]",
		help:     strings.ToUpper(summary[:1]) + summary[1:] + ".",
	}
}

// firstError is the request's error, or else the first per-resource
// failure of its results.
func firstError[T interface{ FirstError() error }](res T, err error) error {
	if err != nil {
		return err
	}
	return res.FirstError()
}
