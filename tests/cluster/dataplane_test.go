package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
	"github.com/strata-log/strata/services/broker/broker"
)

const (
	errNone      = stratav1.ErrorCode_ERROR_CODE_NONE
	errNotLeader = stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER
)

var allCodecs = []recordbatch.Compression{recordbatch.None, recordbatch.Gzip, recordbatch.Snappy, recordbatch.LZ4, recordbatch.Zstd}

// topicSpec is a topic to create for a data-plane test.
type topicSpec struct {
	name       string
	partitions int32
	rf         int32
	configs    map[string]string
	assignment [][]int32 // explicit replicas by partition; partitions and rf are then -1
}

// createTopics creates topics through broker via's admin service and waits
// until every real broker has applied them and each partition's leader
// leads it.
func createTopics(t testing.TB, c *Cluster, via int32, specs ...topicSpec) {
	t.Helper()
	req := &stratav1.CreateTopicsRequest{}
	for _, s := range specs {
		ct := &stratav1.CreatableTopic{Name: s.name, NumPartitions: s.partitions, ReplicationFactor: s.rf}
		for k, v := range s.configs {
			ct.Configs = append(ct.Configs, &stratav1.ConfigEntry{Name: k, Value: v})
		}
		if s.assignment != nil {
			ct.NumPartitions, ct.ReplicationFactor = -1, -1
			for i, r := range s.assignment {
				ct.Assignments = append(ct.Assignments, &stratav1.ReplicaAssignment{PartitionId: int32(i), BrokerIds: r})
			}
		}
		req.Topics = append(req.Topics, ct)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.BrokerAdmin(via).CreateTopics(ctx, req)
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	for _, r := range resp.GetTopics() {
		if r.GetErrorCode() != errNone {
			t.Fatalf("create %s: %v %s", r.GetName(), r.GetErrorCode(), r.GetErrorMessage())
		}
	}
	for _, s := range specs {
		waitLeaders(t, c, s.name)
	}
}

// waitLeaders waits until every running real broker's Metadata has topic
// and the leader of each partition has applied its leadership; it returns
// the leaders by partition.
func waitLeaders(t testing.TB, c *Cluster, topic string) map[int32]int32 {
	t.Helper()
	var leaders map[int32]int32
	testutil.WaitFor(t, 20*time.Second, func() error {
		leaders = make(map[int32]int32)
		for _, id := range c.realBrokerIDs() {
			md := metadataOf(t, c, id, topic)
			tm := md.GetTopics()[0]
			if tm.GetErrorCode() != errNone {
				return fmt.Errorf("broker %d: %v", id, tm.GetErrorCode())
			}
			for _, p := range tm.GetPartitions() {
				if p.GetLeader() < 0 {
					return fmt.Errorf("%s-%d has no leader", topic, p.GetPartitionId())
				}
				leaders[p.GetPartitionId()] = p.GetLeader()
			}
		}
		for p, l := range leaders {
			b := c.RealBroker(l)
			if b == nil {
				continue // led by a lifecycle broker
			}
			info, ok := b.Server().LogInfo(topic, p)
			if !ok || info.Leader != l {
				return fmt.Errorf("broker %d does not lead %s-%d yet", l, topic, p)
			}
		}
		return nil
	})
	return leaders
}

// realBrokerIDs lists the running real brokers.
func (c *Cluster) realBrokerIDs() []int32 {
	c.brokersMu.Lock()
	defer c.brokersMu.Unlock()
	var ids []int32
	for id, b := range c.brokers {
		if b.Server() != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func metadataOf(t testing.TB, c *Cluster, id int32, topics ...string) *stratav1.MetadataResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := c.BrokerClient(id).Metadata(ctx, &stratav1.MetadataRequest{Topics: topics})
	if err != nil {
		t.Fatalf("metadata from %d: %v", id, err)
	}
	return md
}

// records returns n records of about size bytes whose values name them.
func records(n, size int, ts int64, tag string) []recordbatch.Record {
	out := make([]recordbatch.Record, n)
	for i := range out {
		v := fmt.Sprintf("%s-%d|", tag, i)
		if pad := size - len(v); pad > 0 {
			v += strings.Repeat(string(rune('a'+i%26)), pad)
		}
		out[i] = recordbatch.Record{
			Key: []byte(fmt.Sprintf("k-%s-%d", tag, i)), Value: []byte(v), Timestamp: ts + int64(i),
			Headers: []recordbatch.Header{{Key: "h", Value: []byte(tag)}},
		}
	}
	return out
}

func buildBatch(t testing.TB, c recordbatch.Compression, p *recordbatch.Producer, recs []recordbatch.Record) []byte {
	t.Helper()
	b := recordbatch.NewBuilder(c, p)
	for _, r := range recs {
		b.Append(r)
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func produceReq(topic string, partition int32, acks int32, batches ...[]byte) *stratav1.ProduceRequest {
	return &stratav1.ProduceRequest{Acks: acks, TimeoutMs: 10000, Topics: []*stratav1.ProduceTopic{{
		Name: topic, Partitions: []*stratav1.ProducePartition{{PartitionId: partition, Records: bytes.Join(batches, nil)}},
	}}}
}

// produce sends one unary produce request and returns its only result.
func produce(t testing.TB, cl stratav1.BrokerServiceClient, req *stratav1.ProduceRequest) *stratav1.ProducePartitionResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cl.Produce(ctx, req)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp.GetTopics()[0].GetPartitions()[0]
}

func mustProduce(t testing.TB, cl stratav1.BrokerServiceClient, req *stratav1.ProduceRequest) int64 {
	t.Helper()
	r := produce(t, cl, req)
	if r.GetErrorCode() != errNone {
		t.Fatalf("produce: %v %s", r.GetErrorCode(), r.GetErrorMessage())
	}
	return r.GetBaseOffset()
}

// fetchedRecord is a record read back with its offset.
type fetchedRecord struct {
	offset int64
	rec    recordbatch.Record
}

// decodeAll decodes batches read from a partition, copying the records.
func decodeAll(t testing.TB, batches []byte) []fetchedRecord {
	t.Helper()
	var out []fetchedRecord
	var d recordbatch.Decoder
	for b, err := range recordbatch.All(batches) {
		if err != nil {
			t.Fatalf("fetched batches: %v", err)
		}
		h, _ := recordbatch.ParseHeader(b)
		recs, err := d.Decode(nil, b)
		if err != nil {
			t.Fatalf("fetched batch at %d: %v", h.BaseOffset, err)
		}
		for _, r := range recs {
			r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
			r.Headers = slices.Clone(r.Headers)
			for i := range r.Headers {
				r.Headers[i].Value = bytes.Clone(r.Headers[i].Value)
			}
			out = append(out, fetchedRecord{offset: h.BaseOffset + int64(r.OffsetDelta), rec: r})
		}
	}
	return out
}

// fetchUntil reads a partition from offset from with one Fetch stream until
// it has the records below end.
func fetchUntil(t testing.TB, cl stratav1.BrokerServiceClient, topic string, partition int32, from, end int64, maxBytes int32) []fetchedRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := cl.Fetch(ctx, &stratav1.FetchRequest{MaxWaitMs: 500, MinBytes: 1, MaxBytes: maxBytes, Topics: []*stratav1.FetchTopic{{
		Name: topic, Partitions: []*stratav1.FetchPartition{{PartitionId: partition, FetchOffset: from, CurrentLeaderEpoch: -1}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var out []fetchedRecord
	next := from
	for next < end {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("fetch %s-%d at %d: %v", topic, partition, next, err)
		}
		pr := resp.GetTopics()[0].GetPartitions()[0]
		if pr.GetErrorCode() != errNone {
			t.Fatalf("fetch %s-%d at %d: %v %s", topic, partition, next, pr.GetErrorCode(), pr.GetErrorMessage())
		}
		if pr.GetHighWatermark() < next {
			t.Fatalf("high watermark %d below the fetch position %d", pr.GetHighWatermark(), next)
		}
		for _, r := range decodeAll(t, pr.GetRecords()) {
			if r.offset >= next {
				out = append(out, r)
				next = r.offset + 1
			}
		}
	}
	return out
}

// sameRecord compares what was sent with what was read.
func sameRecord(want, got recordbatch.Record) error {
	switch {
	case !bytes.Equal(want.Key, got.Key):
		return fmt.Errorf("key %q, want %q", got.Key, want.Key)
	case !bytes.Equal(want.Value, got.Value):
		return fmt.Errorf("value %.20q, want %.20q", got.Value, want.Value)
	case want.Timestamp != got.Timestamp:
		return fmt.Errorf("timestamp %d, want %d", got.Timestamp, want.Timestamp)
	case len(want.Headers) != len(got.Headers) ||
		len(want.Headers) > 0 && (want.Headers[0].Key != got.Headers[0].Key || !bytes.Equal(want.Headers[0].Value, got.Headers[0].Value)):
		return fmt.Errorf("headers %v, want %v", got.Headers, want.Headers)
	}
	return nil
}

func listOffset(t testing.TB, cl stratav1.BrokerServiceClient, topic string, partition int32, ts int64, epoch int32) *stratav1.ListOffsetsPartitionResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.ListOffsets(ctx, &stratav1.ListOffsetsRequest{Topics: []*stratav1.ListOffsetsTopic{{
		Name: topic, Partitions: []*stratav1.ListOffsetsPartition{{PartitionId: partition, Timestamp: ts, CurrentLeaderEpoch: epoch}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetTopics()[0].GetPartitions()[0]
}

func logInfo(t testing.TB, c *Cluster, id int32, topic string, partition int32) broker.LogInfo {
	t.Helper()
	info, ok := c.RealBroker(id).Server().LogInfo(topic, partition)
	if !ok {
		t.Fatalf("broker %d holds no %s-%d", id, topic, partition)
	}
	return info
}

// TestProduceFetchRoundTripAcrossPartitionsAndCodecs pipelines many produce
// requests over one ProduceStream per leader (answers in order, with their
// correlation ids), adds unary ones with acks=all, and reads everything
// back: every record once, in order, offsets without gaps.
func TestProduceFetchRoundTripAcrossPartitionsAndCodecs(t *testing.T) {
	c := Start(t, Options{})
	c.AddBroker(101, "", nil)
	c.AddBroker(102, "", nil)
	const parts = 4
	createTopics(t, c, 101, topicSpec{name: "rt", partitions: parts, rf: 1})
	leaders := waitLeaders(t, c, "rt")

	sent := make(map[int32][]recordbatch.Record)
	next := make(map[int32]int64)
	base := time.Now().UnixMilli()
	// One pipelined stream per leader broker.
	byLeader := make(map[int32][]int32)
	for p := range int32(parts) {
		byLeader[leaders[p]] = append(byLeader[leaders[p]], p)
	}
	const perStream = 60
	pipeline := func(leader int32, ps []int32) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stream, err := c.BrokerClient(leader).ProduceStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		type sentReq struct {
			partition int32
			recs      []recordbatch.Record
		}
		reqs := make([]sentReq, perStream)
		errc := make(chan error, 1)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		wg.Add(1)
		go func() { // send everything before reading any answer
			defer wg.Done()
			for i := range perStream {
				p := ps[i%len(ps)]
				recs := records(1+i%13, 100+i*37%2000, base+int64(i), fmt.Sprintf("s%d-%d", leader, i))
				reqs[i] = sentReq{p, recs}
				codec := allCodecs[i%len(allCodecs)]
				err := stream.Send(&stratav1.ProduceStreamRequest{CorrelationId: int64(1000 + i),
					Request: produceReq("rt", p, int32(1-i%2), buildBatch(t, codec, nil, recs))})
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- stream.CloseSend()
		}()
		for i := range perStream {
			resp, err := stream.Recv()
			if err != nil {
				t.Fatalf("answer %d: %v", i, err)
			}
			if resp.GetCorrelationId() != int64(1000+i) {
				t.Fatalf("answer %d has correlation id %d", i, resp.GetCorrelationId())
			}
			wg.Wait() // reqs[i] is written before the request went out
			r := resp.GetResponse().GetTopics()[0].GetPartitions()[0]
			p := reqs[i].partition
			if r.GetErrorCode() != errNone || r.GetPartitionId() != p || r.GetBaseOffset() != next[p] {
				t.Fatalf("answer %d: %v %s partition %d base offset %d, want %d", i, r.GetErrorCode(), r.GetErrorMessage(),
					r.GetPartitionId(), r.GetBaseOffset(), next[p])
			}
			next[p] += int64(len(reqs[i].recs))
			sent[p] = append(sent[p], reqs[i].recs...)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last answer: %v, want EOF", err)
		}
	}
	for leader, ps := range byLeader {
		pipeline(leader, ps)
	}
	// Unary, acks=all: on RF=1 the high watermark passes at once.
	for p := range int32(parts) {
		for i := range 3 {
			recs := records(5, 300, base, fmt.Sprintf("u%d-%d", p, i))
			got := mustProduce(t, c.BrokerClient(leaders[p]), produceReq("rt", p, -1, buildBatch(t, allCodecs[i], nil, recs)))
			if got != next[p] {
				t.Fatalf("unary produce to rt-%d at %d, want %d", p, got, next[p])
			}
			next[p] += int64(len(recs))
			sent[p] = append(sent[p], recs...)
		}
	}
	// Read back, with a small max_bytes too: at least one batch per answer.
	for p := range int32(parts) {
		for _, maxBytes := range []int32{1 << 20, 1} {
			got := fetchUntil(t, c.BrokerClient(leaders[p]), "rt", p, 0, next[p], maxBytes)
			if len(got) != len(sent[p]) {
				t.Fatalf("rt-%d: read %d records, sent %d", p, len(got), len(sent[p]))
			}
			for i, r := range got {
				if r.offset != int64(i) {
					t.Fatalf("rt-%d: record %d at offset %d", p, i, r.offset)
				}
				if err := sameRecord(sent[p][i], r.rec); err != nil {
					t.Fatalf("rt-%d offset %d: %v", p, i, err)
				}
			}
		}
		if info := logInfo(t, c, leaders[p], "rt", p); info.LogEndOffset != next[p] || info.HighWatermark != next[p] {
			t.Fatalf("rt-%d: %+v, want LEO and HW %d", p, info, next[p])
		}
	}
	// Metadata names both brokers and the leaders with their epochs.
	md := metadataOf(t, c, 102, "rt")
	if len(md.GetBrokers()) != 2 || md.GetClusterId() != c.ClusterID || md.GetMetadataOffset() <= 0 ||
		md.GetControllerId() != c.WaitActive(5*time.Second).ID {
		t.Fatalf("metadata: %v", md)
	}
	for _, pm := range md.GetTopics()[0].GetPartitions() {
		if pm.GetLeader() != leaders[pm.GetPartitionId()] || !slices.Equal(pm.GetIsr(), []int32{pm.GetLeader()}) || len(pm.GetOfflineReplicas()) != 0 {
			t.Fatalf("partition metadata %v", pm)
		}
	}
}

// TestFetchLongPoll: a fetch waits up to max_wait_ms for min_bytes, answers
// as soon as data arrives, goes on from the next offsets, never reads above
// the high watermark, and ends when the client cancels.
func TestFetchLongPoll(t *testing.T) {
	c := Start(t, Options{})
	c.AddBroker(101, "", nil)
	c.StartBroker(103, "") // registers and heartbeats, never replicates
	createTopics(t, c, 101,
		topicSpec{name: "poll", assignment: [][]int32{{101}}},
		topicSpec{name: "stuck", assignment: [][]int32{{101, 103}}},
	)
	cl := c.BrokerClient(101)
	fetchReq := func(topic string, offset int64, minBytes, maxWaitMs int32) *stratav1.FetchRequest {
		return &stratav1.FetchRequest{MaxWaitMs: maxWaitMs, MinBytes: minBytes, MaxBytes: 1 << 20, Topics: []*stratav1.FetchTopic{{
			Name: topic, Partitions: []*stratav1.FetchPartition{{PartitionId: 0, FetchOffset: offset, CurrentLeaderEpoch: 0}},
		}}}
	}

	// Nothing to read: the answer comes at max_wait, empty.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	stream, err := cl.Fetch(ctx, fetchReq("poll", 0, 1, 300))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if pr := resp.GetTopics()[0].GetPartitions()[0]; pr.GetErrorCode() != errNone || len(pr.GetRecords()) != 0 || pr.GetHighWatermark() != 0 {
		t.Fatalf("first answer %v", pr)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 10*time.Second {
		t.Fatalf("empty answer after %v, want max_wait 300ms", el)
	}
	cancel()
	if _, err := stream.Recv(); grpcCode(err) != "Canceled" {
		t.Fatalf("after cancel: %v", err)
	}

	// min_bytes 0 and max_wait 0 answer at once; the stream then waits for
	// data (max_wait 20 s) and answers as soon as it is appended, then goes
	// on from the next offset.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	start = time.Now()
	stream, err = cl.Fetch(ctx, fetchReq("poll", 0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("min_bytes 0, max_wait 0 answered after %v", el)
	}
	stream, err = cl.Fetch(ctx, fetchReq("poll", 0, 1, 20000))
	if err != nil {
		t.Fatal(err)
	}
	type recv struct {
		resp *stratav1.FetchResponse
		err  error
	}
	answers := make(chan recv, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	receive := func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := stream.Recv()
			answers <- recv{r, err}
		}()
	}
	for i, n := range []int{3, 2} {
		receive()
		start := time.Now()
		base := mustProduce(t, cl, produceReq("poll", 0, 1, buildBatch(t, recordbatch.None, nil, records(n, 50, time.Now().UnixMilli(), "p"))))
		a := <-answers
		if a.err != nil {
			t.Fatal(a.err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Fatalf("answer %d came %v after the produce", i, el)
		}
		got := decodeAll(t, a.resp.GetTopics()[0].GetPartitions()[0].GetRecords())
		if len(got) != n || got[0].offset != base {
			t.Fatalf("answer %d: %v, want %d records from %d", i, got, n, base)
		}
	}
	cancel()
	wg.Wait()

	// A partition whose high watermark does not move (its follower never
	// fetches): an acks=1 append is in the log but never read, and latest
	// is the high watermark.
	mustProduce(t, cl, produceReq("stuck", 0, 1, buildBatch(t, recordbatch.None, nil, records(4, 10, time.Now().UnixMilli(), "s"))))
	if info := logInfo(t, c, 101, "stuck", 0); info.LogEndOffset != 4 || info.HighWatermark != 0 {
		t.Fatalf("stuck-0: %+v", info)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	stream, err = cl.Fetch(ctx, fetchReq("stuck", 0, 1, 200))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if pr := resp.GetTopics()[0].GetPartitions()[0]; len(pr.GetRecords()) != 0 || pr.GetHighWatermark() != 0 || pr.GetErrorCode() != errNone {
			t.Fatalf("fetch above the high watermark: %v", pr)
		}
	}
	cancel()
	if r := listOffset(t, cl, "stuck", 0, -1, -1); r.GetOffset() != 0 {
		t.Fatalf("latest %v, want the high watermark 0", r)
	}
	// acks=all there cannot complete: REQUEST_TIMED_OUT at timeout_ms.
	req := produceReq("stuck", 0, -1, buildBatch(t, recordbatch.None, nil, records(1, 10, time.Now().UnixMilli(), "t")))
	req.TimeoutMs = 200
	if r := produce(t, cl, req); r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT {
		t.Fatalf("acks=all without replication: %v", r)
	}

	// A broker that does not lead answers NOT_LEADER_OR_FOLLOWER with the
	// leader, and the stream ends with that partition.
	c.AddBroker(102, "", nil)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	stream, err = c.BrokerClient(102).Fetch(ctx, fetchReq("poll", 0, 1, 10000))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	pr := resp.GetTopics()[0].GetPartitions()[0]
	if pr.GetErrorCode() != errNotLeader || pr.GetCurrentLeader().GetLeaderId() != 101 ||
		pr.GetCurrentLeader().GetAddress() != c.RealBroker(101).Addr {
		t.Fatalf("fetch from a non-replica: %v", pr)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("the stream goes on after its only partition failed: %v", err)
	}
}

// grpcCode is the gRPC code name of err.
func grpcCode(err error) string {
	if e := rpc.FromError(err); e != nil {
		return e.GRPCCode().String()
	}
	return "OK"
}

// TestListOffsets: earliest, latest, by timestamp (the first record at or
// after it) and the largest timestamp; LogAppendTime topics stamp records
// with the broker's time.
func TestListOffsets(t *testing.T) {
	c := Start(t, Options{})
	c.AddBroker(101, "", nil)
	createTopics(t, c, 101,
		topicSpec{name: "times", partitions: 1, rf: 1},
		topicSpec{name: "appended", partitions: 1, rf: 1, configs: map[string]string{"message.timestamp.type": "LogAppendTime"}},
	)
	cl := c.BrokerClient(101)
	t0 := time.Now().Add(-time.Hour).UnixMilli()
	for i, ts := range []int64{t0, t0 + 1000, t0 + 2000} {
		recs := []recordbatch.Record{{Value: []byte("a"), Timestamp: ts}, {Value: []byte("b"), Timestamp: ts + 10}}
		mustProduce(t, cl, produceReq("times", 0, 1, buildBatch(t, allCodecs[i], nil, recs)))
	}
	for _, tc := range []struct {
		ts         int64
		offset, at int64
	}{
		{-2, 0, -1}, {-1, 6, -1}, {-3, 5, t0 + 2010},
		{t0 - 5, 0, t0}, {t0 + 1000, 2, t0 + 1000}, {t0 + 1005, 3, t0 + 1010}, {t0 + 2011, -1, -1},
	} {
		r := listOffset(t, cl, "times", 0, tc.ts, 0)
		if r.GetErrorCode() != errNone || r.GetOffset() != tc.offset || r.GetTimestamp() != tc.at {
			t.Fatalf("timestamp %d: %v, want offset %d timestamp %d", tc.ts, r, tc.offset, tc.at)
		}
		if tc.offset >= 0 && r.GetLeaderEpoch() != 0 {
			t.Fatalf("timestamp %d: leader epoch %d", tc.ts, r.GetLeaderEpoch())
		}
	}

	before := time.Now().UnixMilli()
	res := produce(t, cl, produceReq("appended", 0, 1, buildBatch(t, recordbatch.LZ4, nil, records(3, 20, 1, "x"))))
	after := time.Now().UnixMilli()
	if res.GetErrorCode() != errNone || res.GetLogAppendTimeMs() < before || res.GetLogAppendTimeMs() > after {
		t.Fatalf("LogAppendTime produce: %v (between %d and %d)", res, before, after)
	}
	for _, r := range fetchUntil(t, cl, "appended", 0, 0, 3, 1<<20) {
		if r.rec.Timestamp != res.GetLogAppendTimeMs() {
			t.Fatalf("record %d has timestamp %d, want the append time %d", r.offset, r.rec.Timestamp, res.GetLogAppendTimeMs())
		}
	}
	if r := listOffset(t, cl, "appended", 0, -3, -1); r.GetOffset() != 0 || r.GetTimestamp() != res.GetLogAppendTimeMs() {
		t.Fatalf("max timestamp of a LogAppendTime topic: %v", r)
	}
}

// TestAutoCreateTopics: with --auto-create-topics a produce or a metadata
// request that allows it creates the topic; without, the topic is unknown.
func TestAutoCreateTopics(t *testing.T) {
	c := Start(t, Options{})
	c.AddBroker(101, "", func(cfg *broker.Config) { cfg.AutoCreateTopics, cfg.DefaultPartitions = true, 2 })
	c.AddBroker(102, "", nil)
	ctx := ctxT(t)

	md, err := c.BrokerClient(101).Metadata(ctx, &stratav1.MetadataRequest{Topics: []string{"auto-md", "bad/name"}, AllowAutoTopicCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	if tm := md.GetTopics()[0]; tm.GetErrorCode() != errNone || len(tm.GetPartitions()) != 2 || tm.GetPartitions()[0].GetLeader() < 0 {
		t.Fatalf("auto-created by metadata: %v", tm)
	}
	if tm := md.GetTopics()[1]; tm.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_INVALID_TOPIC_EXCEPTION ||
		!strings.Contains(tm.GetErrorMessage(), `Topic name "bad/name" is illegal`) {
		t.Fatalf("illegal name: %v", tm)
	}
	// Not without allow_auto_topic_creation, nor on a broker without the
	// option.
	md, err = c.BrokerClient(101).Metadata(ctx, &stratav1.MetadataRequest{Topics: []string{"auto-no"}})
	if err != nil {
		t.Fatal(err)
	}
	if tm := md.GetTopics()[0]; tm.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION {
		t.Fatalf("metadata without allow: %v", tm)
	}
	md, err = c.BrokerClient(102).Metadata(ctx, &stratav1.MetadataRequest{Topics: []string{"auto-no"}, AllowAutoTopicCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	if tm := md.GetTopics()[0]; tm.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION ||
		tm.GetErrorMessage() != "This server does not host this topic-partition." {
		t.Fatalf("metadata on a broker without auto-create: %v", tm)
	}
	if r := produce(t, c.BrokerClient(102), produceReq("auto-no", 0, 1, buildBatch(t, recordbatch.None, nil, records(1, 1, 0, "n")))); r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION {
		t.Fatalf("produce to an unknown topic without auto-create: %v", r)
	}
	// A produce creates the topic; the partition answers from its leader.
	r := produce(t, c.BrokerClient(101), produceReq("auto-produce", 1, 1, buildBatch(t, recordbatch.None, nil, records(2, 10, 0, "a"))))
	leaders := waitLeaders(t, c, "auto-produce")
	switch {
	case r.GetErrorCode() == errNone && leaders[1] == 101:
	case r.GetErrorCode() == errNotLeader && leaders[1] == 102 && r.GetCurrentLeader().GetLeaderId() == 102:
		mustProduce(t, c.BrokerClient(102), produceReq("auto-produce", 1, 1, buildBatch(t, recordbatch.None, nil, records(2, 10, 0, "a"))))
	default:
		t.Fatalf("produce with auto-create: %v (leaders %v)", r, leaders)
	}
	if tm := metadataOf(t, c, 102, "auto-produce").GetTopics()[0]; tm.GetErrorCode() != errNone || len(tm.GetPartitions()) != 2 {
		t.Fatalf("auto-created by produce: %v", tm)
	}
	waitLeaders(t, c, "auto-md")
	// Every topic, without internal ones.
	all := metadataOf(t, c, 102)
	var names []string
	for _, tm := range all.GetTopics() {
		names = append(names, tm.GetName())
	}
	if !slices.Equal(names, []string{"auto-md", "auto-produce"}) {
		t.Fatalf("all topics: %v", names)
	}
}

// TestProduceToANonLeaderNamesTheLeader: NOT_LEADER_OR_FOLLOWER carries the
// leader's id, epoch and address, so the client goes there at once.
func TestProduceToANonLeaderNamesTheLeader(t *testing.T) {
	c := Start(t, Options{})
	c.AddBroker(101, "", nil)
	c.AddBroker(102, "", nil)
	createTopics(t, c, 101, topicSpec{name: "on-102", assignment: [][]int32{{102}}}, topicSpec{name: "both", assignment: [][]int32{{102, 101}}})
	for _, topic := range []string{"on-102", "both"} {
		r := produce(t, c.BrokerClient(101), produceReq(topic, 0, 1, buildBatch(t, recordbatch.None, nil, records(1, 1, 0, "x"))))
		h := r.GetCurrentLeader()
		if r.GetErrorCode() != errNotLeader || h.GetLeaderId() != 102 || h.GetLeaderEpoch() != 0 || h.GetAddress() != c.RealBroker(102).Addr {
			t.Fatalf("%s: %v", topic, r)
		}
		// The hint is right: the leader takes it.
		mustProduce(t, c.BrokerClient(h.GetLeaderId()), produceReq(topic, 0, 1, buildBatch(t, recordbatch.None, nil, records(1, 1, 0, "x"))))
	}
}

// TestRetentionDeletesOldData: retention.bytes and retention.ms delete the
// oldest batches; their offsets become OFFSET_OUT_OF_RANGE, the log start
// offset advances and the stored size falls.
func TestRetentionDeletesOldData(t *testing.T) {
	c := Start(t, Options{})
	c.AddBroker(101, "", func(cfg *broker.Config) { cfg.RetentionCheckInterval = 50 * time.Millisecond })
	createTopics(t, c, 101,
		topicSpec{name: "by-size", partitions: 1, rf: 1, configs: map[string]string{"retention.bytes": "200000"}},
		topicSpec{name: "by-time", partitions: 1, rf: 1, configs: map[string]string{"retention.ms": "60000"}},
	)
	cl := c.BrokerClient(101)
	old := time.Now().Add(-time.Hour).UnixMilli()
	var peak, written int64
	for i := range 30 { // 30 batches of 64 KiB
		batch := buildBatch(t, recordbatch.None, nil, records(64, 1000, time.Now().UnixMilli(), fmt.Sprint(i)))
		written += int64(len(batch))
		mustProduce(t, cl, produceReq("by-size", 0, 1, batch))
		mustProduce(t, cl, produceReq("by-time", 0, 1, buildBatch(t, recordbatch.None, nil, records(64, 1000, old, fmt.Sprint(i)))))
		peak = max(peak, logInfo(t, c, 101, "by-size", 0).Size)
	}
	// A recent batch in by-time stays.
	last := mustProduce(t, cl, produceReq("by-time", 0, 1, buildBatch(t, recordbatch.None, nil, records(4, 10, time.Now().UnixMilli(), "new"))))
	testutil.WaitFor(t, 20*time.Second, func() error {
		if info := logInfo(t, c, 101, "by-size", 0); info.Size > 200000+70000 || info.LogStartOffset == 0 {
			return fmt.Errorf("by-size: %+v (peak size %d)", info, peak)
		}
		if info := logInfo(t, c, 101, "by-time", 0); info.LogStartOffset != last {
			return fmt.Errorf("by-time: %+v, want log start %d", info, last)
		}
		return nil
	})
	info := logInfo(t, c, 101, "by-size", 0)
	if info.Size > written/5 || info.Size < 200000 || info.LogEndOffset != 30*64 {
		t.Fatalf("by-size after retention: %+v (%d bytes written, peak size %d)", info, written, peak)
	}
	if r := listOffset(t, cl, "by-size", 0, -2, -1); r.GetOffset() != info.LogStartOffset {
		t.Fatalf("earliest %v, want %d", r, info.LogStartOffset)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := cl.Fetch(ctx, &stratav1.FetchRequest{MaxBytes: 1 << 20, Topics: []*stratav1.FetchTopic{{
		Name: "by-size", Partitions: []*stratav1.FetchPartition{{PartitionId: 0, FetchOffset: 0, CurrentLeaderEpoch: -1}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	pr := resp.GetTopics()[0].GetPartitions()[0]
	want := fmt.Sprintf("log start offset %d, high watermark %d", info.LogStartOffset, info.HighWatermark)
	if pr.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE || !strings.Contains(pr.GetErrorMessage(), want) {
		t.Fatalf("fetch below the log start: %v, want a message with %q", pr, want)
	}
	// What is left reads back whole.
	got := fetchUntil(t, cl, "by-size", 0, info.LogStartOffset, info.LogEndOffset, 1<<20)
	if int64(len(got)) != info.LogEndOffset-info.LogStartOffset {
		t.Fatalf("read %d records after retention", len(got))
	}
}

// BenchmarkProduce measures produce throughput through ProduceStream into
// one broker (replication factor 1, acks=1): 1 KiB records in 64 KiB
// batches (64 records) over 4 partitions, with 1 or 16 requests in flight,
// uncompressed and LZ4. MB/s counts uncompressed record bytes.
//
//	go test -run '^$' -bench 'BenchmarkProduce$' -count=5 ./cluster
func BenchmarkProduce(b *testing.B) {
	c := Start(b, Options{})
	c.AddBroker(101, "", nil)
	const parts = 4
	createTopics(b, c, 101, topicSpec{name: "bench", partitions: parts, rf: 1})
	for _, codec := range []recordbatch.Compression{recordbatch.None, recordbatch.LZ4} {
		for _, inflight := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/inflight=%d", codec, inflight), func(b *testing.B) {
				benchProduce(b, c.BrokerClient(101), codec, parts, inflight)
			})
		}
	}
}

func benchProduce(b *testing.B, cl stratav1.BrokerServiceClient, codec recordbatch.Compression, parts, inflight int) {
	const perBatch = 64
	// Values of 16 letters drawn at random: about 2:1 compressible, as
	// text-like payloads are.
	rng := rand.New(rand.NewPCG(1, 2))
	batches := make([][]byte, parts)
	for p := range batches {
		recs := make([]recordbatch.Record, perBatch)
		for i := range recs {
			v := make([]byte, 1024)
			for j := range v {
				v[j] = 'a' + byte(rng.IntN(16))
			}
			recs[i] = recordbatch.Record{Key: []byte(fmt.Sprint(i)), Value: v, Timestamp: time.Now().UnixMilli()}
		}
		batches[p] = buildBatch(b, codec, nil, recs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := cl.ProduceStream(ctx)
	if err != nil {
		b.Fatal(err)
	}
	slots := make(chan struct{}, inflight)
	done := make(chan error, 1)
	var acked int
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				done <- err
				return
			}
			if r := resp.GetResponse().GetTopics()[0].GetPartitions()[0]; r.GetErrorCode() != errNone {
				done <- fmt.Errorf("%v %s", r.GetErrorCode(), r.GetErrorMessage())
				return
			}
			acked++
			<-slots
		}
	}()
	b.SetBytes(int64(perBatch * 1024))
	start := time.Now()
	n := 0
	for b.Loop() {
		slots <- struct{}{}
		p := n % parts
		if err := stream.Send(&stratav1.ProduceStreamRequest{CorrelationId: int64(n), Request: produceReq("bench", int32(p), 1, batches[p])}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := stream.CloseSend(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(acked*perBatch)/el, "records/s")
}
