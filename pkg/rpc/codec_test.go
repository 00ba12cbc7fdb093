package rpc

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// produceOf is a produce request carrying n random bytes of records.
func produceOf(rng *rand.Rand, n int) *stratav1.ProduceRequest {
	records := make([]byte, n)
	for i := range records {
		records[i] = byte(rng.Uint32())
	}
	return &stratav1.ProduceRequest{Acks: -1, TimeoutMs: 1500, Topics: []*stratav1.ProduceTopic{{
		Name: "orders", Partitions: []*stratav1.ProducePartition{{PartitionId: 3, Records: records}},
	}}}
}

// frames splits b into buffers of at most 16 KiB, as messages arrive in
// HTTP/2 frames.
func frames(b []byte) mem.BufferSlice {
	var s mem.BufferSlice
	for len(b) > 0 {
		n := min(len(b), 16<<10)
		s = append(s, mem.SliceBuffer(bytes.Clone(b[:n])))
		b = b[n:]
	}
	return s
}

// TestCodecRoundTrip encodes messages around the pool's size classes,
// largest first so that the smaller ones reuse buffers holding older bytes,
// and checks that the encoding is protobuf's and decodes back from frames.
func TestCodecRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{5 << 20, 1<<20 + 1, 64<<10 + 100, 64 << 10, 40 << 10, 16<<10 - 30, 4 << 10, 900, 0} {
		m := produceOf(rng, n)
		want, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		data, err := codec.Marshal(m)
		if err != nil {
			t.Fatalf("%d bytes of records: %v", n, err)
		}
		if got := data.Materialize(); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes of records: encoded %d bytes that differ from protobuf's %d", n, len(got), len(want))
		}
		data.Free()
		var back stratav1.ProduceRequest
		if err := codec.Unmarshal(frames(want), &back); err != nil {
			t.Fatalf("%d bytes of records: %v", n, err)
		}
		if !proto.Equal(&back, m) {
			t.Fatalf("%d bytes of records: decoded a different message", n)
		}
	}
	if _, err := codec.Marshal("not a message"); err == nil {
		t.Fatal("marshalled a string")
	}
	if err := codec.Unmarshal(frames([]byte{0xFF}), &stratav1.ProduceRequest{}); err == nil {
		t.Fatal("decoded a truncated message")
	}
}

func TestClassPool(t *testing.T) {
	p := &classPool{}
	for n, want := range map[int]int{1 << 20: 20, 1<<20 + 1: 21, 64 << 20: 26} {
		if c, ok := class(n); !ok || c != want {
			t.Fatalf("class(%d) = %d, %v, want %d", n, c, ok, want)
		}
	}
	if c, ok := class(64<<20 + 1); ok {
		t.Fatalf("class(64 MiB + 1) = %d, want none", c)
	}
	for _, tc := range []struct{ n, cap int }{
		{1, 4 << 10}, {4 << 10, 4 << 10}, {4<<10 + 1, 8 << 10}, {65 << 10, 128 << 10},
	} {
		b := p.Get(tc.n)
		if len(*b) != tc.n || cap(*b) != tc.cap {
			t.Fatalf("Get(%d): len %d cap %d, want cap %d", tc.n, len(*b), cap(*b), tc.cap)
		}
		p.Put(b)
	}
	// A buffer that is not of a class size is not kept: a later Get never
	// returns a buffer too small for its class.
	odd := make([]byte, 5000)
	p.Put(&odd)
	if b := p.Get(8 << 10); cap(*b) != 8<<10 {
		t.Fatalf("Get(8 KiB) after Put of a 5000-byte buffer: cap %d", cap(*b))
	}
}

// echoBroker keeps the records of the last Produce and serves them back
// from Fetch: large messages in both directions.
type echoBroker struct {
	stratav1.UnimplementedBrokerServiceServer
	mu      sync.Mutex
	records []byte
}

func (e *echoBroker) Produce(_ context.Context, req *stratav1.ProduceRequest) (*stratav1.ProduceResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.records = req.GetTopics()[0].GetPartitions()[0].GetRecords()
	return &stratav1.ProduceResponse{}, nil
}

func (e *echoBroker) Fetch(_ *stratav1.FetchRequest, stream grpc.ServerStreamingServer[stratav1.FetchResponse]) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return stream.Send(&stratav1.FetchResponse{Topics: []*stratav1.FetchTopicResult{{
		Name: "orders", Partitions: []*stratav1.FetchPartitionResult{{Records: e.records}},
	}}})
}

// TestCodecOverTheWire sends large messages both ways between a server of
// NewServer and clients of Dial and of plain gRPC options.
func TestCodecOverTheWire(t *testing.T) {
	srv, err := NewServer(ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	stratav1.RegisterBrokerServiceServer(srv, &echoBroker{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	rng := rand.New(rand.NewPCG(3, 4))
	for name, cc := range map[string]*grpc.ClientConn{"Dial": dial(t, lis.Addr().String(), DialConfig{}), "plain": dialRaw(t, lis.Addr().String())} {
		cl := stratav1.NewBrokerServiceClient(cc)
		for _, n := range []int{3 << 20, 100 << 10, 20} {
			ctx := testContext(t)
			req := produceOf(rng, n)
			if _, err := cl.Produce(ctx, req); err != nil {
				t.Fatalf("%s, %d bytes: produce: %v", name, n, err)
			}
			stream, err := cl.Fetch(ctx, &stratav1.FetchRequest{MaxBytes: 1})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if err != nil {
				t.Fatalf("%s, %d bytes: fetch: %v", name, n, err)
			}
			if got := resp.GetTopics()[0].GetPartitions()[0].GetRecords(); !bytes.Equal(got, req.GetTopics()[0].GetPartitions()[0].GetRecords()) {
				t.Fatalf("%s, %d bytes: fetched %d different bytes", name, n, len(got))
			}
		}
	}
}
