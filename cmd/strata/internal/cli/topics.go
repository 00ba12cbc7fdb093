package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-log/strata/pkg/client"
)

func topicsCommand() *command {
	return group("topics", "create, list, describe, delete and alter topics",
		topicsCreate(), topicsList(), topicsDescribe(), topicsDelete(), topicsAlter())
}

func topicsCreate() *command {
	return &command{
		name: "create", summary: "create a topic", admin: true,
		synopsis: "strata topics create --topic T [--partitions N] [--replication-factor R] [--config k=v]... [--replica-assignment A] [--if-not-exists] [--validate-only]",
		help: `Create a topic and print "Created topic T." as kafka-topics does. Without
--partitions or --replication-factor the cluster's defaults apply.
--replica-assignment places the replicas explicitly instead:
"101:102,102:103" gives partition 0 replicas 101 and 102 and partition 1
replicas 102 and 103, preferred leader first.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			topic := fs.String("topic", "", "`NAME` the topic (required)")
			partitions := fs.Int("partitions", 0, "`N` partitions (default: the cluster's num.partitions)")
			rf := fs.Int("replication-factor", 0, "`R` replicas of each partition (default: the cluster's default.replication.factor)")
			var configs repeated
			fs.Var(&configs, "config", "`KEY=VALUE` a topic config; repeat the flag for several")
			assignment := fs.String("replica-assignment", "", "`A` explicit replicas: broker ids, ':' between a partition's replicas, ',' between partitions")
			ifNotExists := fs.Bool("if-not-exists", false, "succeed quietly when the topic exists")
			validateOnly := fs.Bool("validate-only", false, "check the request against the cluster and create nothing")
			return func(ctx context.Context) error {
				if *topic == "" {
					return s.usage("--topic is required")
				}
				spec := client.TopicSpec{Name: *topic}
				if given(fs, "partitions") {
					if *partitions < 1 {
						return s.usage("--partitions must be at least 1")
					}
					spec.Partitions = int32(*partitions)
				}
				if given(fs, "replication-factor") {
					if *rf < 1 || *rf > 32767 {
						return s.usage("--replication-factor must be between 1 and 32767")
					}
					spec.ReplicationFactor = int32(*rf)
				}
				if given(fs, "replica-assignment") {
					if given(fs, "partitions") || given(fs, "replication-factor") {
						return s.usage("--replica-assignment cannot be used with --partitions or --replication-factor")
					}
					a, err := parseAssignment(*assignment)
					if err != nil {
						return s.usage("--replica-assignment: %v", err)
					}
					spec.Assignments = a
				}
				var err error
				if spec.Configs, err = parseConfigFlags(configs); err != nil {
					return s.usage("%v", err)
				}
				admin, err := s.admin()
				if err != nil {
					return err
				}
				ctx, cancel := s.withTimeout(ctx)
				defer cancel()
				var opts []client.RequestOpt
				if *validateOnly {
					opts = append(opts, client.ValidateOnly())
				}
				err = firstError(admin.CreateTopics(ctx, []client.TopicSpec{spec}, opts...))
				switch {
				case errors.Is(err, client.ErrTopicAlreadyExists) && *ifNotExists:
					return nil
				case err != nil:
					return err
				case *validateOnly:
					fmt.Fprintf(s.stdout(), "Topic %s is valid; nothing was created (--validate-only).\n", *topic)
				default:
					fmt.Fprintf(s.stdout(), "Created topic %s.\n", *topic)
				}
				return nil
			}
		},
	}
}

func topicsList() *command {
	return &command{
		name: "list", summary: "list topic names", admin: true,
		synopsis: "strata topics list [--exclude-internal]",
		help: `Print every topic's name, one a line, sorted. Internal topics
(__consumer_offsets) are listed too unless --exclude-internal, as with
kafka-topics --list.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			exclude := fs.Bool("exclude-internal", false, "leave out internal topics")
			return func(ctx context.Context) error {
				admin, err := s.admin()
				if err != nil {
					return err
				}
				ctx, cancel := s.withTimeout(ctx)
				defer cancel()
				var opts []client.RequestOpt
				if !*exclude {
					opts = append(opts, client.IncludeInternal())
				}
				topics, err := admin.ListTopics(ctx, opts...)
				if err != nil {
					return err
				}
				writeTopicList(s.stdout(), topics)
				return nil
			}
		},
	}
}

