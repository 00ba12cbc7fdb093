package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
)

// brokerProc is a strata-broker process on its data dir and address.
type brokerProc struct {
	id             int
	bin, dir, addr string
	controllers    []string
	proc           *daemon
}

func newBrokerProc(t *testing.T, bin binaries, clusterID string, controllers []string, id int) *brokerProc {
	t.Helper()
	b := &brokerProc{id: id, bin: bin.broker, dir: filepath.Join(t.TempDir(), fmt.Sprintf("broker-%d", id)), addr: testutil.FreeAddr(t), controllers: controllers}
	out := mustRun(t, bin.broker, "format", "--data-dir", b.dir, "--cluster-id", clusterID, "--node-id", fmt.Sprint(id))
	if want := fmt.Sprintf("Formatted %s for cluster %s, broker %d\n", b.dir, clusterID, id); out != want {
		t.Fatalf("format printed %q, want %q", out, want)
	}
	return b
}

func (b *brokerProc) start(t *testing.T) {
	t.Helper()
	b.proc = start(t, fmt.Sprintf("broker %d", b.id), b.bin, "run", "--node-id", fmt.Sprint(b.id), "--data-dir", b.dir, "--listen", b.addr,
		"--controllers", strings.Join(b.controllers, ","), "--log-format", "text", "--log-level", "warn")
}

// startOneBroker starts 3 controller processes and broker 101, and dials
// the broker (the connection closes with the test).
func startOneBroker(t *testing.T) (*brokerProc, *grpc.ClientConn) {
	t.Helper()
	bin := build(t)
	clusterID := strings.TrimSpace(mustRun(t, bin.strata, "storage", "random-uuid"))
	set := startControllers(t, bin, clusterID, 3)
	b := newBrokerProc(t, bin, clusterID, set.grpc, 101)
	b.start(t)
	conn, err := rpc.Dial(b.addr, rpc.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return b, conn
}

// waitLeading waits until the broker's Metadata names it the leader of
// every partition of topic, in a leader epoch of at least minEpoch, and
// returns the epochs.
func waitLeading(t *testing.T, cl stratav1.BrokerServiceClient, topic string, partitions int, minEpoch int32) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		md, err := cl.Metadata(ctx, &stratav1.MetadataRequest{Topics: []string{topic}})
		if err != nil {
			return err
		}
		tm := md.GetTopics()[0]
		if tm.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE || len(tm.GetPartitions()) != partitions {
			return fmt.Errorf("%s: %v %s", topic, tm.GetErrorCode(), tm.GetErrorMessage())
		}
		for _, p := range tm.GetPartitions() {
			if p.GetLeader() != 101 || p.GetLeaderEpoch() < minEpoch {
				return fmt.Errorf("%s-%d: leader %d epoch %d", topic, p.GetPartitionId(), p.GetLeader(), p.GetLeaderEpoch())
			}
		}
		return nil
	})
}

// ackedBatch is a batch the broker acknowledged.
type ackedBatch struct {
	partition int32
	base      int64
	values    []string
}

// TestBrokerKill9KeepsEveryAcknowledgedRecord: a producer pipelines acks=1
// batches over a ProduceStream into a real strata-broker process; the
// broker is killed with SIGKILL in the middle of the load and restarted.
// Every acknowledged record is then there exactly once, at its
// acknowledged offset; the offsets have no gap, and no batch is partial
// (each one decodes with its CRC). Then SIGTERM stops the broker cleanly
// (exit 0), ending an open long-poll Fetch.
func TestBrokerKill9KeepsEveryAcknowledgedRecord(t *testing.T) {
	b, conn := startOneBroker(t)
	cl := stratav1.NewBrokerServiceClient(conn)

	const topic, partitions = "durable", 3
	createTopicRF1(t, conn, topic, partitions)
	waitLeading(t, cl, topic, partitions, 0)

	acked, sent := produceUntilKilled(t, conn, topic, partitions, func() { b.proc.kill() })
	t.Logf("%d batches sent, %d acknowledged before the kill", sent, len(acked))

	b.start(t)
	waitLeading(t, cl, topic, partitions, 1) // fenced while down, it leads again in a new epoch
	seen := make(map[string]bool)
	stored := make(map[int32]map[int64]string)
	for p := range int32(partitions) {
		stored[p] = make(map[int64]string)
		end := latest(t, cl, topic, p)
		recs := readAll(t, cl, topic, p, end)
		for i, r := range recs {
			if r.offset != int64(i) {
				t.Fatalf("%s-%d: record %d at offset %d: a gap", topic, p, i, r.offset)
			}
			if seen[r.value] {
				t.Fatalf("%s-%d: record %q stored twice", topic, p, r.value)
			}
			seen[r.value] = true
			stored[p][r.offset] = r.value
		}
	}
	for _, a := range acked {
		for i, v := range a.values {
			if got := stored[a.partition][a.base+int64(i)]; got != v {
				t.Fatalf("acknowledged record %q at %s-%d offset %d: found %q", v, topic, a.partition, a.base+int64(i), got)
			}
		}
	}

	// SIGTERM with a long poll open: the broker stops cleanly and the
	// stream ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := cl.Fetch(ctx, &stratav1.FetchRequest{MaxWaitMs: 60000, MinBytes: 1 << 30, MaxBytes: 1 << 20, Topics: []*stratav1.FetchTopic{{
		Name: topic, Partitions: []*stratav1.FetchPartition{{PartitionId: 0, FetchOffset: 0, CurrentLeaderEpoch: -1}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				ended <- err
				return
			}
		}
	}()
	start := time.Now()
	b.proc.stop(t, 20*time.Second)
	t.Logf("SIGTERM to exit: %v", time.Since(start))
	select {
	case err := <-ended:
		if errors.Is(err, io.EOF) {
			t.Logf("fetch stream ended cleanly")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fetch stream did not end with the broker")
	}
}

