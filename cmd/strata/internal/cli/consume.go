package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/strata-log/strata/pkg/client"
)

func consumeCommand() *command {
	return &command{
		name: "consume", summary: "the console consumer: print records to stdout", admin: true,
		synopsis: "strata consume --topic T [--from-beginning] [--group G | --partition N [--offset O]] [--max-messages N] [--timeout-ms MS] [--property KEY=VALUE]... [--consumer-property KEY=VALUE]...",
		help: `Print the records of a topic, one value a line, as kafka-console-consumer
does: from the end (new records only), or with --from-beginning from the
start. --partition reads one partition, from --offset (an offset,
earliest or latest). The command runs until Ctrl-C, --max-messages records,
or --timeout-ms without a record, then prints "Processed a total of N
messages" to stderr and exits 0.

With --group the consumer is a member of that consumer group: the group
shares the topic's partitions among its members, each starts at the
group's committed offset (--from-beginning only applies to partitions
without one), the positions are committed every 5 s and on exit (only the
printed records count), and the member leaves the group on exit.

Properties (--property KEY=VALUE), as kafka-console-consumer's; the fields
come in this order, separated by key.separator:
  print.timestamp=true    CreateTime:<ms>
  print.partition=true    Partition:<N>
  print.offset=true       Offset:<N>
  print.headers=true      K:V,K:V (NO_HEADERS when none)
  print.key=true          the key
  print.value=false       leaves out the value
  key.separator=S         between fields (default a tab)
  line.separator=S        after each record (default a newline)
  headers.separator=S     between headers (default ",")
  null.literal=S          prints a null key, value or header value (default "null")

Consumer properties (--consumer-property KEY=VALUE), with --group:
  session.timeout.ms=MS       how long the group waits for a silent member (default: the broker's)
  auto.commit.interval.ms=MS  how often positions are committed (default 5000)
  enable.auto.commit=false    commit only on exit
  group.remote.assignor=NAME  uniform (default), range or roundrobin
  client.id=ID                the client id the group shows (default strata-cli)

Needs --bootstrap-server: the consumer talks to brokers.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			topic := fs.String("topic", "", "`NAME` the topic to read (required)")
			fromBeginning := fs.Bool("from-beginning", false, "start at the earliest offset instead of the end")
			partition := fs.Int("partition", 0, "`N` read only this partition (default: every partition)")
			offset := fs.String("offset", "", "`O` where --partition starts: an offset, earliest or latest (default: latest, or earliest with --from-beginning)")
			maxMessages := fs.Int("max-messages", 0, "`N` exit after N records (default: no limit)")
			timeoutMs := fs.Int("timeout-ms", 0, "`MS` exit after MS milliseconds without a record (default: no limit)")
			var props repeated
			fs.Var(&props, "property", "`KEY=VALUE` a formatter property (see above); repeat the flag for several")
			groupID := fs.String("group", "", "`G` consume as a member of this consumer group")
			var consumerProps repeated
			fs.Var(&consumerProps, "consumer-property", "`KEY=VALUE` a consumer property (see above); repeat the flag for several")
			return func(ctx context.Context) error {
				switch {
				case *topic == "":
					return s.usage("--topic is required")
				case given(fs, "offset") && !given(fs, "partition"):
					return s.usage("--offset needs --partition")
				case given(fs, "offset") && *fromBeginning:
					return s.usage("--offset and --from-beginning cannot be used together")
				case *partition < 0:
					return s.usage("--partition must not be negative")
				case *maxMessages < 0:
					return s.usage("--max-messages must not be negative")
				case *timeoutMs < 0:
					return s.usage("--timeout-ms must not be negative")
				case given(fs, "group") && *groupID == "":
					return s.usage("--group must not be empty")
				case *groupID != "" && given(fs, "partition"):
					return s.usage("--group and --partition cannot be used together")
				case len(consumerProps) > 0 && *groupID == "":
					return s.usage("--consumer-property needs --group")
				}
				gopts, err := groupOptions(consumerProps)
				if err != nil {
					return s.usage("%v", err)
				}
				start := client.OffsetLatest
				if *fromBeginning {
					start = client.OffsetEarliest
				}
				if given(fs, "offset") {
					var err error
					if start, err = parseStartOffset(*offset); err != nil {
						return s.usage("--offset: %v", err)
					}
				}
				f, err := newFormatter(props)
				if err != nil {
					return s.usage("%v", err)
				}
				servers, err := s.brokers()
				if err != nil {
					return err
				}
				part := int32(-1)
				if given(fs, "partition") {
					part = int32(*partition)
				}
				return runConsume(ctx, s, consumeArgs{
					topic: *topic, partition: part, start: start, maxMessages: *maxMessages,
					timeout: time.Duration(*timeoutMs) * time.Millisecond, servers: servers, format: f,
					group: *groupID, groupOpts: gopts,
				})
			}
		},
	}
}

func parseStartOffset(s string) (int64, error) {
	switch s {
	case "earliest":
		return client.OffsetEarliest, nil
	case "latest":
		return client.OffsetLatest, nil
	}
	o, err := strconv.ParseInt(s, 10, 64)
	if err != nil || o < 0 {
		return 0, fmt.Errorf("%q is not an offset, earliest or latest", s)
	}
	return o, nil
}

type consumeArgs struct {
	topic       string
	partition   int32 // -1: every partition
	start       int64
	maxMessages int
	timeout     time.Duration
	servers     []string
	format      *formatter
	group       string       // "" outside a group
	groupOpts   []client.Opt // the consumer properties
}

func runConsume(ctx context.Context, s *session, a consumeArgs) error {
	reset := client.OffsetResetLatest
	if a.start == client.OffsetEarliest {
		reset = client.OffsetResetEarliest
	}
	opts := []client.Opt{client.BootstrapServers(a.servers...), client.ClientID("strata-cli"), client.AutoOffsetReset(reset)}
	if a.group != "" {
		opts = append(opts, client.Group(a.group))
		opts = append(opts, a.groupOpts...)
	}
	c, err := client.NewConsumer(opts...)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	tctx, cancel := s.withTimeout(ctx)
	n, err := c.PartitionsFor(tctx, a.topic)
	cancel()
	if err != nil {
		return err
	}
	if a.group != "" {
		return consumeGroup(ctx, s, c, a)
	}
	if a.partition >= 0 {
		if int(a.partition) >= n {
			return fmt.Errorf("topic %s has %d partitions: there is no partition %d", a.topic, n, a.partition)
		}
		tp := client.TopicPartition{Topic: a.topic, Partition: a.partition}
		if err := c.Assign(tp); err != nil {
			return err
		}
		if err := c.Seek(tp, a.start); err != nil {
			return err
		}
	} else if err := c.Subscribe(a.topic); err != nil {
		return err
	}
	return printRecords(ctx, s, c, a)
}

// printRecords prints what the consumer polls until --max-messages, Ctrl-C
// or --timeout-ms without a record. On the way out, the partitions of
// records taken but not printed (past --max-messages) are sought back to
// the first of them, so that the positions a group member commits at Close
// cover only what was printed.
func printRecords(ctx context.Context, s *session, c *client.Consumer, a consumeArgs) error {
	out := bufio.NewWriter(s.stdout())
	count := 0
	defer func() {
		_ = out.Flush()
		fmt.Fprintf(s.env.Stderr, "Processed a total of %d messages\n", count)
	}()
	for a.maxMessages == 0 || count < a.maxMessages {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if a.timeout > 0 {
			pctx, cancel = context.WithTimeout(ctx, a.timeout)
		}
		recs, err := c.Poll(pctx)
		cancel()
		unprinted := make(map[client.TopicPartition]int64)
		for _, r := range recs {
			tp := client.TopicPartition{Topic: r.Topic, Partition: r.Partition}
			if a.maxMessages > 0 && count >= a.maxMessages {
				if _, ok := unprinted[tp]; !ok {
					unprinted[tp] = r.Offset
				}
				continue
			}
			a.format.write(out, r)
			count++
		}
		for tp, o := range unprinted {
			if err := c.Seek(tp, o); err != nil {
				return err
			}
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("write stdout: %w", err)
		}
		switch {
		case err == nil:
		case ctx.Err() != nil, errors.Is(err, context.DeadlineExceeded):
			return nil // Ctrl-C or --timeout-ms: done
		default:
			return err
		}
	}
	return nil
}

// formatter prints records as Kafka's DefaultMessageFormatter.
type formatter struct {
	timestamp, partition, offset, headers, key, value bool

	keySep, lineSep, headersSep, null string
}

var consumerProperties = []string{"print.timestamp", "print.partition", "print.offset", "print.headers", "print.key",
	"print.value", "key.separator", "line.separator", "headers.separator", "null.literal"}

func newFormatter(props []string) (*formatter, error) {
	f := &formatter{value: true, keySep: "\t", lineSep: "\n", headersSep: ",", null: "null"}
	kv, err := parseProperties(props, consumerProperties)
	if err != nil {
		return nil, err
	}
	for k, v := range kv {
		var flag *bool
		switch k {
		case "print.timestamp":
			flag = &f.timestamp
		case "print.partition":
			flag = &f.partition
		case "print.offset":
			flag = &f.offset
		case "print.headers":
			flag = &f.headers
		case "print.key":
			flag = &f.key
		case "print.value":
			flag = &f.value
		case "key.separator":
			f.keySep = v
		case "line.separator":
			f.lineSep = v
		case "headers.separator":
			f.headersSep = v
		case "null.literal":
			f.null = v
		}
		if flag != nil {
			if *flag, err = parseBoolProperty(k, v); err != nil {
				return nil, err
			}
		}
	}
	return f, nil
}

// write prints one record: the fields asked for, each followed by the key
// separator but the last, which the line separator follows.
func (f *formatter) write(w io.Writer, r client.Record) {
	var fields []string
	if f.timestamp {
		fields = append(fields, "CreateTime:"+strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
	}
	if f.partition {
		fields = append(fields, "Partition:"+strconv.Itoa(int(r.Partition)))
	}
	if f.offset {
		fields = append(fields, "Offset:"+strconv.FormatInt(r.Offset, 10))
	}
	if f.headers {
		if len(r.Headers) == 0 {
			fields = append(fields, "NO_HEADERS")
		} else {
			hs := make([]string, len(r.Headers))
			for i, h := range r.Headers {
				hs[i] = h.Key + ":" + f.text(h.Value)
			}
			fields = append(fields, strings.Join(hs, f.headersSep))
		}
	}
	if f.key {
		fields = append(fields, f.text(r.Key))
	}
	if f.value {
		fields = append(fields, f.text(r.Value))
	}
	_, _ = io.WriteString(w, strings.Join(fields, f.keySep)+f.lineSep)
}

func (f *formatter) text(b []byte) string {
	if b == nil {
		return f.null
	}
	return string(b)
}
