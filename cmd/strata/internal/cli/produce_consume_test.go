package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/client"
)

const bsServer = "--bootstrap-server=127.0.0.1:9092"

func TestProduceConsumeUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"produce", bsServer}, "strata: produce: --topic is required (see 'strata produce --help')"},
		{[]string{"produce", "--topic=t", "--acks=2", bsServer}, `strata: produce: --acks: acks "2": want all, -1, 1 or 0 (see 'strata produce --help')`},
		{[]string{"produce", "--topic=t", "--compression-type=brotli", bsServer},
			`strata: produce: --compression-type: unknown compression "brotli" (want none, gzip, snappy, lz4 or zstd) (see 'strata produce --help')`},
		{[]string{"produce", "--topic=t", "--property=parse.key", bsServer}, `strata: produce: --property "parse.key" is not KEY=VALUE (see 'strata produce --help')`},
		{[]string{"produce", "--topic=t", "--property=parse.key=yes", bsServer}, "strata: produce: --property parse.key=yes: want true or false (see 'strata produce --help')"},
		{[]string{"produce", "--topic=t", "--property=print.key=true", bsServer},
			"strata: produce: --property print.key is unknown: one of " + strings.Join(producerProperties, ", ") + " (see 'strata produce --help')"},
		{[]string{"produce", "--topic=t", "--property=key.separator=", bsServer}, "strata: produce: --property key.separator must not be empty (see 'strata produce --help')"},
		{[]string{"produce", "--topic=t", "--bootstrap-controller=127.0.0.1:9093"},
			"strata: produce: needs --bootstrap-server: it talks to brokers; --bootstrap-controller is for admin commands (see 'strata produce --help')"},
		{[]string{"produce", "--topic=t"},
			"strata: produce: no cluster to talk to: set --bootstrap-server or --bootstrap-controller (or $STRATA_BOOTSTRAP_SERVER) (see 'strata produce --help')"},
		{[]string{"consume", bsServer}, "strata: consume: --topic is required (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--offset=3", bsServer}, "strata: consume: --offset needs --partition (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--partition=0", "--offset=3", "--from-beginning", bsServer},
			"strata: consume: --offset and --from-beginning cannot be used together (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--partition=0", "--offset=soon", bsServer},
			`strata: consume: --offset: "soon" is not an offset, earliest or latest (see 'strata consume --help')`},
		{[]string{"consume", "--topic=t", "--partition=-2", bsServer}, "strata: consume: --partition must not be negative (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--max-messages=-1", bsServer}, "strata: consume: --max-messages must not be negative (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--timeout-ms=-1", bsServer}, "strata: consume: --timeout-ms must not be negative (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--property=print.key=maybe", bsServer}, "strata: consume: --property print.key=maybe: want true or false (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--property=print.key=true", "--property=print.key=false", bsServer},
			"strata: consume: --property print.key is given twice (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--group=g", "--partition=1", bsServer}, "strata: consume: --group and --partition cannot be used together (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--group=", bsServer}, "strata: consume: --group must not be empty (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--consumer-property=session.timeout.ms=1", bsServer}, "strata: consume: --consumer-property needs --group (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--group=g", "--consumer-property=session.timeout.ms=soon", bsServer},
			"strata: consume: --consumer-property session.timeout.ms=soon: want a positive number of milliseconds (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--group=g", "--consumer-property=fetch.min.bytes=1", bsServer},
			"strata: consume: --consumer-property fetch.min.bytes is unknown: one of " + strings.Join(groupConsumerProperties, ", ") + " (see 'strata consume --help')"},
		{[]string{"consume", "--topic=t", "--group=g", "--consumer-property=enable.auto.commit=maybe", bsServer},
			"strata: consume: --consumer-property enable.auto.commit=maybe: want true or false (see 'strata consume --help')"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := run(t, nil, nil, tc.args...)
			if r.code != ExitUsage || r.stderr != tc.want+"\n" || r.stdout != "" {
				t.Fatalf("exit %d\nstderr %q\nwant   %q\nstdout %q", r.code, r.stderr, tc.want+"\n", r.stdout)
			}
		})
	}
}