// writeTopicList prints one topic name a line, sorted.
func writeTopicList(w io.Writer, topics []client.TopicListing) {
	names := make([]string, 0, len(topics))
	for _, t := range topics {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintln(w, n)
	}
}

func topicsDescribe() *command {
	return &command{
		name: "describe", summary: "describe topics and their partitions", admin: true,
		synopsis: "strata topics describe [--topic T] [--exclude-internal] [--under-replicated-partitions] [--unavailable-partitions] [--if-exists]",
		help: `Describe one topic, or every topic, as kafka-topics --describe prints it,
tab-separated: a line for the topic, then one for each partition.

Topic: T	TopicId: <id>	PartitionCount: 3	ReplicationFactor: 3	Configs: k=v,...
	Topic: T	Partition: 0	Leader: 101	Replicas: 101,102,103	Isr: 101,102,103

Leader is "none" when the partition has no leader; "	Offline: ..." follows
Isr when some replicas' brokers are fenced or gone. Configs are those set
on the topic. With --under-replicated-partitions (ISR smaller than the
replicas) or --unavailable-partitions (no live leader) only the matching
partition lines are printed.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			topic := fs.String("topic", "", "`NAME` describe only this topic")
			exclude := fs.Bool("exclude-internal", false, "leave out internal topics")
			under := fs.Bool("under-replicated-partitions", false, "print only partitions whose ISR is smaller than their replicas")
			unavailable := fs.Bool("unavailable-partitions", false, "print only partitions without a live leader")
			ifExists := fs.Bool("if-exists", false, "succeed quietly when the topic does not exist")
			return func(ctx context.Context) error {
				admin, err := s.admin()
				if err != nil {
					return err
				}
				ctx, cancel := s.withTimeout(ctx)
				defer cancel()
				var names []string
				if *topic != "" {
					names = []string{*topic}
				}
				var opts []client.RequestOpt
				if !*exclude {
					opts = append(opts, client.IncludeInternal())
				}
				details, err := admin.DescribeTopics(ctx, names, opts...)
				if err != nil {
					return err
				}
				for _, d := range details {
					switch {
					case d.Err == nil:
					case errors.Is(d.Err, client.ErrUnknownTopicOrPartition) && *ifExists:
						return nil
					case errors.Is(d.Err, client.ErrUnknownTopicOrPartition):
						return fmt.Errorf("topic '%s' does not exist", d.Name)
					default:
						return fmt.Errorf("topic %s: %w", d.Name, d.Err)
					}
				}
				writeTopicDescriptions(s.stdout(), details, partitionFilter{underReplicated: *under, unavailable: *unavailable})
				return nil
			}
		},
	}
}

// partitionFilter selects partition lines, as kafka-topics' --describe
// filters do; the zero value selects every partition and prints the topic
// lines too.
type partitionFilter struct {
	underReplicated bool
	unavailable     bool
}

func (f partitionFilter) any() bool { return f.underReplicated || f.unavailable }

func (f partitionFilter) match(p client.PartitionDetail) bool {
	if !f.any() {
		return true
	}
	if f.underReplicated && len(p.ISR) < len(p.Replicas) {
		return true
	}
	return f.unavailable && (p.Leader == client.NoLeader || slices.Contains(p.OfflineReplicas, p.Leader))
}

// writeTopicDescriptions prints topics as kafka-topics --describe does.
func writeTopicDescriptions(w io.Writer, topics []client.TopicDetail, f partitionFilter) {
	for _, t := range topics {
		if !f.any() {
			fmt.Fprintf(w, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
				t.Name, t.ID, len(t.Partitions), t.ReplicationFactor(), joinConfigs(t.Configs))
		}
		for _, p := range t.Partitions {
			if !f.match(p) {
				continue
			}
			leader := "none"
			if p.Leader != client.NoLeader {
				leader = strconv.Itoa(int(p.Leader))
			}
			fmt.Fprintf(w, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s", t.Name, p.ID, leader, joinIDs(p.Replicas), joinIDs(p.ISR))
			if len(p.OfflineReplicas) > 0 {
				fmt.Fprintf(w, "\tOffline: %s", joinIDs(p.OfflineReplicas))
			}
			fmt.Fprintln(w)
		}
	}
}

// joinConfigs prints configs as k=v,k2=v2 in name order.
func joinConfigs(m map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + m[k])
	}
	return b.String()
}

func joinIDs(ids []int32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(int(id))
	}
	return strings.Join(parts, ",")
}

func topicsDelete() *command {
	return &command{
		name: "delete", summary: "delete a topic and its data", admin: true,
		synopsis: "strata topics delete --topic T [--if-exists]",
		help:     `Delete a topic and its data. Like kafka-topics --delete, it prints nothing.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			topic := fs.String("topic", "", "`NAME` the topic (required)")
			ifExists := fs.Bool("if-exists", false, "succeed quietly when the topic does not exist")
			return func(ctx context.Context) error {
				if *topic == "" {
					return s.usage("--topic is required")
				}
				admin, err := s.admin()
				if err != nil {
					return err
				}
				ctx, cancel := s.withTimeout(ctx)
				defer cancel()
				return topicMissing(firstError(admin.DeleteTopics(ctx, *topic)), *topic, *ifExists)
			}
		},
	}
}

