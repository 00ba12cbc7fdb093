package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-log/strata/pkg/client"
)

// GroupAdmin is the part of pkg/client's Admin the groups commands use; the
// Admin that Env.NewAdmin makes must implement it too.
type GroupAdmin interface {
	ListGroups(ctx context.Context) ([]client.GroupListing, error)
	DescribeGroups(ctx context.Context, ids ...string) (client.Results[client.GroupDescription], error)
	ListGroupOffsets(ctx context.Context, group string) (map[client.TopicPartition]client.CommittedOffset, error)
	AlterGroupOffsets(ctx context.Context, group string, offsets map[client.TopicPartition]int64) error
	ListOffsets(ctx context.Context, spec int64, tps ...client.TopicPartition) (map[client.TopicPartition]int64, error)
	DescribeTopics(ctx context.Context, names []string, opts ...client.RequestOpt) (client.Results[client.TopicDetail], error)
}

// groupAdmin returns the admin client as a GroupAdmin; groups live on
// brokers, so it needs --bootstrap-server.
func (s *session) groupAdmin() (GroupAdmin, error) {
	if _, err := s.brokers(); err != nil {
		return nil, err
	}
	a, err := s.admin()
	if err != nil {
		return nil, err
	}
	ga, ok := a.(GroupAdmin)
	if !ok {
		return nil, errors.New("this admin client does not manage consumer groups")
	}
	return ga, nil
}

func groupsCommand() *command {
	return group("groups", "list, describe and reset consumer groups",
		groupsList(), groupsDescribe(), groupsResetOffsets())
}

func groupsList() *command {
	return &command{
		name: "list", summary: "list the consumer groups", admin: true,
		synopsis: "strata groups list",
		help: `Print every consumer group's id, one a line, sorted, as
kafka-consumer-groups --list does. Every broker is asked for the groups it
coordinates. Needs --bootstrap-server.`,
		setup: func(_ *flag.FlagSet, s *session) func(context.Context) error {
			return func(ctx context.Context) error {
				ga, err := s.groupAdmin()
				if err != nil {
					return err
				}
				ctx, cancel := s.withTimeout(ctx)
				defer cancel()
				gs, err := ga.ListGroups(ctx)
				if err != nil {
					return err
				}
				writeGroupList(s.stdout(), gs)
				return nil
			}
		},
	}
}

// writeGroupList prints group ids, one a line, sorted.
func writeGroupList(w io.Writer, gs []client.GroupListing) {
	ids := make([]string, 0, len(gs))
	for _, g := range gs {
		ids = append(ids, g.GroupID)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintln(w, id)
	}
}

