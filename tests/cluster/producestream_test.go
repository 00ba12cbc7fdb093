package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/recordbatch"
)

// TestProduceStreamPipelinesPartitions sends many requests over one
// ProduceStream without waiting for answers, each with a random subset of
// 6 partitions (so that the broker appends several partitions of a request
// and of consecutive requests at once), some with a corrupt batch or an
// unknown partition among good ones. The answers come in order; each good
// partition's base offset follows the previous request's for that
// partition, so appends kept the request order; each bad one has its error
// and the good partitions beside it are appended. Reading back gives every
// good record once, in order, and nothing of the bad batches.
func TestProduceStreamPipelinesPartitions(t *testing.T) {
	c := Start(t, Options{Controllers: 1})
	c.AddBroker(101, "", nil)
	const parts = 6
	createTopics(t, c, 101, topicSpec{name: "pipe", partitions: parts, rf: 1})
	cl := c.BrokerClient(101)

	type sentPart struct {
		id   int32
		recs []recordbatch.Record // nil: a bad partition
		want stratav1.ErrorCode
	}
	const requests = 300
	rng := rand.New(rand.NewPCG(4, 4))
	base := time.Now().UnixMilli()
	sent := make([][]sentPart, requests)
	reqs := make([]*stratav1.ProduceRequest, requests)
	for i := range requests {
		pt := &stratav1.ProduceTopic{Name: "pipe"}
		for _, p := range rng.Perm(parts)[:1+rng.IntN(parts)] {
			recs := records(1+rng.IntN(8), 50+rng.IntN(3000), base+int64(i), fmt.Sprintf("r%d-p%d", i, p))
			batch := buildBatch(t, allCodecs[rng.IntN(len(allCodecs))], nil, recs)
			sp := sentPart{id: int32(p), recs: recs, want: errNone}
			switch rng.IntN(10) {
			case 0: // a flipped byte in the records: the CRC does not match
				batch[len(batch)-1] ^= 0xFF
				sp.recs, sp.want = nil, stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE
			case 1:
				sp.id, sp.recs, sp.want = parts+int32(p), nil, stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION
			}
			pt.Partitions = append(pt.Partitions, &stratav1.ProducePartition{PartitionId: sp.id, Records: batch})
			sent[i] = append(sent[i], sp)
		}
		reqs[i] = &stratav1.ProduceRequest{Acks: int32(1 - 2*(i%2)), TimeoutMs: 10000, Topics: []*stratav1.ProduceTopic{pt}}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := cl.ProduceStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sendErr := make(chan error, 1)
	go func() { // everything goes out before any answer is read
		for i, req := range reqs {
			if err := stream.Send(&stratav1.ProduceStreamRequest{CorrelationId: int64(i), Request: req}); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- stream.CloseSend()
	}()
	next := make(map[int32]int64)
	stored := make(map[int32][]recordbatch.Record)
	for i := range requests {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if resp.GetCorrelationId() != int64(i) {
			t.Fatalf("answer %d has correlation id %d", i, resp.GetCorrelationId())
		}
		got := resp.GetResponse().GetTopics()[0].GetPartitions()
		if len(got) != len(sent[i]) {
			t.Fatalf("answer %d has %d partitions, want %d", i, len(got), len(sent[i]))
		}
		for j, sp := range sent[i] {
			r := got[j]
			if r.GetPartitionId() != sp.id || r.GetErrorCode() != sp.want {
				t.Fatalf("answer %d, partition %d: %d %v %s, want %d %v", i, j, r.GetPartitionId(), r.GetErrorCode(), r.GetErrorMessage(), sp.id, sp.want)
			}
			if sp.want != errNone {
				if r.GetBaseOffset() != -1 {
					t.Fatalf("answer %d: failed partition %d has base offset %d", i, sp.id, r.GetBaseOffset())
				}
				continue
			}
			if r.GetBaseOffset() != next[sp.id] {
				t.Fatalf("answer %d: pipe-%d appended at %d, want %d (the previous request's end)", i, sp.id, r.GetBaseOffset(), next[sp.id])
			}
			next[sp.id] += int64(len(sp.recs))
			stored[sp.id] = append(stored[sp.id], sp.recs...)
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last answer: %v, want EOF", err)
	}
	for p := range int32(parts) {
		if info := logInfo(t, c, 101, "pipe", p); info.LogEndOffset != next[p] {
			t.Fatalf("pipe-%d: log end offset %d, want %d", p, info.LogEndOffset, next[p])
		}
		got := fetchUntil(t, cl, "pipe", p, 0, next[p], 1<<20)
		if len(got) != len(stored[p]) {
			t.Fatalf("pipe-%d: read %d records, want %d", p, len(got), len(stored[p]))
		}
		for i, r := range got {
			if r.offset != int64(i) {
				t.Fatalf("pipe-%d: record %d at offset %d", p, i, r.offset)
			}
			if err := sameRecord(stored[p][i], r.rec); err != nil {
				t.Fatalf("pipe-%d offset %d: %v", p, i, err)
			}
		}
	}
}

// TestProduceStreamCancelledMidFlight cancels a stream with many requests
// still being received and appended. Each partition's log then holds whole
// batches at gapless offsets, and a produce right after the cancel is
// appended whole at a batch boundary, whatever of the cancelled stream was
// still being appended. (The package's TestMain checks that no goroutine
// is left behind.)
func TestProduceStreamCancelledMidFlight(t *testing.T) {
	c := Start(t, Options{Controllers: 1})
	c.AddBroker(101, "", nil)
	const parts = 4
	createTopics(t, c, 101, topicSpec{name: "cancel", partitions: parts, rf: 1})
	cl := c.BrokerClient(101)
	batches, perBatch := shapeBatches(t, produceShape{record: 1024, batch: 64 << 10}, parts)
	req := &stratav1.ProduceRequest{Acks: 1, TimeoutMs: 10000, Topics: []*stratav1.ProduceTopic{{Name: "cancel"}}}
	for p, batch := range batches {
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, &stratav1.ProducePartition{PartitionId: int32(p), Records: batch})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := cl.ProduceStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const requests = 200
	for i := range requests {
		if i == requests/4 {
			// Some were appended: the stream is busy when it is cancelled.
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Send(&stratav1.ProduceStreamRequest{CorrelationId: int64(i), Request: req}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	cancel()
	for p := range int32(parts) {
		got := mustProduce(t, cl, produceReq("cancel", p, 1, batches[p]))
		if got%int64(perBatch) != 0 || got < int64(perBatch) {
			t.Fatalf("cancel-%d: a produce after the cancel went to %d, not after whole batches of %d records", p, got, perBatch)
		}
		end := logInfo(t, c, 101, "cancel", p).LogEndOffset
		if end%int64(perBatch) != 0 || end > (requests+1)*int64(perBatch) {
			t.Fatalf("cancel-%d: log end offset %d", p, end)
		}
		recs := fetchUntil(t, cl, "cancel", p, 0, end, 4<<20)
		if int64(len(recs)) != end {
			t.Fatalf("cancel-%d: read %d records below %d", p, len(recs), end)
		}
		for i, r := range recs {
			if r.offset != int64(i) {
				t.Fatalf("cancel-%d: record %d at offset %d", p, i, r.offset)
			}
		}
	}
}
