package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/recordbatch"
)

func produceCommand() *command {
	return &command{
		name: "produce", summary: "the console producer: one record per line of stdin", admin: true,
		synopsis: "strata produce --topic T [--property KEY=VALUE]... [--acks all|1|0|-1] [--compression-type C] [--print-acked]",
		help: `Send each line of stdin as a record, as kafka-console-producer does, and
wait for every record to be acknowledged before exiting. With
--print-acked, each acknowledged record is printed to stdout as
PARTITION<TAB>OFFSET<TAB>VALUE, in input order (offset -1 with --acks 0).
Records that fail are reported on stderr; the exit status is then 1.

Properties (--property KEY=VALUE), as kafka-console-producer's:
  parse.key=true          each line is KEY<separator>VALUE
  key.separator=S         the separator of parse.key (default a tab)
  ignore.error=true       a line without the separator is a value with a null key
  parse.headers=true      lines start with headers: K:V,K:V<TAB>...
  headers.delimiter=S     ends the headers (default a tab)
  headers.separator=S     between headers (default ",")
  headers.key.separator=S between a header's key and value (default ":")
  null.marker=S           a key, value or header value equal to S is null

Needs --bootstrap-server: the producer talks to brokers.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			topic := fs.String("topic", "", "`NAME` the topic to write to (required)")
			var props repeated
			fs.Var(&props, "property", "`KEY=VALUE` a reader property (see above); repeat the flag for several")
			acks := fs.String("acks", "all", "`ACKS` acknowledgements to wait for: all (-1), 1 or 0")
			compression := fs.String("compression-type", "none", "`CODEC` none, gzip, snappy, lz4 or zstd")
			printAcked := fs.Bool("print-acked", false, "print PARTITION<TAB>OFFSET<TAB>VALUE for each acknowledged record")
			return func(ctx context.Context) error {
				if *topic == "" {
					return s.usage("--topic is required")
				}
				a, err := client.ParseAcks(*acks)
				if err != nil {
					return s.usage("--acks: %v", err)
				}
				codec, err := recordbatch.ParseCompression(*compression)
				if err != nil {
					return s.usage("--compression-type: %v", err)
				}
				lr, err := newLineReader(props)
				if err != nil {
					return s.usage("%v", err)
				}
				servers, err := s.brokers()
				if err != nil {
					return err
				}
				return runProduce(ctx, s, produceArgs{topic: *topic, acks: a, codec: codec, printAcked: *printAcked, servers: servers, reader: lr})
			}
		},
	}
}

// brokers returns the bootstrap servers of a data-plane command.
func (s *session) brokers() ([]string, error) {
	cfg, err := s.conn.config(s.env.LookupEnv)
	if err != nil {
		return nil, s.usage("%v", err)
	}
	if len(cfg.Servers) == 0 {
		return nil, s.usage("needs --bootstrap-server: it talks to brokers; --bootstrap-controller is for admin commands")
	}
	return cfg.Servers, nil
}

type produceArgs struct {
	topic      string
	acks       client.Acks
	codec      recordbatch.Compression
	printAcked bool
	servers    []string
	reader     *lineReader
}

// sentRecord is a record handed to the producer, for the printer.
type sentRecord struct {
	line int
	d    *client.Delivery
}

func runProduce(ctx context.Context, s *session, a produceArgs) error {
	p, err := client.NewProducer(client.BootstrapServers(a.servers...), client.ClientID("strata-cli"),
		client.RequiredAcks(a.acks), client.Compression(a.codec),
		client.DeliveryTimeout(s.conn.timeout), client.MaxBlock(s.conn.timeout))
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			cctx, cancel := context.WithTimeout(context.Background(), s.conn.timeout)
			defer cancel()
			_ = p.Close(cctx)
		}
	}()
	tctx, cancel := s.withTimeout(ctx)
	_, err = p.PartitionsFor(tctx, a.topic)
	cancel()
	if err != nil {
		return err
	}

	// The printer waits for each delivery in input order.
	sent := make(chan sentRecord, 1024)
	type outcome struct {
		failed int
		first  error
	}
	printed := make(chan outcome, 1)
	go func() {
		var o outcome
		out := bufio.NewWriter(s.stdout())
		for sr := range sent {
			select {
			case <-sr.d.Done():
			default:
				_ = out.Flush() // about to wait: show what is acknowledged
			}
			r, err := sr.d.Wait(context.Background())
			if err != nil {
				o.failed++
				if o.first == nil {
					o.first = fmt.Errorf("line %d: %w", sr.line, err)
				}
				continue
			}
			if a.printAcked {
				_, _ = out.Write(formatAcked(r))
			}
		}
		_ = out.Flush()
		printed <- o
	}()

	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() { readErr <- readLines(s.env.Stdin, lines) }()
	total := 0
	var stop error
read:
	for {
		select {
		case <-ctx.Done():
			stop = ctx.Err()
			break read
		case line, ok := <-lines:
			if !ok {
				break read
			}
			total++
			rec, err := a.reader.parse(line, total)
			if err != nil {
				stop = err
				break read
			}
			rec.Topic = a.topic
			d, err := p.Send(ctx, rec)
			if err != nil {
				stop = fmt.Errorf("line %d: %w", total, err)
				break read
			}
			sent <- sentRecord{line: total, d: d}
		}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.conn.timeout)
	defer cancel()
	closeErr := p.Close(cctx)
	closed = true
	close(sent)
	o := <-printed
	if stop == nil {
		select {
		case err := <-readErr:
			stop = err
		default:
		}
	}
	switch {
	case stop != nil && !errors.Is(stop, context.Canceled):
		return stop
	case o.failed > 0:
		return fmt.Errorf("%d of %d records were not acknowledged; the first: %w", o.failed, total, o.first)
	case closeErr != nil && stop == nil:
		return closeErr
	}
	return nil
}

// readLines sends each line of r (without its line ending) to lines and
// closes it at the end of r.
func readLines(r io.Reader, lines chan<- string) error {
	defer close(lines)
	if r == nil {
		return nil
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			line = strings.TrimSuffix(line, "\n")
			line = strings.TrimSuffix(line, "\r")
			lines <- line
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
	}
}

// formatAcked is the --print-acked line: PARTITION<TAB>OFFSET<TAB>VALUE.
func formatAcked(r client.Record) []byte {
	b := fmt.Appendf(nil, "%d\t%d\t", r.Partition, r.Offset)
	b = append(b, r.Value...)
	return append(b, '\n')
}

// lineReader turns input lines into records, as Kafka's LineMessageReader.
type lineReader struct {
	parseKey      bool
	keySep        string
	ignoreError   bool
	parseHeaders  bool
	headersDelim  string
	headersSep    string
	headerKeySep  string
	nullMarker    string
	hasNullMarker bool
}

var producerProperties = []string{"parse.key", "key.separator", "ignore.error", "parse.headers", "headers.delimiter",
	"headers.separator", "headers.key.separator", "null.marker"}

func newLineReader(props []string) (*lineReader, error) {
	lr := &lineReader{keySep: "\t", headersDelim: "\t", headersSep: ",", headerKeySep: ":"}
	kv, err := parseProperties(props, producerProperties)
	if err != nil {
		return nil, err
	}
	for k, v := range kv {
		switch k {
		case "parse.key":
			lr.parseKey, err = parseBoolProperty(k, v)
		case "key.separator":
			lr.keySep = v
		case "ignore.error":
			lr.ignoreError, err = parseBoolProperty(k, v)
		case "parse.headers":
			lr.parseHeaders, err = parseBoolProperty(k, v)
		case "headers.delimiter":
			lr.headersDelim = v
		case "headers.separator":
			lr.headersSep = v
		case "headers.key.separator":
			lr.headerKeySep = v
		case "null.marker":
			lr.nullMarker, lr.hasNullMarker = v, true
		}
		if err != nil {
			return nil, err
		}
	}
	for name, v := range map[string]string{"key.separator": lr.keySep, "headers.delimiter": lr.headersDelim, "headers.separator": lr.headersSep, "headers.key.separator": lr.headerKeySep} {
		if v == "" {
			return nil, fmt.Errorf("--property %s must not be empty", name)
		}
	}
	return lr, nil
}

// parseProperties parses KEY=VALUE properties, refusing unknown keys and
// repeated ones.
func parseProperties(props []string, known []string) (map[string]string, error) {
	out := make(map[string]string)
	for _, p := range props {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("--property %q is not KEY=VALUE", p)
		}
		if !contains(known, k) {
			return nil, fmt.Errorf("--property %s is unknown: one of %s", k, strings.Join(known, ", "))
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--property %s is given twice", k)
		}
		out[k] = unescape(v)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unescape turns the escapes \t, \n and \\ of a property value into their
// characters, so that --property key.separator='\t' works from a shell.
func unescape(v string) string {
	return strings.NewReplacer(`\t`, "\t", `\n`, "\n", `\r`, "\r", `\\`, `\`).Replace(v)
}

func parseBoolProperty(k, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("--property %s=%s: want true or false", k, v)
}

// parse turns line number n into a record.
func (lr *lineReader) parse(line string, n int) (client.Record, error) {
	var r client.Record
	rest := line
	if lr.parseHeaders {
		h, body, ok := strings.Cut(rest, lr.headersDelim)
		if !ok {
			if !lr.ignoreError {
				return r, fmt.Errorf("line %d: no headers delimiter found: %q", n, line)
			}
			body = rest
			h = ""
		}
		rest = body
		if h != "" {
			for hdr := range strings.SplitSeq(h, lr.headersSep) {
				k, v, ok := strings.Cut(hdr, lr.headerKeySep)
				if !ok {
					return r, fmt.Errorf("line %d: header %q has no key separator %q", n, hdr, lr.headerKeySep)
				}
				r.Headers = append(r.Headers, client.Header{Key: k, Value: lr.bytes(v)})
			}
		}
	}
	if lr.parseKey {
		k, v, ok := strings.Cut(rest, lr.keySep)
		if !ok {
			if !lr.ignoreError {
				return r, fmt.Errorf("no key separator found on line number %d: '%s'", n, line)
			}
			r.Value = lr.bytes(rest)
			return r, nil
		}
		r.Key, r.Value = lr.bytes(k), lr.bytes(v)
		return r, nil
	}
	r.Value = lr.bytes(rest)
	return r, nil
}

// bytes is s as record bytes: nil when it is the null marker.
func (lr *lineReader) bytes(s string) []byte {
	if lr.hasNullMarker && s == lr.nullMarker {
		return nil
	}
	return []byte(s)
}
