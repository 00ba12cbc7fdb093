package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/testutil"
)

// TestBrokerKill9KeepsIdempotentProducerState: an idempotent producer
// appends batches (acks=1) to a real strata-broker process, which is killed
// with SIGKILL and restarted. A retry of each batch the partition retains
// (the last five) is then answered with its original offset and appends
// nothing; an older one is out of order; the next sequence appends after
// them. The restarted broker hands out producer ids from a new block.
func TestBrokerKill9KeepsIdempotentProducerState(t *testing.T) {
	b, conn := startOneBroker(t)
	cl := stratav1.NewBrokerServiceClient(conn)
	const topic = "idem"
	createTopicRF1(t, conn, topic, 1)
	waitLeading(t, cl, topic, 1, 0)
	pid, epoch := initProducerID(t, cl)
	if epoch != 0 {
		t.Fatalf("a new producer id with epoch %d", epoch)
	}

	// Eight batches of three records: sequences 0-23.
	batches := make([][]byte, 8)
	bases := make([]int64, len(batches))
	for i := range batches {
		batches[i] = idempotentBatch(t, pid, int32(3*i), fmt.Sprintf("before-%d", i))
		r := produceTo(t, cl, topic, 1, batches[i])
		if r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
			t.Fatalf("batch %d: %v %s", i, r.GetErrorCode(), r.GetErrorMessage())
		}
		bases[i] = r.GetBaseOffset()
	}

	b.proc.kill()
	b.start(t)
	waitLeading(t, cl, topic, 1, 1)
	end := latest(t, cl, topic, 0)
	if end != 24 {
		t.Fatalf("log end %d after the restart, want 24", end)
	}
	for i := 3; i < len(batches); i++ {
		acks := int32(1)
		if i%2 == 0 {
			acks = -1
		}
		r := produceTo(t, cl, topic, acks, batches[i])
		if r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE || r.GetBaseOffset() != bases[i] {
			t.Fatalf("retry of batch %d (acks %d) after the restart: %v %s at %d, want offset %d",
				i, acks, r.GetErrorCode(), r.GetErrorMessage(), r.GetBaseOffset(), bases[i])
		}
	}
	if r := produceTo(t, cl, topic, 1, batches[2]); r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE_NUMBER {
		t.Fatalf("retry of a batch the partition no longer retains: %v %s", r.GetErrorCode(), r.GetErrorMessage())
	}
	if got := latest(t, cl, topic, 0); got != end {
		t.Fatalf("the retries were appended: log end %d, was %d", got, end)
	}
	r := produceTo(t, cl, topic, 1, idempotentBatch(t, pid, 24, "after"))
	if r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE || r.GetBaseOffset() != end {
		t.Fatalf("the next batch: %v %s at %d, want %d", r.GetErrorCode(), r.GetErrorMessage(), r.GetBaseOffset(), end)
	}
	recs := readAll(t, cl, topic, 0, end+3)
	for i, rec := range recs {
		if rec.offset != int64(i) {
			t.Fatalf("record %d at offset %d", i, rec.offset)
		}
	}
	if len(recs) != int(end)+3 {
		t.Fatalf("%d records, want %d", len(recs), end+3)
	}
	// Blocks are 1000 ids from 0.
	if next, _ := initProducerID(t, cl); next/1000 == pid/1000 {
		t.Fatalf("producer id %d after the restart is in the block of %d", next, pid)
	}
}

// createTopicRF1 creates topic with partitions partitions and replication
// factor 1 through the broker at conn, retrying until the broker can.
func createTopicRF1(t *testing.T, conn *grpc.ClientConn, topic string, partitions int32) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := stratav1.NewAdminServiceClient(conn).CreateTopics(ctx, &stratav1.CreateTopicsRequest{Topics: []*stratav1.CreatableTopic{
			{Name: topic, NumPartitions: partitions, ReplicationFactor: 1},
		}})
		if err != nil {
			return err
		}
		if r := resp.GetTopics()[0]; r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE && r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS {
			return fmt.Errorf("%v %s", r.GetErrorCode(), r.GetErrorMessage())
		}
		return nil
	})
}

// idempotentBatch is three records of producer pid, epoch 0, from sequence
// seq.
func idempotentBatch(t *testing.T, pid int64, seq int32, tag string) []byte {
	t.Helper()
	bld := recordbatch.NewBuilder(recordbatch.Zstd, &recordbatch.Producer{ID: pid, BaseSequence: seq})
	for i := range 3 {
		bld.Append(recordbatch.Record{Value: fmt.Appendf(nil, "%s-%d", tag, i), Timestamp: time.Now().UnixMilli()})
	}
	batch, err := bld.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return batch
}

// produceTo sends one batch to partition 0 of topic and returns its result.
func produceTo(t *testing.T, cl stratav1.BrokerServiceClient, topic string, acks int32, batch []byte) *stratav1.ProducePartitionResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cl.Produce(ctx, &stratav1.ProduceRequest{Acks: acks, TimeoutMs: 10000, Topics: []*stratav1.ProduceTopic{{
		Name: topic, Partitions: []*stratav1.ProducePartition{{PartitionId: 0, Records: batch}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetTopics()[0].GetPartitions()[0]
}
