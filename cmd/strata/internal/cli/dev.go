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
	DefaultDevBrokers      = 3
	DefaultDevBasePort     = 9200
	DefaultDevStartTimeout = time.Minute
	DefaultDevStopTimeout  = 20 * time.Second
	// MaxDevControllers keeps the controllers' gRPC ports (base+1 ...)
	// below base+10, which stays free for the brokers.
	MaxDevControllers = 9
	// MaxDevBrokers keeps the brokers' ports (base+11 ...) below
	// base+100, under the controllers' Raft ports.
	MaxDevBrokers = 89
	// DevFirstBrokerID is the id of the first broker; the others follow.
	DevFirstBrokerID = 101
	// devRaftOffset separates a controller's Raft port from its gRPC
	// port.
	devRaftOffset = 100
	// devBrokerOffset is where the brokers' ports start: broker i (from
	// 1), id DevFirstBrokerID+i-1, serves on base+devBrokerOffset+i.
	devBrokerOffset = 10
	// devControllerBinary and devBrokerBinary are the daemons'
	// executables.
	devControllerBinary = "strata-controller"
	devBrokerBinary     = "strata-broker"
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
		name: "dev", summary: "run a local cluster: 3 controllers and 3 brokers",
		synopsis: "strata dev [--data-dir DIR] [--controllers N] [--brokers N] [--base-port PORT] [flags]",
		help: `Run a local development cluster on 127.0.0.1 until Ctrl-C or SIGTERM: the
controllers (3 by default) as strata-controller processes and, once every
controller has registered and an active controller is elected, the brokers
(3 by default, ids 101, 102, ...) as strata-broker processes. Once every
broker has registered and is unfenced, it prints the cluster id, the
bootstrap servers (the brokers), the bootstrap controllers and commands to
try. With --brokers 0 it runs the controllers alone.

Ports, from --base-port B (the defaults in brackets):

  controller N   gRPC B+N      [9201, 9202, 9203]   Raft B+100+N [9301, 9302, 9303]
  broker 100+N   gRPC B+10+N   [9211, 9212, 9213]

They must be free: strata dev checks them first and stops if one is taken.

The first run formats DIR for a new cluster; later runs reuse its data
(run with the same --controllers, --brokers and --base-port, or remove DIR
to start afresh). DIR holds:

  cluster.id              the cluster id, made on the first run
  controller-N/           controller N's data
  broker-ID/              broker ID's data (ID 101, 102, ...)
  logs/controller-N.log   controller N's output, rewritten at each run
  logs/broker-ID.log      broker ID's output, rewritten at each run

The daemons come from --bin-dir, else from the directory of this strata
executable, else from PATH. They get only the flags strata dev gives them
(and --controller-arg, --broker-arg): STRATA_* environment variables are
not passed on. Each runs in its own process group, so Ctrl-C reaches
strata dev alone.

On Ctrl-C, SIGTERM or SIGHUP it stops the brokers, then the controllers (a
stopping broker hands its partition leaderships away, which needs the
controllers): SIGTERM to each, SIGKILL to those still running after
--stop-timeout (a second Ctrl-C kills every daemon at once). It exits 0
once all stopped cleanly. When a daemon exits by itself, it names it and
its log, stops the others and exits 1.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			o := devOptions{
				dataDir: DefaultDevDataDir, controllers: DefaultDevControllers, brokers: DefaultDevBrokers, basePort: DefaultDevBasePort,
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
	brokers        int
	basePort       int
	binDir         string
	logLevel       string
	logFormat      string
	controllerArgs listFlag
	brokerArgs     listFlag
	startTimeout   time.Duration
	stopTimeout    time.Duration
}

func (o *devOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.dataDir, "data-dir", o.dataDir, "`DIR` the cluster's data, kept across runs")
	fs.IntVar(&o.controllers, "controllers", o.controllers, "`N` how many controllers (1 to "+strconv.Itoa(MaxDevControllers)+"; odd counts tolerate the most failures)")
	fs.IntVar(&o.brokers, "brokers", o.brokers, "`N` how many brokers (0 to "+strconv.Itoa(MaxDevBrokers)+"), with ids "+strconv.Itoa(DevFirstBrokerID)+", "+strconv.Itoa(DevFirstBrokerID+1)+", ...")
	fs.IntVar(&o.basePort, "base-port", o.basePort, "`PORT` the ports are numbered from it (see above)")
	fs.StringVar(&o.binDir, "bin-dir", "", "`DIR` where to find "+devControllerBinary+" and "+devBrokerBinary+" (default: next to strata, else on PATH)")
	fs.StringVar(&o.logLevel, "log-level", o.logLevel, "`LEVEL` the daemons' log level: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", o.logFormat, "`FORMAT` the daemons' log format: text or json")
	fs.Var(&o.controllerArgs, "controller-arg", "`ARG` one more argument for every strata-controller run, as --controller-arg=--broker-session-timeout-ms=10000 (repeatable)")
	fs.Var(&o.brokerArgs, "broker-arg", "`ARG` one more argument for every strata-broker run, as --broker-arg=--auto-create-topics (repeatable)")
	fs.DurationVar(&o.startTimeout, "start-timeout", o.startTimeout, "`DURATION` how long to wait for the cluster to be ready")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", o.stopTimeout, "`DURATION` how long the daemons may take to stop before they are killed")
}

func (o *devOptions) validate() error {
	switch {
	case strings.TrimSpace(o.dataDir) == "":
		return errors.New("--data-dir must not be empty")
	case o.controllers < 1 || o.controllers > MaxDevControllers:
		return fmt.Errorf("--controllers must be between 1 and %d, not %d", MaxDevControllers, o.controllers)
	case o.brokers < 0 || o.brokers > MaxDevBrokers:
		return fmt.Errorf("--brokers must be between 0 and %d, not %d", MaxDevBrokers, o.brokers)
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
// addresses. The controllers start first; the brokers start once the
// controllers are ready and stop before them (they need the active
// controller for their controlled shutdown).
type devNode struct {
	role    string // metaprops.RoleController or metaprops.RoleBroker
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

// devBrokers lays out the brokers of the controllers: broker i (from 1)
// has id 100+i, serves gRPC on base+10+i, keeps its data in DIR/broker-ID
// and its output in DIR/logs/broker-ID.log.
func devBrokers(o devOptions, bin, clusterID string, controllers []*devNode) []*devNode {
	controllersFlag := strings.Join(clientAddrs(controllers), ",")
	var nodes []*devNode
	for i := 1; i <= o.brokers; i++ {
		nodeID := int32(DevFirstBrokerID - 1 + i)
		id := strconv.Itoa(int(nodeID))
		n := &devNode{
			role: metaprops.RoleBroker, id: nodeID, bin: bin,
			dataDir: filepath.Join(o.dataDir, "broker-"+id),
			logPath: filepath.Join(o.dataDir, "logs", "broker-"+id+".log"),
			props:   metaprops.Props{ClusterID: clusterID, NodeID: nodeID, Role: metaprops.RoleBroker},
			addrs:   []devAddr{{devAddress(o.basePort + devBrokerOffset + i), "gRPC"}},
		}
		n.formatArgs = []string{"format", "--data-dir", n.dataDir, "--cluster-id", clusterID, "--node-id", id}
		n.runArgs = append([]string{"run", "--node-id", id, "--cluster-id", clusterID, "--data-dir", n.dataDir,
			"--listen", n.clientAddr(), "--controllers", controllersFlag,
			"--log-level", o.logLevel, "--log-format", o.logFormat}, o.brokerArgs...)
		nodes = append(nodes, n)
	}
	return nodes
}

// devLayout is every node of the dev cluster: the controllers, then the
// brokers (none with --brokers 0, when brokerBin may be empty).
func devLayout(o devOptions, controllerBin, brokerBin, clusterID string) []*devNode {
	controllers := devControllers(o, controllerBin, clusterID)
	if o.brokers == 0 {
		return controllers
	}
	return slices.Concat(controllers, devBrokers(o, brokerBin, clusterID, controllers))
}

// withRole are the nodes of a role, in order.
func withRole(nodes []*devNode, role string) []*devNode {
	var out []*devNode
	for _, n := range nodes {
		if n.role == role {
			out = append(out, n)
		}
	}
	return out
}

func clientAddrs(nodes []*devNode) []string {
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.clientAddr()
	}
	return addrs
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
	// voters are those of a controller formatted for other voters: DIR
	// was made with other flags.
	var voters map[int32]string
	for _, n := range nodes {
		got, err := metaprops.Read(n.dataDir)
		if errors.Is(err, metaprops.ErrNotFormatted) {
			d.unformatted = append(d.unformatted, n)
			continue
		}
		if err == nil {
			_, err = metaprops.Check(n.dataDir, n.props)
		}
		switch {
		case err == nil:
		case errors.Is(err, metaprops.ErrClusterMismatch):
			return d, nil, fmt.Errorf("%s belongs to cluster %s, not to %s (%s): remove %s to start afresh",
				n.dataDir, got.ClusterID, d.clusterID, idPath, dir)
		case errors.Is(err, metaprops.ErrVotersMismatch):
			if _, _, ok := devLayoutOf(got.Voters); !ok {
				return d, nil, fmt.Errorf("%s is formatted for the voters %s, not %s: remove %s to start afresh",
					n.dataDir, metaprops.FormatVoters(got.Voters), metaprops.FormatVoters(n.props.Voters), dir)
			}
			voters = got.Voters
		default:
			return d, nil, fmt.Errorf("%w; remove %s to start afresh", err, dir)
		}
		if voters != nil {
			break
		}
	}
	// The brokers DIR has data of must be those of the layout; a DIR
	// without brokers (made with --brokers 0, or before strata dev ran
	// brokers) gets them.
	made, err := devBrokersIn(dir)
	if err != nil {
		return d, nil, err
	}
	want := make([]int32, 0, o.brokers)
	for _, n := range withRole(nodes, metaprops.RoleBroker) {
		want = append(want, n.id)
	}
	if voters == nil && (len(made) == 0 || slices.Equal(made, want)) {
		return d, nodes, nil
	}
	brokers, ok := devBrokerCount(made)
	if !ok {
		ids := make([]string, len(made))
		for i, id := range made {
			ids[i] = strconv.Itoa(int(id))
		}
		return d, nil, fmt.Errorf("%s has the data of brokers %s, which strata dev does not make: remove %s to start afresh",
			dir, strings.Join(ids, ", "), dir)
	}
	controllers, base := o.controllers, o.basePort
	if voters != nil {
		controllers, base, _ = devLayoutOf(voters)
	}
	return d, nil, fmt.Errorf("%s was made with --controllers %d --brokers %d --base-port %d: run with those, or remove %s to start afresh",
		dir, controllers, brokers, base, dir)
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

// devBrokersIn lists, in order, the ids of the formatted broker-ID data
// dirs in dir.
func devBrokersIn(dir string) ([]int32, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var ids []int32
	for _, e := range entries {
		idStr, ok := strings.CutPrefix(e.Name(), "broker-")
		if !ok || !e.IsDir() {
			continue
		}
		id, err := strconv.ParseInt(idStr, 10, 32)
		if err != nil || strconv.FormatInt(id, 10) != idStr {
			continue
		}
		if _, err := metaprops.Read(filepath.Join(dir, e.Name())); errors.Is(err, metaprops.ErrNotFormatted) {
			continue
		}
		ids = append(ids, int32(id))
	}
	slices.Sort(ids)
	return ids, nil
}

// devBrokerCount returns the --brokers that made the brokers ids, when
// strata dev made them.
func devBrokerCount(ids []int32) (int, bool) {
	for i, id := range ids {
		if id != int32(DevFirstBrokerID+i) {
			return 0, false
		}
	}
	return len(ids), len(ids) <= MaxDevBrokers
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

// stopOrder is the processes in the order they stop: the last stage
// first.
func (c *devCluster) stopOrder() []*devProc {
	var out []*devProc
	for i := len(c.stages) - 1; i >= 0; i-- {
		out = append(out, c.stages[i]...)
	}
	return out
}

// runDev runs the dev cluster until ctx ends (the signals), a daemon exits
// or the cluster is not ready in time.
func runDev(ctx context.Context, out io.Writer, newAdmin func(AdminConfig) (Admin, error), o devOptions) error {
	o.dataDir = filepath.Clean(o.dataDir)
	controllerBin, err := findDaemon(devControllerBinary, o.binDir)
	if err != nil {
		return err
	}
	var brokerBin string
	if o.brokers > 0 {
		if brokerBin, err = findDaemon(devBrokerBinary, o.binDir); err != nil {
			return err
		}
	}
	dd, nodes, err := inspectDataDir(o, func(id string) []*devNode { return devLayout(o, controllerBin, brokerBin, id) })
	if err != nil {
		return err
	}
	if err := checkPorts(nodes); err != nil {
		return err
	}
	fmt.Fprintf(out, "Using %s\n", controllerBin)
	if brokerBin != "" {
		fmt.Fprintf(out, "Using %s\n", brokerBin)
	}
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
	controllers, brokers := withRole(nodes, metaprops.RoleController), withRole(nodes, metaprops.RoleBroker)
	err = c.prepare(ctx, nodes, dd.unformatted)
	if err == nil {
		err = c.start(ctx, dd.clusterID, controllers, brokers)
	}
	switch {
	case ctx.Err() != nil:
		return c.interrupted()
	case err != nil:
		return c.fail(err)
	}
	c.printReady(dd.clusterID, controllers, brokers)

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

// prepare rewrites every node's log and formats the nodes of unformatted
// into their logs, before anything starts: a daemon that cannot be
// formatted stops strata dev before it ran any.
func (c *devCluster) prepare(ctx context.Context, nodes, unformatted []*devNode) error {
	for _, n := range nodes {
		f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o640)
		if err != nil {
			return err
		}
		if slices.Contains(unformatted, n) {
			err = c.format(ctx, n, f)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// start starts the controllers and, once they are ready, the brokers, and
// waits until those are ready too, all within the start timeout.
func (c *devCluster) start(ctx context.Context, clusterID string, controllers, brokers []*devNode) error {
	rctx, cancel := context.WithTimeout(ctx, c.opts.startTimeout)
	defer cancel()
	if err := c.startStage(controllers); err != nil {
		return err
	}
	cl, err := c.await(ctx, rctx, AdminConfig{Controllers: clientAddrs(controllers)}, func(cl client.Cluster) error {
		return devReady(cl, clusterID, len(controllers))
	})
	if err != nil || len(brokers) == 0 {
		return err
	}
	// The controllers may still know the brokers of the last run: only
	// registrations after this answer (broker epochs are metadata
	// offsets) are the brokers starting now.
	since := cl.MetadataOffset
	for _, b := range cl.Brokers {
		since = max(since, b.Epoch)
	}
	if err := c.startStage(brokers); err != nil {
		return err
	}
	_, err = c.await(ctx, rctx, AdminConfig{Servers: clientAddrs(brokers)}, func(cl client.Cluster) error {
		return devBrokersReady(cl, clusterID, brokers, since)
	})
	return err
}

// startStage starts every node as a process, in a new stage, its output
// appended to the node's log.
func (c *devCluster) startStage(nodes []*devNode) error {
	c.stages = append(c.stages, make([]*devProc, 0, len(nodes)))
	stage := &c.stages[len(c.stages)-1]
	for _, n := range nodes {
		f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return err
		}
		cmd := exec.Command(n.bin, n.runArgs...)
		cmd.Env = devEnv()
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = devSysProcAttr()
		err = cmd.Start()
		// The child has its own descriptor.
		f.Close()
		if err != nil {
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

// await waits for waitReady(cfg, check) until rctx ends, and returns the
// ready cluster; it gives up at once when a daemon exits (with its exit
// error) or ctx ends (with ctx's error).
func (c *devCluster) await(ctx, rctx context.Context, cfg AdminConfig, check func(client.Cluster) error) (client.Cluster, error) {
	type result struct {
		cl  client.Cluster
		err error
	}
	wctx, cancel := context.WithCancel(rctx)
	defer cancel()
	ready := make(chan result, 1)
	go func() {
		cl, err := c.waitReady(wctx, cfg, check)
		ready <- result{cl, err}
	}()
	select {
	case res := <-ready:
		switch {
		case res.err == nil:
			return res.cl, nil
		case ctx.Err() != nil:
			return client.Cluster{}, ctx.Err()
		}
		select {
		case p := <-c.exits:
			return client.Cluster{}, p.exitError()
		default:
		}
		return client.Cluster{}, fmt.Errorf("the cluster was not ready within %v: %w; see the logs in %s",
			c.opts.startTimeout, res.err, filepath.Join(c.opts.dataDir, "logs"))
	case p := <-c.exits:
		cancel()
		<-ready
		return client.Cluster{}, p.exitError()
	case <-ctx.Done():
		cancel()
		<-ready
		return client.Cluster{}, ctx.Err()
	}
}

// waitReady polls DescribeCluster through cfg until check accepts the
// answer, which it returns; else why the cluster is not ready when ctx
// ends.
func (c *devCluster) waitReady(ctx context.Context, cfg AdminConfig, check func(client.Cluster) error) (client.Cluster, error) {
	admin, err := c.newAdmin(cfg)
	if err != nil {
		return client.Cluster{}, err
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
			return client.Cluster{}, last
		case <-timer.C:
		}
		dctx, cancel := context.WithTimeout(ctx, devDescribeTimeout)
		cl, err := admin.DescribeCluster(dctx)
		cancel()
		if err == nil {
			if err = check(cl); err == nil {
				return cl, nil
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

// devBrokersReady says why, in cl, the brokers of cluster id are not all
// registered (with a broker epoch above since) and unfenced.
func devBrokersReady(cl client.Cluster, id string, brokers []*devNode, since int64) error {
	if cl.ID != id {
		return fmt.Errorf("the brokers answer for cluster %s, not %s", cl.ID, id)
	}
	registered, unfenced := 0, 0
	for _, n := range brokers {
		i := slices.IndexFunc(cl.Brokers, func(b client.Broker) bool { return b.ID == n.id })
		if i < 0 || cl.Brokers[i].Epoch <= since {
			continue
		}
		registered++
		if !cl.Brokers[i].Fenced {
			unfenced++
		}
	}
	switch {
	case registered < len(brokers):
		return fmt.Errorf("%d of %d brokers registered", registered, len(brokers))
	case unfenced < len(brokers):
		return fmt.Errorf("%d of %d brokers unfenced (the others are catching up with the metadata)", unfenced, len(brokers))
	}
	return nil
}

// devTopic is the topic the commands to try create.
const devTopic = "demo"

func (c *devCluster) printReady(clusterID string, controllers, brokers []*devNode) {
	ctl := strings.Join(clientAddrs(controllers), ",")
	self := devProgram()
	var b strings.Builder
	fmt.Fprintf(&b, "\nStrata dev cluster ready. Cluster id: %s\n", clusterID)
	if len(brokers) == 0 {
		fmt.Fprintf(&b, "(no brokers: --brokers 0)\nbootstrap controllers: %s\n\nTry:\n", ctl)
		fmt.Fprintf(&b, "  %s --bootstrap-controller %s cluster describe\n", self, ctl)
		fmt.Fprintf(&b, "  %s --bootstrap-controller %s quorum describe --status\n", self, ctl)
		fmt.Fprintf(&b, "  tail -f %s\n", controllers[0].logPath)
	} else {
		servers := strings.Join(clientAddrs(brokers), ",")
		fmt.Fprintf(&b, "bootstrap servers: %s\nbootstrap controllers: %s\n\nTry:\n", servers, ctl)
		fmt.Fprintf(&b, "  %s --bootstrap-server %s cluster describe\n", self, servers)
		fmt.Fprintf(&b, "  %s --bootstrap-server %s topics create --topic %s --partitions 3 --replication-factor %d --if-not-exists\n",
			self, servers, devTopic, min(3, len(brokers)))
		fmt.Fprintf(&b, "  %s --bootstrap-server %s topics describe --topic %s\n", self, servers, devTopic)
		fmt.Fprintf(&b, "  %s --bootstrap-controller %s quorum describe --status\n", self, ctl)
		fmt.Fprintf(&b, "  tail -f %s\n", brokers[0].logPath)
	}
	fmt.Fprintf(&b, "\nCtrl-C stops the cluster. Its data stays in %s for the next run;\nremove that directory to start afresh.\n", c.opts.dataDir)
	fmt.Fprint(c.out, b.String())
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
	for _, p := range c.stopOrder() {
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
	for _, p := range c.stopOrder() {
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

// countNodes is "3 controllers", "controller 2" or "3 brokers and 2
// controllers".
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