func TestLineReader(t *testing.T) {
	for _, tc := range []struct {
		props []string
		line  string
		want  string // key|value|headers, "<nil>" for null
		err   string
	}{
		{nil, "hello world", "<nil>|hello world|", ""},
		{nil, "", "<nil>||", ""},
		{[]string{"parse.key=true"}, "k\tv\tw", "k|v\tw|", ""},
		{[]string{"parse.key=true", "key.separator=:"}, "user-1:clicked", "user-1|clicked|", ""},
		{[]string{"parse.key=true", `key.separator=\t`}, "a\tb", "a|b|", ""},
		{[]string{"parse.key=true"}, "novalue", "", "no key separator found on line number 7: 'novalue'"},
		{[]string{"parse.key=true", "ignore.error=true"}, "novalue", "<nil>|novalue|", ""},
		{[]string{"parse.key=true", "null.marker=NULL"}, "NULL\tv", "<nil>|v|", ""},
		{[]string{"parse.key=true", "parse.headers=true"}, "h1:a,h2:b\tk\tv", "k|v|h1=a,h2=b", ""},
		{[]string{"parse.headers=true", "null.marker=-"}, "h:-\tv", "<nil>|v|h=<nil>", ""},
		{[]string{"parse.headers=true"}, "h1\tv", "", `line 7: header "h1" has no key separator ":"`},
	} {
		lr, err := newLineReader(tc.props)
		if err != nil {
			t.Fatal(err)
		}
		r, err := lr.parse(tc.line, 7)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%v %q: error %v, want %q", tc.props, tc.line, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v %q: %v", tc.props, tc.line, err)
		}
		var hs []string
		for _, h := range r.Headers {
			hs = append(hs, h.Key+"="+show(h.Value))
		}
		if got := show(r.Key) + "|" + show(r.Value) + "|" + strings.Join(hs, ","); got != tc.want {
			t.Errorf("%v %q: %q, want %q", tc.props, tc.line, got, tc.want)
		}
	}
}

func show(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	return string(b)
}

// TestProduceConsumeFormats keeps --print-acked's lines and the console
// consumer's formats in testdata.
func TestProduceConsumeFormats(t *testing.T) {
	var b bytes.Buffer
	for i, v := range []string{"first", "", "tab\tinside"} {
		b.Write(formatAcked(client.Record{Partition: int32(i % 2), Offset: int64(40 + i), Value: []byte(v)}))
	}
	b.Write(formatAcked(client.Record{Partition: 2, Offset: -1, Value: []byte("acks=0")}))
	golden(t, "produce-print-acked", b.String())

	ts := time.UnixMilli(1712860203036)
	recs := []client.Record{
		{Partition: 0, Offset: 7, Timestamp: ts, Key: []byte("user-1"), Value: []byte("clicked"),
			Headers: []client.Header{{Key: "trace", Value: []byte("abc")}, {Key: "empty", Value: nil}}},
		{Partition: 2, Offset: 12, Timestamp: ts.Add(time.Second), Key: nil, Value: []byte("no key")},
		{Partition: 1, Offset: 0, Timestamp: ts, Key: []byte("k"), Value: nil},
	}
	for _, tc := range []struct {
		name  string
		props []string
	}{
		{"consume-values", nil},
		{"consume-key", []string{"print.key=true"}},
		{"consume-all-fields", []string{"print.timestamp=true", "print.partition=true", "print.offset=true", "print.headers=true", "print.key=true"}},
		{"consume-separators", []string{"print.key=true", "print.partition=true", "key.separator=|", `line.separator=;\n`, "null.literal=<null>"}},
		{"consume-no-value", []string{"print.offset=true", "print.value=false"}},
	} {
		f, err := newFormatter(tc.props)
		if err != nil {
			t.Fatal(err)
		}
		b.Reset()
		for _, r := range recs {
			f.write(&b, r)
		}
		golden(t, tc.name, b.String())
	}
}

func TestProduceAgainstNoBrokerFailsInOneLine(t *testing.T) {
	// Nothing listens on the address: the topic lookup fails within
	// --timeout, with exit 1 and one line.
	l := freeAddr(t)
	r := run(t, nil, nil, "produce", "--topic=t", "--bootstrap-server="+l, "--timeout=300ms")
	if r.code != ExitFailed || !strings.HasPrefix(r.stderr, "strata: ") || !strings.Contains(r.stderr, "context deadline exceeded") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, nil, nil, "consume", "--topic=t", "--bootstrap-server="+l, "--timeout=300ms")
	if r.code != ExitFailed || !strings.HasPrefix(r.stderr, "strata: ") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", 1) // port 1: refused on loopback
}
