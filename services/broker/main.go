// Command strata-broker runs a Strata broker: it stores partitions and
// serves producers, consumers and follower replicas.
//
//	strata-broker format --data-dir D --cluster-id CID --node-id 101
//	strata-broker run --node-id 101 --data-dir D --listen 127.0.0.1:9092 --controllers 127.0.0.1:9201,...
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
	"strings"
	"syscall"
	"time"

	"github.com/strata-log/strata/pkg/flagconf"
	"github.com/strata-log/strata/pkg/metaprops"
	"github.com/strata-log/strata/pkg/telemetry"
	"github.com/strata-log/strata/services/broker/broker"
)

const usage = `usage: strata-broker <command> [flags]

commands:
  format   write meta.properties into a new data dir (as kafka-storage format)
  run      run the broker until SIGTERM or SIGINT

Run "strata-broker <command> -h" for the flags of a command.
`

func main() {
	flagconf.Exit("strata-broker", flagconf.Dispatch(os.Args[1:], usage, os.Stdout, map[string]flagconf.Command{
		"format": func(args []string) error { return format(args, os.Stdout, os.Stderr) },
		"run":    func(args []string) error { return serve(args, os.Stderr) },
	}))
}

func parse(fs *flag.FlagSet, args []string) error {
	return flagconf.Parse(fs, args, "STRATA_", os.LookupEnv)
}

func format(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("strata-broker format", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodeID := fs.Int("node-id", -1, "this broker's id (required)")
	clusterID := fs.String("cluster-id", "", "the cluster id (from `strata storage random-uuid`)")
	dataDir := fs.String("data-dir", "", "the data directory (required)")
	ignore := fs.Bool("ignore-formatted", false, "succeed when the dir is already formatted identically")
	fs.String(flagconf.ConfigFlag, "", "a properties file with any of these settings")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dataDir == "" || *clusterID == "" || *nodeID < 0 {
		return errors.New("format needs --data-dir, --cluster-id and a --node-id of 0 or more")
	}
	if err := metaprops.Format(*dataDir, metaprops.Props{ClusterID: *clusterID, NodeID: int32(*nodeID), Role: metaprops.RoleBroker}, *ignore); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Formatted %s for cluster %s, broker %d\n", *dataDir, *clusterID, *nodeID)
	return nil
}

func serve(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("strata-broker run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodeID := fs.Int("node-id", -1, "this broker's id (required)")
	clusterID := fs.String("cluster-id", "", "the cluster id; when set it must match the data dir")
	dataDir := fs.String("data-dir", "", "the data directory (required)")
	fs.String(flagconf.ConfigFlag, "", "a properties file with any of these settings")
	listen := fs.String("listen", "127.0.0.1:9092", "the gRPC listen address")
	advertised := fs.String("advertised-address", "", "the address clients and other brokers use (default: the listen address)")
	controllers := fs.String("controllers", "", "any controllers' gRPC addresses, comma-separated (required)")
	rack := fs.String("rack", "", "this broker's rack, for rack-aware replica placement")
	metrics := fs.String("metrics-listen", "", "serve Prometheus /metrics on this address")
	autoCreate := fs.Bool("auto-create-topics", false, "create unknown topics on metadata requests and produce")
	rf := fs.Int("default-replication-factor", -1, "replication factor of auto-created topics (-1: the controllers' default)")
	partitions := fs.Int("num-partitions", -1, "partitions of auto-created topics (-1: the controllers' default)")
	fsync := fs.String("fsync", "never", "when appends are synced to disk: never (leave it to the OS, as Kafka) or batch (before each acknowledgement)")
	heartbeatMs := fs.Int("broker-heartbeat-interval-ms", 500, "how often the broker heartbeats the active controller")
	retentionMs := fs.Int("log-retention-check-interval-ms", 30000, "how often retention runs")
	offsetsPartitions := fs.Int("offsets-topic-num-partitions", 50, "partitions of __consumer_offsets, when a broker creates it")
	offsetsRF := fs.Int("offsets-topic-replication-factor", 0, "replication factor of __consumer_offsets (0: min(3, the registered brokers))")
	minSessionMs := fs.Int("group-min-session-timeout-ms", 6000, "the smallest session timeout a group member may ask for")
	maxSessionMs := fs.Int("group-max-session-timeout-ms", 1800000, "the largest session timeout a group member may ask for")
	sessionMs := fs.Int("group-session-timeout-ms", 45000, "the session timeout of members that ask for none")
	groupHeartbeatMs := fs.Int("group-heartbeat-interval-ms", 5000, "how often group members heartbeat (at most a third of their session timeout)")
	assignor := fs.String("group-assignor", "uniform", "the assignor of groups whose members ask for none: uniform, range or roundrobin")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "json", "json or text")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *offsetsRF < 0 || *offsetsRF > 32767 {
		return fmt.Errorf("--offsets-topic-replication-factor %d: use 0 (min(3, brokers)) or a replication factor up to 32767", *offsetsRF)
	}
	var policy broker.FsyncPolicy
	switch *fsync {
	case "never":
		policy = broker.FsyncNever
	case "batch":
		policy = broker.FsyncEveryBatch
	default:
		return fmt.Errorf("--fsync %q: use never or batch", *fsync)
	}
	log, err := telemetry.NewLogger(stderr, *logFormat, *level)
	if err != nil {
		return err
	}
	var addrs []string
	for _, a := range strings.Split(*controllers, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	srv, err := broker.New(broker.Config{
		NodeID: int32(*nodeID), ClusterID: *clusterID, DataDir: *dataDir, Listen: *listen, AdvertisedAddress: *advertised,
		Controllers: addrs, Rack: *rack, MetricsListen: *metrics, AutoCreateTopics: *autoCreate,
		DefaultReplicationFactor: int32(*rf), DefaultPartitions: int32(*partitions), Fsync: policy,
		HeartbeatInterval:      time.Duration(*heartbeatMs) * time.Millisecond,
		RetentionCheckInterval: time.Duration(*retentionMs) * time.Millisecond,
		Logger:                 log,
		Groups: broker.GroupConfig{
			OffsetsTopicPartitions: int32(*offsetsPartitions), OffsetsTopicReplicationFactor: int16(*offsetsRF),
			MinSessionTimeout: time.Duration(*minSessionMs) * time.Millisecond,
			MaxSessionTimeout: time.Duration(*maxSessionMs) * time.Millisecond,
			SessionTimeout:    time.Duration(*sessionMs) * time.Millisecond,
			HeartbeatInterval: time.Duration(*groupHeartbeatMs) * time.Millisecond,
			DefaultAssignor:   *assignor,
		},
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return srv.Run(ctx)
}