// produceUntilKilled pipelines acks=1 batches (8 in flight) over a
// ProduceStream, round robin over the partitions and the codecs, calls kill
// once 300 batches are acknowledged, and returns the acknowledged batches
// when the stream breaks.
func produceUntilKilled(t *testing.T, conn *grpc.ClientConn, topic string, partitions int, kill func()) ([]ackedBatch, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := stratav1.NewBrokerServiceClient(conn).ProduceStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	codecs := []recordbatch.Compression{recordbatch.None, recordbatch.LZ4, recordbatch.Zstd, recordbatch.Snappy, recordbatch.Gzip}
	const inflight, perBatch = 8, 20
	slots := make(chan struct{}, inflight)
	var mu sync.Mutex
	pending := make(map[int64]ackedBatch) // by correlation id
	var acked []ackedBatch
	var killOnce sync.Once
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			r := resp.GetResponse().GetTopics()[0].GetPartitions()[0]
			mu.Lock()
			a := pending[resp.GetCorrelationId()]
			delete(pending, resp.GetCorrelationId())
			if r.GetErrorCode() == stratav1.ErrorCode_ERROR_CODE_NONE {
				a.base = r.GetBaseOffset()
				acked = append(acked, a)
			}
			n := len(acked)
			mu.Unlock()
			if r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
				t.Errorf("batch %d: %v %s", resp.GetCorrelationId(), r.GetErrorCode(), r.GetErrorMessage())
			}
			if n == 300 {
				killOnce.Do(kill)
			}
			<-slots
		}
	}()
	sent := 0
	deadline := time.Now().Add(60 * time.Second)
	for ; time.Now().Before(deadline); sent++ {
		select {
		case slots <- struct{}{}:
		case <-recvDone:
		}
		if isDone(recvDone) {
			break
		}
		p := int32(sent % partitions)
		bld := recordbatch.NewBuilder(codecs[sent%len(codecs)], nil)
		a := ackedBatch{partition: p}
		for i := range perBatch {
			v := fmt.Sprintf("batch-%d-record-%d-%s", sent, i, strings.Repeat("v", sent%200))
			a.values = append(a.values, v)
			bld.Append(recordbatch.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(v), Timestamp: time.Now().UnixMilli()})
		}
		batch, err := bld.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		pending[int64(sent)] = a
		mu.Unlock()
		err = stream.Send(&stratav1.ProduceStreamRequest{CorrelationId: int64(sent), Request: &stratav1.ProduceRequest{
			Acks: 1, TimeoutMs: 10000, Topics: []*stratav1.ProduceTopic{{Name: topic, Partitions: []*stratav1.ProducePartition{{PartitionId: p, Records: batch}}}},
		}})
		if err != nil {
			break
		}
	}
	cancel()
	<-recvDone
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 300 {
		t.Fatalf("only %d batches acknowledged", len(acked))
	}
	return acked, sent
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func latest(t *testing.T, cl stratav1.BrokerServiceClient, topic string, p int32) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.ListOffsets(ctx, &stratav1.ListOffsetsRequest{Topics: []*stratav1.ListOffsetsTopic{{
		Name: topic, Partitions: []*stratav1.ListOffsetsPartition{{PartitionId: p, Timestamp: -1, CurrentLeaderEpoch: -1}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.GetTopics()[0].GetPartitions()[0]
	if r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
		t.Fatalf("latest offset of %s-%d: %v %s", topic, p, r.GetErrorCode(), r.GetErrorMessage())
	}
	return r.GetOffset()
}

type storedRecord struct {
	offset int64
	value  string
}

// readAll fetches [0, end) of a partition and decodes every batch, which
// checks its CRC and framing: a partial batch fails here.
func readAll(t *testing.T, cl stratav1.BrokerServiceClient, topic string, p int32, end int64) []storedRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := cl.Fetch(ctx, &stratav1.FetchRequest{MaxWaitMs: 1000, MinBytes: 1, MaxBytes: 1 << 20, Topics: []*stratav1.FetchTopic{{
		Name: topic, Partitions: []*stratav1.FetchPartition{{PartitionId: p, FetchOffset: 0, CurrentLeaderEpoch: -1}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var out []storedRecord
	var d recordbatch.Decoder
	next := int64(0)
	for next < end {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("fetch %s-%d at %d: %v", topic, p, next, err)
		}
		pr := resp.GetTopics()[0].GetPartitions()[0]
		if pr.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
			t.Fatalf("fetch %s-%d at %d: %v %s", topic, p, next, pr.GetErrorCode(), pr.GetErrorMessage())
		}
		for batch, err := range recordbatch.All(pr.GetRecords()) {
			if err != nil {
				t.Fatalf("%s-%d: %v", topic, p, err)
			}
			h, _ := recordbatch.ParseHeader(batch)
			recs, err := d.Decode(nil, batch)
			if err != nil {
				t.Fatalf("%s-%d: batch at %d: %v", topic, p, h.BaseOffset, err)
			}
			for _, r := range recs {
				out = append(out, storedRecord{h.BaseOffset + int64(r.OffsetDelta), string(bytes.Clone(r.Value))})
			}
			next = h.LastOffset() + 1
		}
	}
	return out
}
