// Command strata-controller runs a Strata controller: a member of the Raft
// quorum that owns the cluster metadata.
//
//	strata-controller format --data-dir D --cluster-id CID --node-id 1 --controller-quorum-voters 1@127.0.0.1:9301,...
//	strata-controller run --node-id 1 --data-dir D --listen 127.0.0.1:9201 --controller-quorum-voters ...
//
// Every flag can also come from STRATA_<FLAG> (STRATA_NODE_ID, ...) or a
// properties file named by --config; flags win.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/strata-log/strata/pkg/flagconf"
	"github.com/strata-log/strata/pkg/metaprops"
	"github.com/strata-log/strata/pkg/telemetry"
	"github.com/strata-log/strata/services/controller/controller"
)

const usage = `usage: strata-controller <command> [flags]

commands:
  format   write meta.properties into a new data dir (as kafka-storage format)
  run      run the controller until SIGTERM or SIGINT

Run "strata-controller <command> -h" for the flags of a command.
`

func main() {
	flagconf.Exit("strata-controller", flagconf.Dispatch(os.Args[1:], usage, os.Stdout, map[string]flagconf.Command{
		"format": func(args []string) error { return format(args, os.Stdout, os.Stderr) },
		"run":    func(args []string) error { return serve(args, os.Stderr) },
	}))
}

// common holds the flags both commands share.
type common struct {
	nodeID    int
	clusterID string
	dataDir   string
	voters    string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.IntVar(&c.nodeID, "node-id", 0, "this controller's id in the voter set (required)")
	fs.StringVar(&c.clusterID, "cluster-id", "", "the cluster id (from `strata storage random-uuid`)")
	fs.StringVar(&c.dataDir, "data-dir", "", "the data directory (required)")
	fs.StringVar(&c.voters, "controller-quorum-voters", "", "every controller as ID@HOST:PORT of its Raft address, comma-separated (required)")
	fs.String(flagconf.ConfigFlag, "", "a properties file with any of these settings")
}

func parse(fs *flag.FlagSet, args []string) error {
	return flagconf.Parse(fs, args, "STRATA_", os.LookupEnv)
}

func format(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("strata-controller format", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	ignore := fs.Bool("ignore-formatted", false, "succeed when the dir is already formatted identically")
	if err := parse(fs, args); err != nil {
		return err
	}
	if c.dataDir == "" || c.clusterID == "" || c.nodeID <= 0 || c.voters == "" {
		return errors.New("format needs --data-dir, --cluster-id, a positive --node-id and --controller-quorum-voters")
	}
	voters, err := metaprops.ParseVoters(c.voters)
	if err != nil {
		return err
	}
	if _, ok := voters[int32(c.nodeID)]; !ok {
		return fmt.Errorf("node %d is not in --controller-quorum-voters %s", c.nodeID, c.voters)
	}
	if err := metaprops.Format(c.dataDir, metaprops.Props{
		ClusterID: c.clusterID, NodeID: int32(c.nodeID), Role: metaprops.RoleController, Voters: voters,
	}, *ignore); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Formatted %s for cluster %s, controller %d\n", c.dataDir, c.clusterID, c.nodeID)
	return nil
}

func serve(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("strata-controller run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	listen := fs.String("listen", "127.0.0.1:9201", "the gRPC listen address")
	advertised := fs.String("advertised-address", "", "the gRPC address brokers and clients use (default: the listen address)")
	raftAddr := fs.String("raft-address", "", "the Raft listen address (default: this node's entry in the voters)")
	metrics := fs.String("metrics-listen", "", "serve Prometheus /metrics on this address")
	sessionMs := fs.Int("broker-session-timeout-ms", 3000, "fence a broker after this long without a heartbeat")
	rf := fs.Int("default-replication-factor", 1, "replication factor of topics created with -1")
	partitions := fs.Int("num-partitions", 1, "partition count of topics created with -1")
	minISR := fs.Int("min-insync-replicas", 1, "the cluster default min.insync.replicas")
	rebalanceMs := fs.Int("leader-imbalance-check-interval-ms", 10000, "how often leadership moves back to preferred replicas (0 disables)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "json", "json or text")
	if err := parse(fs, args); err != nil {
		return err
	}
	if c.voters == "" {
		return errors.New("run needs --controller-quorum-voters")
	}
	voters, err := metaprops.ParseVoters(c.voters)
	if err != nil {
		return err
	}
	log, err := telemetry.NewLogger(stderr, *logFormat, *level)
	if err != nil {
		return err
	}
	rebalance := time.Duration(*rebalanceMs) * time.Millisecond
	if rebalance == 0 {
		rebalance = -1
	}
	srv, err := controller.New(controller.Config{
		NodeID: int32(c.nodeID), ClusterID: c.clusterID, DataDir: c.dataDir, Listen: *listen,
		AdvertisedAddress: *advertised, Voters: voters, RaftAddress: *raftAddr, MetricsListen: *metrics,
		BrokerSessionTimeout:     time.Duration(*sessionMs) * time.Millisecond,
		DefaultReplicationFactor: int32(*rf), DefaultPartitions: int32(*partitions), MinInsyncReplicas: int32(*minISR),
		LeaderRebalanceInterval: rebalance, Logger: log,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return srv.Run(ctx)
}
