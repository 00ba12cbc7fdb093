package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/recordbatch"
)

// Kafka's own vectors for Utils.murmur2 (clients UtilsTest.testMurmur2).
func TestMurmur2MatchesKafka(t *testing.T) {
	for key, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
		"1":   -1993445489,
		"12":  126087238,
		"123": -267702483,
	} {
		if got := Murmur2([]byte(key)); got != want {
			t.Errorf("Murmur2(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestKeyPartition(t *testing.T) {
	// toPositive clears the sign bit: -973932308 & 0x7fffffff = 1173551340.
	for _, tc := range []struct {
		key  string
		n    int
		want int32
	}{
		{"21", 1, 0}, {"21", 3, 1173551340 % 3}, {"21", 100, 1173551340 % 100},
		{"abc", 7, 479470107 % 7}, {"foobar", 12, int32((-790332482 & 0x7fffffff) % 12)},
		{"", 5, int32(uint32(Murmur2(nil))&0x7fffffff) % 5},
	} {
		if got := KeyPartition([]byte(tc.key), tc.n); got != tc.want {
			t.Errorf("KeyPartition(%q, %d) = %d, want %d", tc.key, tc.n, got, tc.want)
		}
	}
}

func TestStampProducerKeepsTheBatchValid(t *testing.T) {
	b := recordbatch.NewBuilder(recordbatch.LZ4, nil)
	b.Append(recordbatch.Record{Value: []byte("v"), Timestamp: 1})
	data, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	stampProducer(data, 42, 3, 17)
	if err := recordbatch.Verify(data); err != nil {
		t.Fatal(err)
	}
	h, _ := recordbatch.ParseHeader(data)
	if h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != 17 || h.Compression() != recordbatch.LZ4 {
		t.Fatalf("header %+v", h)
	}
}

func TestProducerAndConsumerOptionsAreChecked(t *testing.T) {
	bs := BootstrapServers("127.0.0.1:9092")
	for _, tc := range []struct {
		opts []Opt
		want string
	}{
		{[]Opt{bs, RequiredAcks(2)}, "client: RequiredAcks must be AcksAll, AcksLeader or AcksNone, not 2"},
		{[]Opt{bs, BatchSize(0)}, "client: BatchSize must be positive, not 0"},
		{[]Opt{bs, BatchSize(1 << 20), BufferMemory(1 << 10)}, "client: BufferMemory 1024 is below BatchSize 1048576"},
		{[]Opt{bs, Linger(-time.Second)}, "client: Linger must not be negative, not -1s"},
		{[]Opt{bs, DeliveryTimeout(0)}, "client: DeliveryTimeout must be positive, not 0s"},
		{[]Opt{bs, MaxInFlight(0)}, "client: MaxInFlight must be positive, not 0"},
		{[]Opt{bs, RequiredAcks(AcksLeader), Idempotent(true)}, "client: Idempotent needs RequiredAcks(AcksAll)"},
		{[]Opt{bs, Compression(9)}, "client: Compression: unknown codec 9"},
		{[]Opt{BootstrapControllers("127.0.0.1:9093")}, "client: the producer talks to brokers: use BootstrapServers, not BootstrapControllers"},
		{[]Opt{bs, AutoOffsetReset(OffsetResetNone)}, "client: NewProducer does not take consumer options"},
	} {
		p, err := NewProducer(tc.opts...)
		if err == nil {
			_ = p.Close(context.Background())
			t.Errorf("%s: no error", tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("error %q, want %q", err, tc.want)
		}
	}
	for _, tc := range []struct {
		opts []Opt
		want string
	}{
		{[]Opt{bs, MaxPollRecords(0)}, "client: MaxPollRecords must be positive, not 0"},
		{[]Opt{bs, FetchMaxBytes(-1)}, "client: FetchMaxBytes must be positive, not -1"},
		{[]Opt{bs, AutoOffsetReset(7)}, "client: AutoOffsetReset: unknown value 7"},
		{[]Opt{bs, Linger(time.Second)}, "client: NewConsumer does not take producer options"},
		{[]Opt{BootstrapControllers("127.0.0.1:9093")}, "client: the consumer talks to brokers: use BootstrapServers, not BootstrapControllers"},
	} {
		c, err := NewConsumer(tc.opts...)
		if err == nil {
			_ = c.Close()
			t.Errorf("%s: no error", tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("error %q, want %q", err, tc.want)
		}
	}
}

// A producer without a reachable broker: Send fails after MaxBlock, a
// record larger than MaxRequestSize at once, and Close stops everything.
func TestProducerWithoutBrokers(t *testing.T) {
	p, err := NewProducer(BootstrapServers("127.0.0.1:1"), MaxBlock(200*time.Millisecond), MaxRequestSize(1024), RetryBackoff(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.Send(ctx, Record{Topic: "t", Value: make([]byte, 2000)}); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("large record: %v", err)
	}
	start := time.Now()
	if _, err := p.Send(ctx, Record{Topic: "t", Value: []byte("v")}); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "NETWORK_EXCEPTION") {
		t.Fatalf("no broker: %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("Send gave up after %v, before MaxBlock", d)
	}
	if _, err := p.Send(ctx, Record{Value: []byte("v")}); err == nil {
		t.Fatal("a record without a topic was taken")
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, Record{Topic: "t"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}

	c, err := NewConsumer(BootstrapServers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Assign(TopicPartition{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Poll(pctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("poll: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Poll(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("poll after Close: %v", err)
	}
}
