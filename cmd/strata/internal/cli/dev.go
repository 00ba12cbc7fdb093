package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/metaprops"
)

// Defaults and limits of strata dev.
const (
	DefaultDevDataDir      = ".strata/dev"
	DefaultDevControllers  = 3
	DefaultDevBasePort     = 9200
	DefaultDevStartTimeout = time.Minute
	DefaultDevStopTimeout  = 20 * time.Second
	// MaxDevControllers keeps the controllers' gRPC ports (base+1 ...)
	// below base+10, which stays free for the brokers.
	MaxDevControllers = 9
	// devRaftOffset separates a controller's Raft port from its gRPC
	// port.
	devRaftOffset = 100
	// devControllerBinary is the controller daemon's executable.
	devControllerBinary = "strata-controller"
	// devClusterIDFile holds the dev cluster's id in its data dir.
	devClusterIDFile = "cluster.id"
	// devFormatTimeout bounds one "<daemon> format".
	devFormatTimeout = 30 * time.Second
	// devPollInterval is the pause between two readiness checks.
	devPollInterval = 100 * time.Millisecond
	// devDescribeTimeout bounds one readiness check, retries included.
	devDescribeTimeout = 5 * time.Second
)

func devCommand() *command {
	return &command{
		name: "dev", summary: "run a local cluster: 3 controllers (brokers: not built yet)",
		synopsis: "strata dev [--data-dir DIR] [--controllers N] [--base-port PORT] [flags]",
		help: `Run a local development cluster until Ctrl-C or SIGTERM: the controllers
(3 by default) as strata-controller processes on 127.0.0.1. The brokers
will join it once the broker daemon is built. Once every controller has
registered and an active controller is elected, it prints the cluster id,
the bootstrap addresses and commands to try.

Ports, from --base-port B (the defaults in brackets):

  controller N   gRPC B+N [9201, 9202, 9203]   Raft B+100+N [9301, 9302, 9303]

They must be free: strata dev checks them first and stops if one is taken.

The first run formats DIR for a new cluster; later runs reuse its data
(run with the same --controllers and --base-port, or remove DIR to start
afresh). DIR holds:

  cluster.id              the cluster id, made on the first run
  controller-N/           controller N's data
  logs/controller-N.log   controller N's output, rewritten at each run

The daemons come from --bin-dir, else from the directory of this strata
executable, else from PATH. They get only the flags strata dev gives them
(and --controller-arg): STRATA_* environment variables are not passed on.
Each runs in its own process group, so Ctrl-C reaches strata dev alone.

On Ctrl-C, SIGTERM or SIGHUP it sends SIGTERM to every daemon, kills those
still running after --stop-timeout (a second Ctrl-C kills them at once),
and exits 0 once all stopped cleanly. When a daemon exits by itself, it
names it and its log, stops the others and exits 1.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			o := devOptions{
				dataDir: DefaultDevDataDir, controllers: DefaultDevControllers, basePort: DefaultDevBasePort,
				logLevel: "info", logFormat: "text", startTimeout: DefaultDevStartTimeout, stopTimeout: DefaultDevStopTimeout,
			}
			o.register(fs)
			return func(ctx context.Context) error {
				if err := o.validate(); err != nil {
					return s.usage("%v", err)
				}
				return runDev(ctx, s.stdout(), s.env.NewAdmin, o)
			}
		},
	}
}

// devOptions are strata dev's flags.
type devOptions struct {
	dataDir        string
	controllers    int
	basePort       int
	binDir         string
	logLevel       string
	logFormat      string
	controllerArgs listFlag
	startTimeout   time.Duration
	stopTimeout    time.Duration
}

func (o *devOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.dataDir, "data-dir", o.dataDir, "`DIR` the cluster's data, kept across runs")
	fs.IntVar(&o.controllers, "controllers", o.controllers, "`N` how many controllers (1 to "+strconv.Itoa(MaxDevControllers)+"; odd counts tolerate the most failures)")
	fs.IntVar(&o.basePort, "base-port", o.basePort, "`PORT` the ports are numbered from it (see above)")
	fs.StringVar(&o.binDir, "bin-dir", "", "`DIR` where to find "+devControllerBinary+" (default: next to strata, else on PATH)")
	fs.StringVar(&o.logLevel, "log-level", o.logLevel, "`LEVEL` the daemons' log level: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", o.logFormat, "`FORMAT` the daemons' log format: text or json")
	fs.Var(&o.controllerArgs, "controller-arg", "`ARG` one more argument for every strata-controller run, as --controller-arg=--broker-session-timeout-ms=10000 (repeatable)")
	fs.DurationVar(&o.startTimeout, "start-timeout", o.startTimeout, "`DURATION` how long to wait for the cluster to be ready")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", o.stopTimeout, "`DURATION` how long the daemons may take to stop before they are killed")
}

func (o *devOptions) validate() error {
	switch {
	case strings.TrimSpace(o.dataDir) == "":
		return errors.New("--data-dir must not be empty")
	case o.controllers < 1 || o.controllers > MaxDevControllers:
		return fmt.Errorf("--controllers must be between 1 and %d, not %d", MaxDevControllers, o.controllers)
	case o.basePort < 1 || o.basePort+devRaftOffset+o.controllers > 65535:
		return fmt.Errorf("--base-port must be between 1 and %d, not %d", 65535-devRaftOffset-o.controllers, o.basePort)
	case o.startTimeout <= 0:
		return fmt.Errorf("--start-timeout must be positive, not %v", o.startTimeout)
	case o.stopTimeout <= 0:
		return fmt.Errorf("--stop-timeout must be positive, not %v", o.stopTimeout)
	}
	switch strings.ToLower(o.logLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", o.logLevel)
	}
	switch strings.ToLower(o.logFormat) {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q: use text or json", o.logFormat)
	}
	return nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// devNode is one daemon of the dev cluster: what runs, where, and on which
// addresses. Brokers will be nodes too: role broker, started once the
// controllers are ready and stopped before them (they need the active
// controller for their controlled shutdown).
type devNode struct {
	role    string // metaprops.RoleController (metaprops.RoleBroker later)
	id      int32
	bin     string
	dataDir string
	logPath string
	// formatArgs format a new data dir: "<bin> formatArgs...".
	formatArgs []string
	// runArgs run the daemon: "<bin> runArgs...".
	runArgs []string
	// props is what the data dir must be formatted for.
	props metaprops.Props
	// addrs are the addresses the daemon binds, checked free before the
	// start; the first is where clients connect.
	addrs []devAddr
}

// devAddr is an address a node listens on, and what for.
type devAddr struct {
	addr string
	what string // "gRPC", "Raft"
}

func (n *devNode) name() string { return fmt.Sprintf("%s %d", n.role, n.id) }

func (n *devNode) clientAddr() string { return n.addrs[0].addr }

// devLoopback is where every node of the dev cluster listens.
const devLoopback = "127.0.0.1"

func devAddress(port int) string { return net.JoinHostPort(devLoopback, strconv.Itoa(port)) }

// devControllers lays out the controllers: controller i (from 1) serves
// gRPC on base+i and Raft on base+100+i, keeps its data in
// DIR/controller-i and its output in DIR/logs/controller-i.log.
func devControllers(o devOptions, bin, clusterID string) []*devNode {
	voters := make(map[int32]string, o.controllers)
	for i := 1; i <= o.controllers; i++ {
		voters[int32(i)] = devAddress(o.basePort + devRaftOffset + i)
	}
	votersFlag := metaprops.FormatVoters(voters)
	var nodes []*devNode
	for i := 1; i <= o.controllers; i++ {
		id := strconv.Itoa(i)
		n := &devNode{
			role: metaprops.RoleController, id: int32(i), bin: bin,
			dataDir: filepath.Join(o.dataDir, "controller-"+id),
			logPath: filepath.Join(o.dataDir, "logs", "controller-"+id+".log"),
			props:   metaprops.Props{ClusterID: clusterID, NodeID: int32(i), Role: metaprops.RoleController, Voters: voters},
			addrs:   []devAddr{{devAddress(o.basePort + i), "gRPC"}, {voters[int32(i)], "Raft"}},
		}
		n.formatArgs = []string{"format", "--data-dir", n.dataDir, "--cluster-id", clusterID, "--node-id", id,
			"--controller-quorum-voters", votersFlag}
		n.runArgs = append([]string{"run", "--node-id", id, "--cluster-id", clusterID, "--data-dir", n.dataDir,
			"--listen", n.clientAddr(), "--controller-quorum-voters", votersFlag,
			"--log-level", o.logLevel, "--log-format", o.logFormat}, o.controllerArgs...)
		nodes = append(nodes, n)
	}
	return nodes
}

// findDaemon finds a daemon's executable: in binDir when given, else next
// to the running strata (symlinks resolved), else on PATH.
func findDaemon(name, binDir string) (string, error) {
	if binDir != "" {
		p := filepath.Join(binDir, name)
		if !isExecutable(p) {
			return "", fmt.Errorf("--bin-dir %s has no executable %s", binDir, name)
		}
		return p, nil
	}
	self, err := os.Executable()
	if err == nil {
		if real, err := filepath.EvalSymlinks(self); err == nil {
			self = real
		}
		if p := filepath.Join(filepath.Dir(self), name); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	where := "next to strata"
	if self != "" {
		where = "in " + filepath.Dir(self)
	}
	return "", fmt.Errorf("cannot find %s %s nor on PATH: build it (make build) or give --bin-dir", name, where)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// devDataDir is what is on disk of the dev cluster.
type devDataDir struct {
	clusterID string
	// fresh is true when DIR holds no cluster yet: clusterID is new and
	// not written yet.
	fresh bool
	// unformatted are the nodes whose data dir is not formatted yet.
	unformatted []*devNode
}

// inspectDataDir reads the cluster id of DIR (or makes a new one for an
// empty or missing DIR) and checks every node's data dir against it,
// without writing anything. The nodes come from layout, given the id.
func inspectDataDir(o devOptions, layout func(clusterID string) []*devNode) (devDataDir, []*devNode, error) {
	dir := o.dataDir
	idPath := filepath.Join(dir, devClusterIDFile)
	b, err := os.ReadFile(idPath)
	var d devDataDir
	switch {
	case err == nil:
		d.clusterID = strings.TrimSpace(string(b))
		if err := metaprops.ValidateClusterID(d.clusterID); err != nil {
			return d, nil, fmt.Errorf("%s: %w; remove %s to start afresh", idPath, err, dir)
		}
	case errors.Is(err, fs.ErrNotExist):
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return d, nil, err
		}
		if len(entries) > 0 {
			return d, nil, fmt.Errorf("%s is not empty and has no %s, so it is no strata dev cluster: give another --data-dir, or remove %s",
				dir, devClusterIDFile, dir)
		}
		d.clusterID, d.fresh = metaprops.NewClusterID(), true
	default:
		return d, nil, err
	}
	nodes := layout(d.clusterID)
	for _, n := range nodes {
		got, err := metaprops.Read(n.dataDir)
		if errors.Is(err, metaprops.ErrNotFormatted) {
			d.unformatted = append(d.unformatted, n)
			continue
		}
		if err == nil {
			err = metaprops.Check(n.dataDir, n.props)
		}
		switch {
		case err == nil:
		case errors.Is(err, metaprops.ErrClusterMismatch):
			return d, nil, fmt.Errorf("%s belongs to cluster %s, not to %s (%s): remove %s to start afresh",
				n.dataDir, got.ClusterID, d.clusterID, idPath, dir)
		case errors.Is(err, metaprops.ErrVotersMismatch):
			if count, base, ok := devLayoutOf(got.Voters); ok {
				return d, nil, fmt.Errorf("%s was made with --controllers %d --base-port %d: run with those, or remove %s to start afresh",
					dir, count, base, dir)
			}
			return d, nil, fmt.Errorf("%s is formatted for the voters %s, not %s: remove %s to start afresh",
				n.dataDir, metaprops.FormatVoters(got.Voters), metaprops.FormatVoters(n.props.Voters), dir)
		default:
			return d, nil, fmt.Errorf("%w; remove %s to start afresh", err, dir)
		}
	}
	return d, nodes, nil
}

// devLayoutOf returns the --controllers and --base-port that made voters,
// when strata dev made them.
func devLayoutOf(voters map[int32]string) (count, base int, ok bool) {
	count = len(voters)
	for _, id := range slices.Sorted(maps.Keys(voters)) {
		host, portStr, err := net.SplitHostPort(voters[id])
		port, perr := strconv.Atoi(portStr)
		if err != nil || perr != nil || host != devLoopback || id < 1 || int(id) > count {
			return 0, 0, false
		}
		b := port - devRaftOffset - int(id)
		if id == 1 {
			base = b
		} else if b != base {
			return 0, 0, false
		}
	}
	return count, base, count > 0
}

// checkPorts fails when an address of the nodes cannot be bound.
func checkPorts(nodes []*devNode) error {
	var taken []string
	var first error
	for _, n := range nodes {
		for _, a := range n.addrs {
			l, err := net.Listen("tcp", a.addr)
			if err != nil {
				taken = append(taken, fmt.Sprintf("%s (%s %s)", a.addr, n.name(), a.what))
				if first == nil {
					first = err
					if oe := (*net.OpError)(nil); errors.As(err, &oe) {
						first = oe.Err
					}
				}
				continue
			}
			_ = l.Close()
		}
	}
	if len(taken) == 0 {
		return nil
	}
	hint := "pick another --base-port"
	if errors.Is(first, syscall.EADDRINUSE) {
		hint = "is another strata dev running? Stop it, or pick another --base-port"
	}
	return fmt.Errorf("cannot listen on %s: %w; %s", strings.Join(taken, ", "), first, hint)
}

// devProc is a started daemon.
type devProc struct {
	node *devNode
	cmd  *exec.Cmd
	// done is closed once the process has exited and been waited for;
	// err is Wait's result from then on.
	done chan struct{}
	err  error
	// termSent and killed (why it was killed) record what the cluster
	// sent it; the supervising goroutine only.
	termSent bool
	killed   string
}

func (p *devProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes an exit the cluster did not ask for, with the
// daemon's last words from its log.
func (p *devProc) exitError() error {
	status := "exit status 0"
	if p.err != nil {
		status = p.err.Error()
	}
	if last := lastWords(p.node.logPath, filepath.Base(p.node.bin)); last != "" {
		status += " (" + last + ")"
	}
	return fmt.Errorf("%s exited: %s; see %s", p.node.name(), status, p.node.logPath)
}

// lastWords finds, near the end of a daemon's log, the line a dying
// daemon writes: "<program>: <error>", or a Go panic or fatal error.
// It is "" when there is none, and shortened to 300 bytes.
func lastWords(path, program string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > tail {
		if _, err := f.Seek(-tail, io.SeekEnd); err != nil {
			return ""
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, tail))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.ToValidUTF8(string(b), ""), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if strings.HasPrefix(line, program+": ") || strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
			if len(line) > 300 {
				line = strings.ToValidUTF8(line[:300], "") + "..."
			}
			return line
		}
	}
	return ""
}

// devCluster runs the nodes and supervises them. Only the goroutine that
// called runDev touches it; each process has one goroutine waiting for it,
// which reports its exit on exits (buffered, so it never blocks) and ends.
type devCluster struct {
	out      io.Writer
	opts     devOptions
	newAdmin func(AdminConfig) (Admin, error)
	// stages are the processes in start order, one stage per role;
	// they stop in reverse order.
	stages [][]*devProc
	exits  chan *devProc
}

func (c *devCluster) procs() []*devProc { return slices.Concat(c.stages...) }

// runDev runs the dev cluster until ctx ends (the signals), a daemon exits
// or the cluster is not ready in time.
func runDev(ctx context.Context, out io.Writer, newAdmin func(AdminConfig) (Admin, error), o devOptions) error {
	o.dataDir = filepath.Clean(o.dataDir)
	bin, err := findDaemon(devControllerBinary, o.binDir)
	if err != nil {
		return err
	}
	dd, nodes, err := inspectDataDir(o, func(id string) []*devNode { return devControllers(o, bin, id) })
	if err != nil {
		return err
	}
	if err := checkPorts(nodes); err != nil {
		return err
	}
	fmt.Fprintf(out, "Using %s\n", bin)
	if dd.fresh {
		fmt.Fprintf(out, "Making a new dev cluster in %s: cluster id %s\n", o.dataDir, dd.clusterID)
		if err := writeClusterID(o.dataDir, dd.clusterID); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "Reusing the dev cluster in %s: cluster id %s\n", o.dataDir, dd.clusterID)
	}
	if err := os.MkdirAll(filepath.Join(o.dataDir, "logs"), 0o750); err != nil {
		return err
	}
	// A hangup (the terminal closed) stops the cluster as Ctrl-C does.
	ctx, stopHangup := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stopHangup()
	// Should stdout be a pipe that closes (strata dev | tee, and Ctrl-C),
	// writes fail instead of killing strata dev before it stopped the
	// daemons.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	defer signal.Stop(pipe)

	// exits has room for every process, so that no waiting goroutine
	// blocks on it.
	c := &devCluster{out: out, opts: o, newAdmin: newAdmin, exits: make(chan *devProc, len(nodes))}
	if err := c.startStage(ctx, nodes, dd.unformatted); err != nil {
		if ctx.Err() != nil {
			return c.interrupted()
		}
		return c.fail(err)
	}
	// ready gets the readiness check's outcome: nil, or why the cluster
	// is not ready (in a struct: the check's end is all endReady wants).
	ready := make(chan struct{ err error }, 1)
	rctx, cancelReady := context.WithTimeout(ctx, o.startTimeout)
	defer cancelReady()
	go func() { ready <- struct{ err error }{c.waitReady(rctx, dd.clusterID, nodes)} }()
	// endReady stops the readiness check and waits for its goroutine.
	endReady := func() {
		cancelReady()
		<-ready
	}
	select {
	case res := <-ready:
		switch err := res.err; {
		case ctx.Err() != nil:
			return c.interrupted()
		case err != nil:
			select {
			case p := <-c.exits:
				return c.fail(p.exitError())
			default:
			}
			return c.fail(fmt.Errorf("the cluster was not ready within %v: %w; see the logs in %s",
				o.startTimeout, err, filepath.Join(o.dataDir, "logs")))
		}
	case p := <-c.exits:
		endReady()
		return c.fail(p.exitError())
	case <-ctx.Done():
		endReady()
		return c.interrupted()
	}
	c.printReady(dd.clusterID, nodes)

	select {
	case p := <-c.exits:
		return c.fail(p.exitError())
	case <-ctx.Done():
		return c.interrupted()
	}
}

// writeClusterID writes DIR/cluster.id, creating DIR.
func writeClusterID(dir, id string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp := filepath.Join(dir, devClusterIDFile+".tmp")
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, devClusterIDFile))
}

// devEnv is the daemons' environment: this one without STRATA_*, so that
// only the flags strata dev gives configure them.
func devEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "STRATA_") })
}

// startStage formats the nodes of unformatted among nodes, then starts
// every node as a process, in a new stage. Each node's log is rewritten.
func (c *devCluster) startStage(ctx context.Context, nodes, unformatted []*devNode) error {
	logs := make([]*os.File, len(nodes))
	defer func() {
		// The children have their own descriptors.
		for _, f := range logs {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i, n := range nodes {
		f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o640)
		if err != nil {
			return err
		}
		logs[i] = f
		if slices.Contains(unformatted, n) {
			if err := c.format(ctx, n, f); err != nil {
				return err
			}
		}
	}
	c.stages = append(c.stages, make([]*devProc, 0, len(nodes)))
	stage := &c.stages[len(c.stages)-1]
	for i, n := range nodes {
		cmd := exec.Command(n.bin, n.runArgs...)
		cmd.Env = devEnv()
		cmd.Stdout, cmd.Stderr = logs[i], logs[i]
		cmd.SysProcAttr = devSysProcAttr()
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", n.name(), err)
		}
		p := &devProc{node: n, cmd: cmd, done: make(chan struct{})}
		go func() {
			p.err = cmd.Wait()
			close(p.done)
			c.exits <- p
		}()
		*stage = append(*stage, p)
		fmt.Fprintf(c.out, "Started %s (pid %d): %s; log %s\n", n.name(), cmd.Process.Pid, describeAddrs(n.addrs), n.logPath)
	}
	return nil
}

func describeAddrs(addrs []devAddr) string {
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = a.what + " " + a.addr
	}
	return strings.Join(parts, ", ")
}

// format runs "<bin> format" for a node, its output into the node's log.
func (c *devCluster) format(ctx context.Context, n *devNode, logFile *os.File) error {
	ctx, cancel := context.WithTimeout(ctx, devFormatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.bin, n.formatArgs...)
	cmd.Env = devEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = devSysProcAttr()
	if err := cmd.Run(); err != nil {
		msg := err.Error()
		if last := lastWords(n.logPath, filepath.Base(n.bin)); last != "" {
			msg += " (" + last + ")"
		}
		return fmt.Errorf("format %s: %s; see %s", n.name(), msg, n.logPath)
	}
	return nil
}

// waitReady polls until the cluster has the controllers of nodes, all
// registered, and an active controller.
func (c *devCluster) waitReady(ctx context.Context, clusterID string, nodes []*devNode) error {
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.clientAddr()
	}
	admin, err := c.newAdmin(AdminConfig{Controllers: addrs})
	if err != nil {
		return err
	}
	defer func() { _ = admin.Close() }()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last error
	for {
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return last
		case <-timer.C:
		}
		dctx, cancel := context.WithTimeout(ctx, devDescribeTimeout)
		cl, err := admin.DescribeCluster(dctx)
		cancel()
		if err == nil {
			if err = devReady(cl, clusterID, len(nodes)); err == nil {
				return nil
			}
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		timer.Reset(devPollInterval)
	}
}

// devReady says why cl is not a ready cluster of id with n controllers.
func devReady(cl client.Cluster, id string, n int) error {
	registered := 0
	for _, ctl := range cl.Controllers {
		if ctl.Address != "" {
			registered++
		}
	}
	switch {
	case cl.ID != id:
		return fmt.Errorf("the controllers answer for cluster %s, not %s", cl.ID, id)
	case registered < n:
		return fmt.Errorf("%d of %d controllers registered", registered, n)
	case cl.ActiveControllerID < 0:
		return errors.New("no active controller yet")
	}
	return nil
}

func (c *devCluster) printReady(clusterID string, nodes []*devNode) {
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.clientAddr()
	}
	bootstrap := strings.Join(addrs, ",")
	self := devProgram()
	fmt.Fprintf(c.out, `
Strata dev cluster ready. Cluster id: %s
bootstrap controllers: %s
(brokers: not built yet)

Try:
  %s --bootstrap-controller %s cluster describe
  %s --bootstrap-controller %s quorum describe --status
  tail -f %s

Ctrl-C stops the cluster. Its data stays in %s for the next run;
remove that directory to start afresh.
`, clusterID, bootstrap, self, bootstrap, self, bootstrap, nodes[0].logPath, c.opts.dataDir)
}

// devProgram is how the user ran strata, for the commands to try.
func devProgram() string {
	if len(os.Args) > 0 && os.Args[0] != "" {
		return os.Args[0]
	}
	return "strata"
}

// interrupted stops the cluster after a signal: nil when it all stopped
// cleanly.
func (c *devCluster) interrupted() error {
	if err := c.stop(); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Stopped. The data stays in %s.\n", c.opts.dataDir)
	return nil
}

// fail stops the cluster after err, which it returns along with what went
// wrong while stopping.
func (c *devCluster) fail(err error) error {
	if serr := c.stop(); serr != nil {
		return fmt.Errorf("%w; then %w", err, serr)
	}
	return err
}

// stop stops the stages in reverse start order: SIGTERM to each running
// process of a stage, then SIGKILL to those of the stage still running
// after the stop timeout, or to every process at a second signal. It
// returns once every process has been waited for, with what did not stop
// cleanly.
func (c *devCluster) stop() error {
	var running []*devProc
	for _, p := range c.procs() {
		if !p.exited() {
			running = append(running, p)
		}
	}
	if len(running) == 0 {
		return nil
	}
	fmt.Fprintf(c.out, "Stopping %s (Ctrl-C again kills at once)...\n", countNodes(running))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var problems []string
	kill := func(procs []*devProc, why string) {
		for _, p := range procs {
			if !p.exited() && p.killed == "" {
				p.killed = why
				if err := devSignal(p.cmd.Process, syscall.SIGKILL); err != nil && !processGone(err) {
					problems = append(problems, fmt.Sprintf("SIGKILL to %s: %v", p.node.name(), err))
				}
			}
		}
	}
	hurry := false
	for i := len(c.stages) - 1; i >= 0; i-- {
		stage := c.stages[i]
		for _, p := range stage {
			if !p.exited() && p.killed == "" {
				p.termSent = true
				if err := devSignal(p.cmd.Process, syscall.SIGTERM); err != nil && !processGone(err) {
					problems = append(problems, fmt.Sprintf("SIGTERM to %s: %v", p.node.name(), err))
				}
			}
		}
		timer := time.NewTimer(c.opts.stopTimeout)
		timedOut := false
		for _, p := range stage {
			if !hurry && !timedOut {
				select {
				case <-p.done:
					continue
				case <-timer.C:
					timedOut = true
					kill(stage, fmt.Sprintf("did not stop within %v of SIGTERM", c.opts.stopTimeout))
				case <-sigs:
					hurry = true
					kill(c.procs(), "was still running at the second signal")
				}
			}
			<-p.done
		}
		timer.Stop()
	}
	for _, p := range c.procs() {
		switch {
		case p.killed != "":
			problems = append(problems, fmt.Sprintf("%s %s and was killed (see %s)", p.node.name(), p.killed, p.node.logPath))
		case !p.termSent:
			// It had exited by itself; the caller reports that.
		case p.err != nil && !diedOf(p.err, syscall.SIGTERM):
			// SIGTERM kills a daemon that has not set up its handler
			// yet: it stopped as asked.
			problems = append(problems, fmt.Sprintf("%s stopped with %v (see %s)", p.node.name(), p.err, p.node.logPath))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// diedOf says whether a process's Wait error is death by sig.
func diedOf(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// processGone says whether a signal failed because the process is gone.
func processGone(err error) bool {
	return errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH)
}

// countNodes is "3 controllers", "controller 2" or "2 controllers and 3
// brokers".
func countNodes(procs []*devProc) string {
	if len(procs) == 1 {
		return procs[0].node.name()
	}
	var roles []string
	counts := make(map[string]int)
	for _, p := range procs {
		if counts[p.node.role] == 0 {
			roles = append(roles, p.node.role)
		}
		counts[p.node.role]++
	}
	parts := make([]string, len(roles))
	for i, r := range roles {
		parts[i] = fmt.Sprintf("%d %s", counts[r], r)
		if counts[r] != 1 {
			parts[i] += "s"
		}
	}
	return strings.Join(parts, " and ")
}