func topicsAlter() *command {
	return &command{
		name: "alter", summary: "add partitions to a topic", admin: true,
		synopsis: "strata topics alter --topic T --partitions N [--replica-assignment A] [--if-exists]",
		help: `Grow a topic to N partitions (partitions are never removed). The new
partitions' replicas are placed by the cluster, or given by
--replica-assignment for the new partitions only ("101:102,102:103").
Like kafka-topics --alter, it prints nothing. Configs are altered with
'strata configs alter'.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			topic := fs.String("topic", "", "`NAME` the topic (required)")
			partitions := fs.Int("partitions", 0, "`N` the new total number of partitions (required)")
			assignment := fs.String("replica-assignment", "", "`A` replicas of the new partitions only: broker ids, ':' between replicas, ',' between partitions")
			ifExists := fs.Bool("if-exists", false, "succeed quietly when the topic does not exist")
			return func(ctx context.Context) error {
				switch {
				case *topic == "":
					return s.usage("--topic is required")
				case !given(fs, "partitions"):
					return s.usage("--partitions is required")
				case *partitions < 1:
					return s.usage("--partitions must be at least 1")
				}
				spec := client.PartitionsSpec{Topic: *topic, Count: int32(*partitions)}
				if given(fs, "replica-assignment") {
					a, err := parseAssignment(*assignment)
					if err != nil {
						return s.usage("--replica-assignment: %v", err)
					}
					spec.Assignments = a
				}
				admin, err := s.admin()
				if err != nil {
					return err
				}
				ctx, cancel := s.withTimeout(ctx)
				defer cancel()
				return topicMissing(firstError(admin.CreatePartitions(ctx, []client.PartitionsSpec{spec})), *topic, *ifExists)
			}
		},
	}
}

// topicMissing words UNKNOWN_TOPIC_OR_PARTITION as kafka-topics does, or
// drops it with --if-exists.
func topicMissing(err error, topic string, ifExists bool) error {
	if !errors.Is(err, client.ErrUnknownTopicOrPartition) {
		return err
	}
	if ifExists {
		return nil
	}
	return fmt.Errorf("topic '%s' does not exist", topic)
}

// parseAssignment parses "101:102,102:103": partitions separated by
// commas, each a colon-separated list of broker ids.
func parseAssignment(s string) ([][]int32, error) {
	var out [][]int32
	for i, part := range strings.Split(s, ",") {
		var replicas []int32
		for id := range strings.SplitSeq(part, ":") {
			n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 32)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("partition %d: %q is not a broker id", i, id)
			}
			if slices.Contains(replicas, int32(n)) {
				return nil, fmt.Errorf("partition %d: broker %d is listed twice", i, n)
			}
			replicas = append(replicas, int32(n))
		}
		if i > 0 && len(replicas) != len(out[0]) {
			return nil, fmt.Errorf("partition %d has %d replicas, partition 0 has %d", i, len(replicas), len(out[0]))
		}
		out = append(out, replicas)
	}
	return out, nil
}

// parseConfigFlags turns repeated --config KEY=VALUE into a map.
func parseConfigFlags(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(flags))
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("--config %q is not KEY=VALUE", f)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("--config %s is given twice", k)
		}
		m[k] = strings.TrimSpace(v)
	}
	return m, nil
}

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string { return strings.Join(*r, " ") }

func (r *repeated) Set(v string) error {
	*r = append(*r, v)
	return nil
}

// given reports whether the flag name was on the command line.
func given(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}