func groupsDescribe() *command {
	return &command{
		name: "describe", summary: "describe a group's offsets and lag, or its members", admin: true,
		synopsis: "strata groups describe --group G [--members]",
		help: `Print what kafka-consumer-groups --describe prints: for each partition
the group reads or has an offset for, its committed offset, log end offset,
lag, and the member that owns it:

  GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID

"-" marks a value that does not exist (no committed offset, no owner).
With --members, one line per member instead:

  GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS

A group without members, or one rebalancing, is noted on stderr. Needs
--bootstrap-server.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			groupID := fs.String("group", "", "`G` the group (required)")
			members := fs.Bool("members", false, "describe the members instead of the offsets")
			return func(ctx context.Context) error {
				if *groupID == "" {
					return s.usage("--group is required")
				}
				ga, err := s.groupAdmin()
				if err != nil {
					return err
				}
				ctx, cancel := s.withTimeout(ctx)
				defer cancel()
				res, err := ga.DescribeGroups(ctx, *groupID)
				if err != nil {
					return err
				}
				d := res[0]
				switch {
				case errors.Is(d.Err, client.ErrGroupIDNotFound):
					return fmt.Errorf("Consumer group '%s' does not exist.", *groupID) //nolint:staticcheck // Kafka's text
				case d.Err != nil:
					return fmt.Errorf("group %s: %w", *groupID, d.Err)
				}
				if *members {
					writeGroupState(s.env.Stderr, d)
					writeGroupMembers(s.stdout(), d)
					return nil
				}
				rows, err := groupOffsetRows(ctx, ga, d)
				if err != nil {
					return err
				}
				writeGroupState(s.env.Stderr, d)
				writeGroupOffsets(s.stdout(), rows)
				return nil
			}
		},
	}
}

// writeGroupState notes on stderr what kafka-consumer-groups notes about a
// group's state.
func writeGroupState(w io.Writer, d client.GroupDescription) {
	switch d.State {
	case "Empty":
		fmt.Fprintf(w, "Consumer group '%s' has no active members.\n", d.GroupID)
	case "Reconciling", "Assigning":
		fmt.Fprintf(w, "Warning: Consumer group '%s' is rebalancing.\n", d.GroupID)
	}
}

// offsetRow is one line of groups describe.
type offsetRow struct {
	group, topic                 string
	partition                    int32 // -1: none
	current, logEnd              int64 // -1: none
	consumer, host, clientID     string
	hasCurrent, hasEnd, assigned bool
}

// groupOffsetRows joins the members' assignments, the committed offsets and
// the log end offsets, as kafka-consumer-groups --describe does.
func groupOffsetRows(ctx context.Context, ga GroupAdmin, d client.GroupDescription) ([]offsetRow, error) {
	committed, err := ga.ListGroupOffsets(ctx, d.GroupID)
	if err != nil {
		return nil, err
	}
	owner := make(map[client.TopicPartition]client.GroupMemberDescription)
	var idle []client.GroupMemberDescription
	for _, m := range d.Members {
		if len(m.Assignment) == 0 {
			idle = append(idle, m)
		}
		for _, tp := range m.Assignment {
			owner[tp] = m
		}
	}
	var tps []client.TopicPartition
	for tp := range owner {
		tps = append(tps, tp)
	}
	for tp := range committed {
		if _, ok := owner[tp]; !ok {
			tps = append(tps, tp)
		}
	}
	slices.SortFunc(tps, func(a, b client.TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	ends := map[client.TopicPartition]int64{}
	if len(tps) > 0 {
		if ends, err = ga.ListOffsets(ctx, client.OffsetLatest, tps...); err != nil {
			return nil, err
		}
	}
	var rows []offsetRow
	for _, tp := range tps {
		r := offsetRow{group: d.GroupID, topic: tp.Topic, partition: tp.Partition}
		if c, ok := committed[tp]; ok {
			r.current, r.hasCurrent = c.Offset, true
		}
		if e, ok := ends[tp]; ok {
			r.logEnd, r.hasEnd = e, true
		}
		if m, ok := owner[tp]; ok {
			r.consumer, r.host, r.clientID, r.assigned = m.MemberID, m.Host, m.ClientID, true
		}
		rows = append(rows, r)
	}
	for _, m := range idle {
		rows = append(rows, offsetRow{group: d.GroupID, partition: -1, consumer: m.MemberID, host: m.Host, clientID: m.ClientID, assigned: true})
	}
	return rows, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeGroupOffsets prints the rows in kafka-consumer-groups --describe's
// format: left-aligned columns at least 15 wide (10 for PARTITION), every
// line preceded by a newline, one at the end.
func writeGroupOffsets(w io.Writer, rows []offsetRow) {
	if len(rows) == 0 {
		return
	}
	gw, tw, cw, hw := 15, 15, 15, 15
	for _, r := range rows {
		gw, tw, cw, hw = max(gw, len(r.group)), max(tw, len(r.topic)), max(cw, len(r.consumer)), max(hw, len(r.host))
	}
	line := func(cols ...string) {
		fmt.Fprintf(w, "\n%-*s %-*s %-10s %-15s %-15s %-15s %-*s %-*s %s",
			gw, cols[0], tw, cols[1], cols[2], cols[3], cols[4], cols[5], cw, cols[6], hw, cols[7], cols[8])
	}
	line("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
	for _, r := range rows {
		part, cur, end, lag := "-", "-", "-", "-"
		if r.partition >= 0 {
			part = strconv.Itoa(int(r.partition))
		}
		if r.hasCurrent {
			cur = strconv.FormatInt(r.current, 10)
		}
		if r.hasEnd {
			end = strconv.FormatInt(r.logEnd, 10)
		}
		if r.hasCurrent && r.hasEnd {
			lag = strconv.FormatInt(max(r.logEnd-r.current, 0), 10)
		}
		line(r.group, dash(r.topic), part, cur, end, lag, dash(r.consumer), dash(r.host), dash(r.clientID))
	}
	fmt.Fprintln(w)
}

// writeGroupMembers prints the members in kafka-consumer-groups --describe
// --members' format.
func writeGroupMembers(w io.Writer, d client.GroupDescription) {
	if len(d.Members) == 0 {
		return
	}
	gw, cw, hw, lw := 15, 15, 15, 15
	for _, m := range d.Members {
		gw, cw, hw, lw = max(gw, len(d.GroupID)), max(cw, len(m.MemberID)), max(hw, len(m.Host)), max(lw, len(m.ClientID))
	}
	line := func(cols ...string) {
		fmt.Fprintf(w, "%-*s %-*s %-*s %-*s %-15s \n", gw, cols[0], cw, cols[1], hw, cols[2], lw, cols[3], cols[4])
	}
	fmt.Fprintln(w)
	line("GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS")
	members := slices.Clone(d.Members)
	slices.SortFunc(members, func(a, b client.GroupMemberDescription) int {
		if n := len(b.Assignment) - len(a.Assignment); n != 0 {
			return n
		}
		return strings.Compare(a.MemberID, b.MemberID)
	})
	for _, m := range members {
		line(d.GroupID, m.MemberID, dash(m.Host), dash(m.ClientID), strconv.Itoa(len(m.Assignment)))
	}
}

func groupsResetOffsets() *command {
	return &command{
		name: "reset-offsets", summary: "reset a group's committed offsets of a topic", admin: true,
		synopsis: "strata groups reset-offsets --group G --topic T --to-earliest|--to-latest [--execute | --dry-run]",
		help: `Set the group's committed offsets of every partition of the topic to its
earliest offset (the log start) or its latest (the log end), as
kafka-consumer-groups --reset-offsets does, and print the new offsets:

  GROUP TOPIC PARTITION NEW-OFFSET

Nothing changes without --execute (--dry-run only prints the plan). The
group must have no active members: stop its consumers first. Needs
--bootstrap-server.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			groupID := fs.String("group", "", "`G` the group (required)")
			topic := fs.String("topic", "", "`T` the topic whose offsets are reset (required)")
			earliest := fs.Bool("to-earliest", false, "reset to the earliest offsets")
			latest := fs.Bool("to-latest", false, "reset to the latest offsets")
			execute := fs.Bool("execute", false, "commit the new offsets")
			dryRun := fs.Bool("dry-run", false, "only print the new offsets (the default)")
			return func(ctx context.Context) error {
				switch {
				case *groupID == "":
					return s.usage("--group is required")
				case *topic == "":
					return s.usage("--topic is required")
				case *earliest == *latest:
					return s.usage("give one of --to-earliest and --to-latest")
				case *execute && *dryRun:
					return s.usage("--execute and --dry-run cannot be used together")
				}
				ga, err := s.groupAdmin()
				if err != nil {
					return err
				}
				ctx, cancel := s.withTimeout(ctx)
				defer cancel()
				offsets, err := planReset(ctx, ga, *groupID, *topic, *earliest)
				if err != nil {
					return err
				}
				if !*execute && !*dryRun {
					fmt.Fprintln(s.env.Stderr, "WARN: No action will be performed as the --execute option is missing. Add --execute to reset the offsets, or --dry-run to only print them.")
				}
				if *execute {
					if err := ga.AlterGroupOffsets(ctx, *groupID, offsets); err != nil {
						return err
					}
				}
				writeResetOffsets(s.stdout(), *groupID, offsets)
				return nil
			}
		},
	}
}

// planReset checks that the group is inactive and finds the topic's
// earliest or latest offsets.
func planReset(ctx context.Context, ga GroupAdmin, group, topic string, earliest bool) (map[client.TopicPartition]int64, error) {
	res, err := ga.DescribeGroups(ctx, group)
	if err != nil {
		return nil, err
	}
	d := res[0]
	if d.Err != nil && !errors.Is(d.Err, client.ErrGroupIDNotFound) {
		return nil, fmt.Errorf("group %s: %w", group, d.Err)
	}
	if d.Err == nil && d.State != "Empty" && d.State != "Dead" {
		return nil, fmt.Errorf("Assignments can only be reset if the group '%s' is inactive, but the current state is %s.", group, d.State) //nolint:staticcheck // Kafka's text
	}
	topics, err := firstErrorOf(ga.DescribeTopics(ctx, []string{topic}))
	if err != nil {
		if errors.Is(err, client.ErrUnknownTopicOrPartition) {
			return nil, fmt.Errorf("topic '%s' does not exist", topic)
		}
		return nil, err
	}
	var tps []client.TopicPartition
	for _, p := range topics[0].Partitions {
		tps = append(tps, client.TopicPartition{Topic: topic, Partition: p.ID})
	}
	spec := client.OffsetLatest
	if earliest {
		spec = client.OffsetEarliest
	}
	return ga.ListOffsets(ctx, spec, tps...)
}

func firstErrorOf(res client.Results[client.TopicDetail], err error) (client.Results[client.TopicDetail], error) {
	if err != nil {
		return nil, err
	}
	return res, res.FirstError()
}

// writeResetOffsets prints the new offsets as kafka-consumer-groups
// --reset-offsets does.
func writeResetOffsets(w io.Writer, group string, offsets map[client.TopicPartition]int64) {
	if len(offsets) == 0 {
		return
	}
	tps := make([]client.TopicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b client.TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	fmt.Fprintf(w, "\n%-30s %-30s %-10s %-15s", "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET")
	for _, tp := range tps {
		fmt.Fprintf(w, "\n%-30s %-30s %-10s %-15s", group, tp.Topic, strconv.Itoa(int(tp.Partition)), strconv.FormatInt(offsets[tp], 10))
	}
	fmt.Fprintln(w)
}
