package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
	"github.com/strata-log/strata/services/broker/broker"
)

// The bad-input table of BAD_INPUTS.md, rows 1-26 and 50, as far as the
// data plane has them today. Every row asserts the exact code and the
// message, and that nothing stored changed: the LEO, HW, log start offset,
// stored size and leadership of every partition on every broker, and the
// brokers' and the active controller's metadata offsets. Rows 10-13 (an
// idempotent producer's batches) are a table of their own, which also
// checks the offset of an exact retry.
//
// Not here: row 20 (the ISR shrinks after the append, which does change
// the log: TestNotEnoughReplicasAfterAppend); row 21 (a failing disk: the
// storage engine cannot be made to fail from outside the broker; the
// mapping of its errors to KAFKA_STORAGE_ERROR is the broker's sentinel
// registration); row 25 (TestOffsetNotAvailable...); row 26 (the client
// APIs name topics, not topic ids: Replicate, issue #5, is where topic ids
// come in).

// Layout of the batch header fields the table corrupts (pkg/recordbatch).
const (
	offCRC         = 17
	offAttributes  = 21
	offLastDelta   = 23
	offRecordCount = 57
)

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// recrc recomputes a batch's CRC after a change, so that the change is
// what the broker sees, not a CRC mismatch.
func recrc(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoliTable))
	return b
}

// outcome is how the broker answered: a per-partition result (grpc "OK")
// or a whole-request status.
type outcome struct {
	grpc string
	code stratav1.ErrorCode
	msg  string
	hint *stratav1.LeaderHint
	base int64 // a produce's base offset
}

func (o outcome) String() string {
	return fmt.Sprintf("%s/%s %q hint %v", o.grpc, rpc.CodeName(o.code), o.msg, o.hint)
}

func wholeRequest(err error) outcome {
	e := rpc.FromError(err)
	return outcome{grpc: e.GRPCCode().String(), code: e.Code, msg: e.Message, hint: e.Leader}
}

// produceOutcomes sends req to broker id as a unary Produce and over a
// ProduceStream.
func produceOutcomes(t *testing.T, c *Cluster, id int32, req *stratav1.ProduceRequest) map[string]outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make(map[string]outcome)
	resp, err := c.BrokerClient(id).Produce(ctx, req)
	if err != nil {
		out["unary"] = wholeRequest(err)
	} else {
		r := resp.GetTopics()[0].GetPartitions()[0]
		out["unary"] = outcome{"OK", r.GetErrorCode(), r.GetErrorMessage(), r.GetCurrentLeader(), r.GetBaseOffset()}
	}
	stream, err := c.BrokerClient(id).ProduceStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&stratav1.ProduceStreamRequest{CorrelationId: 7, Request: req}); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	_ = stream.CloseSend()
	sr, err := stream.Recv()
	switch {
	case err != nil:
		out["stream"] = wholeRequest(err)
	case sr.GetCorrelationId() != 7:
		t.Fatalf("stream answer with correlation id %d", sr.GetCorrelationId())
	default:
		r := sr.GetResponse().GetTopics()[0].GetPartitions()[0]
		out["stream"] = outcome{"OK", r.GetErrorCode(), r.GetErrorMessage(), r.GetCurrentLeader(), r.GetBaseOffset()}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("the stream goes on after its only answer: %v", err)
		}
	}
	return out
}

// fetchOutcome opens a Fetch stream and takes its first answer.
func fetchOutcome(t *testing.T, c *Cluster, id int32, req *stratav1.FetchRequest) map[string]outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := c.BrokerClient(id).Fetch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return map[string]outcome{"fetch": wholeRequest(err)}
	}
	r := resp.GetTopics()[0].GetPartitions()[0]
	return map[string]outcome{"fetch": {"OK", r.GetErrorCode(), r.GetErrorMessage(), r.GetCurrentLeader(), -1}}
}

func listOffsetsOutcome(t *testing.T, c *Cluster, id int32, topic string, ts int64, epoch int32) map[string]outcome {
	t.Helper()
	r := listOffset(t, c.BrokerClient(id), topic, 0, ts, epoch)
	return map[string]outcome{"list offsets": {"OK", r.GetErrorCode(), r.GetErrorMessage(), r.GetCurrentLeader(), -1}}
}

func fetch1(topic string, partition int32, offset int64, epoch, maxBytes, partMax int32) *stratav1.FetchRequest {
	return &stratav1.FetchRequest{MaxBytes: maxBytes, Topics: []*stratav1.FetchTopic{{
		Name: topic, Partitions: []*stratav1.FetchPartition{{PartitionId: partition, FetchOffset: offset, CurrentLeaderEpoch: epoch, PartitionMaxBytes: partMax}},
	}}}
}

// storedState is everything a bad input must leave alone.
type storedState struct {
	logs      map[string]broker.LogInfo
	metadata  map[int32]int64
	committed int64
}

func captureState(t *testing.T, c *Cluster, topics map[string]int32) storedState {
	t.Helper()
	s := storedState{logs: make(map[string]broker.LogInfo), metadata: make(map[int32]int64)}
	for _, id := range c.realBrokerIDs() {
		srv := c.RealBroker(id).Server()
		s.metadata[id] = srv.Image().Offset()
		for topic, n := range topics {
			for p := range n {
				if info, ok := srv.LogInfo(topic, p); ok {
					s.logs[fmt.Sprintf("broker %d %s-%d", id, topic, p)] = info
				}
			}
		}
	}
	s.committed = c.WaitActive(5 * time.Second).Server().Image().Offset()
	return s
}

func (s storedState) diff(o storedState) string {
	var d []string
	for k, v := range s.logs {
		if w, ok := o.logs[k]; !ok || w != v {
			d = append(d, fmt.Sprintf("%s: %+v, then %+v", k, v, w))
		}
	}
	if !maps.Equal(s.metadata, o.metadata) {
		d = append(d, fmt.Sprintf("broker metadata offsets %v, then %v", s.metadata, o.metadata))
	}
	if s.committed != o.committed {
		d = append(d, fmt.Sprintf("controller metadata offset %d, then %d", s.committed, o.committed))
	}
	slices.Sort(d)
	return strings.Join(d, "; ")
}

func TestBadInputsChangeNothing(t *testing.T) {
	c := Start(t, Options{})
	c.AddBroker(101, "", func(cfg *broker.Config) {
		cfg.MaxRequestBytes = 4 << 20
		cfg.RetentionCheckInterval = 50 * time.Millisecond
	})
	c.AddBroker(102, "", nil)
	gone := c.StartBroker(103, "") // leads "fenced" until it stops
	topics := map[string]int32{}
	var specs []topicSpec
	add := func(name string, assignment []int32, configs ...string) {
		cfg := make(map[string]string)
		for i := 0; i < len(configs); i += 2 {
			cfg[configs[i]] = configs[i+1]
		}
		specs = append(specs, topicSpec{name: name, assignment: [][]int32{assignment}, configs: cfg})
		topics[name] = 1
	}
	add("bad", []int32{101})
	add("small", []int32{101}, "max.message.bytes", "2048")
	add("compact", []int32{101}, "cleanup.policy", "compact")
	add("future", []int32{101}, "message.timestamp.after.max.ms", "60000", "message.timestamp.before.max.ms", "60000")
	add("follower", []int32{102, 101})
	add("elsewhere", []int32{102})
	add("fenced", []int32{103, 101}, "min.insync.replicas", "2")
	add("retained", []int32{101}, "retention.ms", "60000")
	add("idem", []int32{101})
	createTopics(t, c, 101, specs...)

	// "fenced" loses its leader 103: 101 leads it alone, in epoch 1.
	gone.Stop()
	testutil.WaitFor(t, 20*time.Second, func() error {
		pm := metadataOf(t, c, 101, "fenced").GetTopics()[0].GetPartitions()[0]
		if pm.GetLeader() != 101 || pm.GetLeaderEpoch() != 1 || !slices.Equal(pm.GetIsr(), []int32{101}) {
			return fmt.Errorf("fenced-0: %v", pm)
		}
		if info := logInfo(t, c, 101, "fenced", 0); info.Leader != 101 || info.LeaderEpoch != 1 {
			return fmt.Errorf("broker 101 has not applied it: %+v", info)
		}
		return nil
	})
	// Some data everywhere, so that "unchanged" means something; retention
	// empties "retained" (log start 4).
	now := time.Now().UnixMilli()
	cl := c.BrokerClient(101)
	for _, topic := range []string{"bad", "small", "compact", "future", "fenced"} {
		mustProduce(t, cl, produceReq(topic, 0, 1, buildBatch(t, recordbatch.None, nil, records(3, 10, now, "ok"))))
	}
	mustProduce(t, c.BrokerClient(102), produceReq("follower", 0, 1, buildBatch(t, recordbatch.None, nil, records(3, 10, now, "ok"))))
	for range 2 {
		mustProduce(t, cl, produceReq("retained", 0, 1, buildBatch(t, recordbatch.None, nil, records(2, 10, now-3600_000, "old"))))
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		if info := logInfo(t, c, 101, "retained", 0); info.LogStartOffset != 4 {
			return fmt.Errorf("retained-0: %+v", info)
		}
		return nil
	})
	// Producer 7, epoch 1, has appended sequences 0-2 at offset 2 and 3-4
	// at offset 5 of "idem" (after 2 plain records).
	idemBatch := func(epoch int16, seq int32, n int) []byte {
		return buildBatch(t, recordbatch.None, &recordbatch.Producer{ID: 7, Epoch: epoch, BaseSequence: seq}, records(n, 10, now, fmt.Sprintf("p7-%d-%d", epoch, seq)))
	}
	idemFirst, idemSecond := idemBatch(1, 0, 3), idemBatch(1, 3, 2)
	mustProduce(t, cl, produceReq("idem", 0, 1, buildBatch(t, recordbatch.None, nil, records(2, 10, now, "plain"))))
	if b := mustProduce(t, cl, produceReq("idem", 0, 1, idemFirst)); b != 2 {
		t.Fatalf("producer 7's first batch at %d", b)
	}
	if b := mustProduce(t, cl, produceReq("idem", 0, -1, idemSecond)); b != 5 {
		t.Fatalf("producer 7's second batch at %d", b)
	}

	// Followers catch up (their high watermark too) before the rows look
	// for changes.
	testutil.WaitFor(t, 20*time.Second, func() error {
		for k, info := range captureState(t, c, topics).logs {
			if info.HighWatermark != info.LogEndOffset {
				return fmt.Errorf("%s: %+v", k, info)
			}
		}
		return nil
	})

	valid := func() []byte {
		return buildBatch(t, recordbatch.None, nil, records(3, 20, time.Now().UnixMilli(), "x"))
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(valid()) }
	put32 := func(b []byte, off int, v uint32) { binary.BigEndian.PutUint32(b[off:], v) }
	bombs := make(map[recordbatch.Compression][]byte)
	for _, codec := range []recordbatch.Compression{recordbatch.Zstd, recordbatch.Gzip} {
		bombs[codec] = buildBatch(t, codec, nil, []recordbatch.Record{{Key: []byte("k"), Value: make([]byte, recordbatch.DefaultMaxDecompressedSize+1)}})
	}
	bomb := func(codec recordbatch.Compression) []byte { return bombs[codec] }
	tooLarge := buildBatch(t, recordbatch.None, nil, records(4, 1000, now, "big"))
	crcBad := mutate(func(b []byte) []byte { b[len(b)-1] ^= 0xFF; return b })
	storedCRC := binary.BigEndian.Uint32(crcBad[offCRC:])
	truncated := valid()
	truncated = truncated[:len(truncated)-10]
	countPastEnd := mutate(func(b []byte) []byte { put32(b, offLastDelta, 3); put32(b, offRecordCount, 4); return recrc(b) })
	withProducer := func(p recordbatch.Producer) []byte {
		return buildBatch(t, recordbatch.None, &p, records(3, 20, time.Now().UnixMilli(), "p"))
	}
	keyless := records(2, 10, now, "nokey")
	keyless[1].Key = nil
	ahead := records(2, 10, time.Now().UnixMilli(), "t")
	ahead[1].Timestamp = time.Now().Add(time.Hour).UnixMilli()
	behind := records(2, 10, time.Now().UnixMilli(), "t")
	behind[1].Timestamp = time.Now().Add(-time.Hour).UnixMilli()
	badAcks := produceReq("bad", 0, 2, valid())
	bigRequest := produceReq("bad", 0, 1, make([]byte, 5<<20))
	hint102 := &stratav1.LeaderHint{LeaderId: 102, LeaderEpoch: 0, Address: c.RealBroker(102).Addr}
	hint101e1 := &stratav1.LeaderHint{LeaderId: 101, LeaderEpoch: 1, Address: c.RealBroker(101).Addr}
	badLEO := logInfo(t, c, 101, "bad", 0).LogEndOffset

	type code = stratav1.ErrorCode
	const (
		corrupt  = stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE
		invalid  = stratav1.ErrorCode_ERROR_CODE_INVALID_RECORD
		unknownT = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION
		oor      = stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE
		anyCode  = code(-1000)
	)
	rows := []struct {
		row, name string
		send      func() map[string]outcome
		grpc      string // "OK" for a per-partition error
		code      code
		msg       []string // fragments; the first, when it starts with "=", is the whole message
		hint      *stratav1.LeaderHint
	}{
		{"1", "batch larger than max.message.bytes", func() map[string]outcome { return produceOutcomes(t, c, 101, produceReq("small", 0, 1, tooLarge)) },
			"OK", stratav1.ErrorCode_ERROR_CODE_MESSAGE_TOO_LARGE,
			[]string{fmt.Sprintf("=The record batch size in the append to small-0 is %d bytes which exceeds the maximum configured value of 2048.", len(tooLarge))}, nil},
		{"2", "request larger than the gRPC limit", func() map[string]outcome { return produceOutcomes(t, c, 101, bigRequest) },
			"ResourceExhausted", anyCode, []string{"grpc: received message larger than max ("}, nil},
		{"3", "zstd decompression bomb", func() map[string]outcome {
			return produceOutcomes(t, c, 101, produceReq("bad", 0, 1, bomb(recordbatch.Zstd)))
		},
			"OK", corrupt, []string{"=decompressed size exceeds 67108864 bytes in topic partition bad-0"}, nil},
		{"3", "gzip decompression bomb", func() map[string]outcome {
			return produceOutcomes(t, c, 101, produceReq("bad", 0, 1, bomb(recordbatch.Gzip)))
		},
			"OK", corrupt, []string{"=decompressed size exceeds 67108864 bytes in topic partition bad-0"}, nil},
		{"4", "CRC mismatch", func() map[string]outcome { return produceOutcomes(t, c, 101, produceReq("bad", 0, 1, crcBad)) },
			"OK", corrupt, []string{fmt.Sprintf("Record is corrupt (stored crc = %d, computed crc = ", storedCRC), ") in topic partition bad-0"}, nil},
		{"5", "length beyond the buffer", func() map[string]outcome { return produceOutcomes(t, c, 101, produceReq("bad", 0, 1, truncated)) },
			"OK", corrupt, []string{fmt.Sprintf("=batch truncated at byte %d in topic partition bad-0", len(truncated))}, nil},
		{"5", "bad varint under a valid CRC", func() map[string]outcome {
			b := mutate(func(b []byte) []byte {
				copy(b[recordbatch.HeaderSize:], []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
				return recrc(b)
			})
			return produceOutcomes(t, c, 101, produceReq("bad", 0, 1, b))
		}, "OK", corrupt, []string{"=invalid varint at byte 61 in topic partition bad-0"}, nil},
		{"5", "record count past the end", func() map[string]outcome { return produceOutcomes(t, c, 101, produceReq("bad", 0, 1, countPastEnd)) },
			"OK", corrupt, []string{fmt.Sprintf("=batch truncated at byte %d in topic partition bad-0", len(countPastEnd))}, nil},
		{"6", "record count 0", func() map[string]outcome {
			return produceOutcomes(t, c, 101, produceReq("bad", 0, 1, mutate(func(b []byte) []byte { put32(b, offRecordCount, 0); return recrc(b) })))
		}, "OK", invalid, []string{"=Invalid reported count for record batch: 0 in topic partition bad-0"}, nil},
		{"6", "lastOffsetDelta+1 != count", func() map[string]outcome {
			return produceOutcomes(t, c, 101, produceReq("bad", 0, 1, mutate(func(b []byte) []byte { put32(b, offLastDelta, 4); return recrc(b) })))
		}, "OK", invalid, []string{"=Inconsistent batch offset range [0, 4] and count of records 3 in topic partition bad-0"}, nil},
		{"7", "unknown codec 5", func() map[string]outcome {
			return produceOutcomes(t, c, 101, produceReq("bad", 0, 1, mutate(func(b []byte) []byte { b[offAttributes+1] |= 5; return recrc(b) })))
		}, "OK", corrupt, []string{"=unknown compression codec 5 in topic partition bad-0"}, nil},
		{"8", "control batch from a client", func() map[string]outcome {
			return produceOutcomes(t, c, 101, produceReq("bad", 0, 1, mutate(func(b []byte) []byte { b[offAttributes+1] |= 0x20; return recrc(b) })))
		}, "OK", invalid, []string{"=Clients are not allowed to write control records in topic partition bad-0"}, nil},
		{"9", "producer id with sequence -1", func() map[string]outcome {
			return produceOutcomes(t, c, 101, produceReq("bad", 0, 1, withProducer(recordbatch.Producer{ID: 7, BaseSequence: -1})))
		}, "OK", invalid, []string{"=Invalid sequence number -1 in record batch with producerId 7 in topic partition bad-0"}, nil},
		{"14", "acks 2", func() map[string]outcome { return produceOutcomes(t, c, 101, badAcks) },
			"InvalidArgument", stratav1.ErrorCode_ERROR_CODE_INVALID_REQUIRED_ACKS, []string{"=acks must be -1 (all), 0 or 1, not 2"}, nil},
		{"15", "timestamp an hour ahead", func() map[string]outcome {
			return produceOutcomes(t, c, 101, produceReq("future", 0, 1, buildBatch(t, recordbatch.LZ4, nil, ahead)))
		}, "OK", stratav1.ErrorCode_ERROR_CODE_INVALID_TIMESTAMP,
			[]string{fmt.Sprintf("=Timestamp %d of message with offset 1 is out of range. The timestamp should be within [", ahead[1].Timestamp)}, nil},
		{"15", "timestamp an hour behind", func() map[string]outcome {
			return produceOutcomes(t, c, 101, produceReq("future", 0, 1, buildBatch(t, recordbatch.None, nil, behind)))
		}, "OK", stratav1.ErrorCode_ERROR_CODE_INVALID_TIMESTAMP,
			[]string{fmt.Sprintf("=Timestamp %d of message with offset 1 is out of range. The timestamp should be within [", behind[1].Timestamp)}, nil},
		{"16", "record without a key on a compacted topic", func() map[string]outcome {
			return produceOutcomes(t, c, 101, produceReq("compact", 0, 1, buildBatch(t, recordbatch.Snappy, nil, keyless)))
		}, "OK", invalid, []string{"=Compacted topic cannot accept message without key in topic partition compact-0"}, nil},
		{"17", "unknown topic", func() map[string]outcome { return produceOutcomes(t, c, 101, produceReq("nosuch", 0, 1, valid())) },
			"OK", unknownT, []string{"=This server does not host this topic-partition."}, nil},
		{"17", "partition -1", func() map[string]outcome { return produceOutcomes(t, c, 101, produceReq("bad", -1, 1, valid())) },
			"OK", unknownT, []string{"=This server does not host this topic-partition."}, nil},
		{"17", "partition 99", func() map[string]outcome { return produceOutcomes(t, c, 101, produceReq("bad", 99, 1, valid())) },
			"OK", unknownT, []string{"=This server does not host this topic-partition."}, nil},
		{"17", "illegal topic name", func() map[string]outcome { return produceOutcomes(t, c, 101, produceReq("a/b", 0, 1, valid())) },
			"OK", stratav1.ErrorCode_ERROR_CODE_INVALID_TOPIC_EXCEPTION,
			[]string{`=Topic name "a/b" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`}, nil},
		{"17", "no record batch", func() map[string]outcome { return produceOutcomes(t, c, 101, produceReq("bad", 0, 1)) },
			"OK", invalid, []string{"=Produce requests must have at least one record batch per partition in topic partition bad-0"}, nil},
		{"18", "produce to a follower", func() map[string]outcome { return produceOutcomes(t, c, 101, produceReq("follower", 0, 1, valid())) },
			"OK", errNotLeader, []string{"is not the leader of follower-0"}, hint102},
		{"18", "produce to a non-replica", func() map[string]outcome { return produceOutcomes(t, c, 101, produceReq("elsewhere", 0, 1, valid())) },
			"OK", errNotLeader, []string{"is not the leader of elsewhere-0"}, hint102},
		{"19", "acks=all with ISR below min.insync.replicas", func() map[string]outcome {
			return produceOutcomes(t, c, 101, produceReq("fenced", 0, -1, valid()))
		}, "OK", stratav1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS,
			[]string{"=The size of the current ISR [101] is insufficient to satisfy the min.isr requirement of 2 for partition fenced-0"}, nil},
		{"22", "fetch above the log end", func() map[string]outcome { return fetchOutcome(t, c, 101, fetch1("bad", 0, 1000, -1, 1<<20, 0)) },
			"OK", oor, []string{fmt.Sprintf("=Fetch offset 1000 is out of range for partition bad-0: log start offset 0, high watermark %d, log end offset %d", badLEO, badLEO)}, nil},
		{"22", "negative fetch offset", func() map[string]outcome { return fetchOutcome(t, c, 101, fetch1("bad", 0, -5, -1, 1<<20, 0)) },
			"OK", oor, []string{fmt.Sprintf("=Fetch offset -5 is out of range for partition bad-0: log start offset 0, high watermark %d, log end offset %d", badLEO, badLEO)}, nil},
		{"22", "fetch below the log start", func() map[string]outcome { return fetchOutcome(t, c, 101, fetch1("retained", 0, 0, -1, 1<<20, 0)) },
			"OK", oor, []string{"=Fetch offset 0 is out of range for partition retained-0: log start offset 4, high watermark 4, log end offset 4"}, nil},
		{"23", "fetch with an older leader epoch", func() map[string]outcome { return fetchOutcome(t, c, 101, fetch1("fenced", 0, 0, 0, 1<<20, 0)) },
			"OK", stratav1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH,
			[]string{"=The leader epoch in the request (0) is older than the epoch on the broker (1)."}, hint101e1},
		{"23", "fetch with a newer leader epoch", func() map[string]outcome { return fetchOutcome(t, c, 101, fetch1("fenced", 0, 0, 5, 1<<20, 0)) },
			"OK", stratav1.ErrorCode_ERROR_CODE_UNKNOWN_LEADER_EPOCH,
			[]string{"=The leader epoch in the request (5) is newer than the epoch on the broker (1)."}, nil},
		{"23", "list offsets with an older leader epoch", func() map[string]outcome { return listOffsetsOutcome(t, c, 101, "fenced", -1, 0) },
			"OK", stratav1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH,
			[]string{"=The leader epoch in the request (0) is older than the epoch on the broker (1)."}, hint101e1},
		{"23", "list offsets with a newer leader epoch", func() map[string]outcome { return listOffsetsOutcome(t, c, 101, "fenced", -1, 2) },
			"OK", stratav1.ErrorCode_ERROR_CODE_UNKNOWN_LEADER_EPOCH,
			[]string{"=The leader epoch in the request (2) is newer than the epoch on the broker (1)."}, nil},
		{"24", "fetch max_bytes 0", func() map[string]outcome { return fetchOutcome(t, c, 101, fetch1("bad", 0, 0, -1, 0, 0)) },
			"InvalidArgument", stratav1.ErrorCode_ERROR_CODE_INVALID_FETCH_SIZE, []string{"=The requested fetch size is invalid."}, nil},
		{"24", "fetch max_bytes -1", func() map[string]outcome { return fetchOutcome(t, c, 101, fetch1("bad", 0, 0, -1, -1, 0)) },
			"InvalidArgument", stratav1.ErrorCode_ERROR_CODE_INVALID_FETCH_SIZE, []string{"=The requested fetch size is invalid."}, nil},
		{"24", "fetch partition_max_bytes -1", func() map[string]outcome { return fetchOutcome(t, c, 101, fetch1("bad", 0, 0, -1, 1<<20, -1)) },
			"OK", stratav1.ErrorCode_ERROR_CODE_INVALID_FETCH_SIZE, []string{"=The requested fetch size is invalid."}, nil},
		{"50", "unknown RPC method", func() map[string]outcome {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := c.RealBroker(101).conn.Invoke(ctx, "/strata.v1.BrokerService/NoSuchMethod", &stratav1.MetadataRequest{}, &stratav1.MetadataResponse{})
			return map[string]outcome{"invoke": wholeRequest(err)}
		}, "Unimplemented", anyCode, []string{"unknown method NoSuchMethod"}, nil},
	}
	for _, r := range rows {
		t.Run(fmt.Sprintf("row %s %s", r.row, r.name), func(t *testing.T) {
			before := captureState(t, c, topics)
			outs := r.send()
			for via, o := range outs {
				if o.grpc != r.grpc || (r.code != anyCode && o.code != r.code) {
					t.Errorf("%s: %v, want %s/%s", via, o, r.grpc, rpc.CodeName(r.code))
				}
				for i, m := range r.msg {
					if whole, ok := strings.CutPrefix(m, "="); ok && i == 0 {
						if !strings.HasPrefix(o.msg, whole) || (!strings.HasSuffix(whole, "[") && o.msg != whole) {
							t.Errorf("%s: message %q, want %q", via, o.msg, whole)
						}
					} else if !strings.Contains(o.msg, m) {
						t.Errorf("%s: message %q lacks %q", via, o.msg, m)
					}
				}
				if r.hint != nil && (o.hint.GetLeaderId() != r.hint.GetLeaderId() || o.hint.GetLeaderEpoch() != r.hint.GetLeaderEpoch() ||
					o.hint.GetAddress() != r.hint.GetAddress()) {
					t.Errorf("%s: leader hint %v, want %v", via, o.hint, r.hint)
				}
			}
			if d := before.diff(captureState(t, c, topics)); d != "" {
				t.Errorf("stored state changed: %s", d)
			}
		})
	}

	// Rows 10-13: producer 7's batches on "idem" (LEO 7). A refused batch
	// changes nothing; an exact retry of one of the producer's last five
	// batches is answered with the original offset, with acks 1 or -1, and
	// changes nothing either.
	const (
		outOfOrder   = stratav1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE_NUMBER
		invalidEpoch = stratav1.ErrorCode_ERROR_CODE_INVALID_PRODUCER_EPOCH
	)
	for _, r := range []struct {
		row, name string
		req       *stratav1.ProduceRequest
		code      code
		msg       string
		base      int64
	}{
		{row: "10", name: "sequence gap", req: produceReq("idem", 0, 1, idemBatch(1, 6, 1)), code: outOfOrder,
			msg: "Out of order sequence number for producer 7 at offset 7 in partition idem-0: 6 (incoming seq. number), 4 (current end sequence number)", base: -1},
		{row: "10", name: "sequence gap, acks=-1", req: produceReq("idem", 0, -1, idemBatch(1, 9, 2)), code: outOfOrder,
			msg: "Out of order sequence number for producer 7 at offset 7 in partition idem-0: 9 (incoming seq. number), 4 (current end sequence number)", base: -1},
		{row: "10", name: "overlapping sequences", req: produceReq("idem", 0, 1, idemBatch(1, 4, 2)), code: outOfOrder,
			msg: "Out of order sequence number for producer 7 at offset 7 in partition idem-0: 4 (incoming seq. number), 4 (current end sequence number)", base: -1},
		{row: "11", name: "exact retry of the last batch", req: produceReq("idem", 0, 1, idemSecond), base: 5},
		{row: "11", name: "exact retry of the first batch, acks=-1", req: produceReq("idem", 0, -1, idemFirst), base: 2},
		{row: "11", name: "retry with the sequences of the first batch", req: produceReq("idem", 0, 1, idemBatch(1, 0, 3)), base: 2},
		{row: "12", name: "new epoch not at sequence 0", req: produceReq("idem", 0, 1, idemBatch(2, 5, 1)), code: outOfOrder,
			msg: "Invalid sequence number for new epoch: 2 (request epoch), 5 (seq. number)", base: -1},
		{row: "13", name: "older epoch", req: produceReq("idem", 0, 1, idemBatch(0, 5, 1)), code: invalidEpoch,
			msg: "Epoch of producer 7 at offset 7 in idem-0 is 0, which is smaller than the last seen epoch 1", base: -1},
		{row: "13", name: "older epoch, retry of a batch", req: produceReq("idem", 0, 1, idemBatch(0, 0, 3)), code: invalidEpoch,
			msg: "Epoch of producer 7 at offset 7 in idem-0 is 0, which is smaller than the last seen epoch 1", base: -1},
	} {
		t.Run(fmt.Sprintf("row %s %s", r.row, r.name), func(t *testing.T) {
			before := captureState(t, c, topics)
			for via, o := range produceOutcomes(t, c, 101, r.req) {
				if o.grpc != "OK" || o.code != r.code || o.msg != r.msg || o.base != r.base {
					t.Errorf("%s: %v base offset %d, want %s %q base offset %d", via, o, o.base, rpc.CodeName(r.code), r.msg, r.base)
				}
			}
			if d := before.diff(captureState(t, c, topics)); d != "" {
				t.Errorf("stored state changed: %s", d)
			}
		})
	}

	// Row 50: unknown fields are ignored.
	req := produceReq("bad", 0, 1, valid())
	req.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 42))
	if r := produce(t, cl, req); r.GetErrorCode() != errNone {
		t.Fatalf("a request with an unknown field: %v", r)
	}
}

// TestNotEnoughReplicasAfterAppend (BAD_INPUTS row 20): an acks=all append
// waits for its in-sync replicas; when the ISR shrinks below
// min.insync.replicas meanwhile, the answer is
// NOT_ENOUGH_REPLICAS_AFTER_APPEND, and the batch stays (the outcome is
// indeterminate for the client).
func TestNotEnoughReplicasAfterAppend(t *testing.T) {
	c := Start(t, Options{BrokerSessionTimeout: 2 * time.Second})
	c.AddBroker(101, "", nil)
	follower := c.StartBroker(104, "")
	createTopics(t, c, 101, topicSpec{name: "shrink", assignment: [][]int32{{101, 104}}, configs: map[string]string{"min.insync.replicas": "2"}})
	req := produceReq("shrink", 0, -1, buildBatch(t, recordbatch.None, nil, records(3, 10, time.Now().UnixMilli(), "w")))
	req.TimeoutMs = 30000
	answer := make(chan *stratav1.ProducePartitionResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		resp, err := c.BrokerClient(101).Produce(ctx, req)
		if err != nil {
			answer <- &stratav1.ProducePartitionResult{ErrorMessage: err.Error(), ErrorCode: -1}
			return
		}
		answer <- resp.GetTopics()[0].GetPartitions()[0]
	}()
	testutil.WaitFor(t, 10*time.Second, func() error {
		if info := logInfo(t, c, 101, "shrink", 0); info.LogEndOffset != 3 || info.HighWatermark != 0 {
			return fmt.Errorf("shrink-0: %+v", info)
		}
		return nil
	})
	follower.Stop() // fenced after the session timeout: the ISR is 101 alone
	r := <-answer
	if r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS_AFTER_APPEND ||
		r.GetErrorMessage() != "The size of the current ISR [101] is insufficient to satisfy the min.isr requirement of 2 for partition shrink-0" {
		t.Fatalf("ISR shrank after the append: %v", r)
	}
	if info := logInfo(t, c, 101, "shrink", 0); info.LogEndOffset != 3 || info.HighWatermark != 3 {
		t.Fatalf("shrink-0 after: %+v", info)
	}
}

// TestOffsetNotAvailableUntilTheHighWatermarkCatchesUp (BAD_INPUTS row 25):
// a leader elected with records above its high watermark answers
// ListOffsets with OFFSET_NOT_AVAILABLE until its high watermark reaches the
// start of its epoch. Without replication (issue #5) the high watermark of
// a partition with two in-sync replicas stays put, which makes the state
// easy to reach: 101 leads and takes records, hands the leadership to 106
// (controlled shutdown), comes back into the ISR (106 asks for it), and
// leads again when 106 goes.
func TestOffsetNotAvailableUntilTheHighWatermarkCatchesUp(t *testing.T) {
	c := Start(t, Options{BrokerSessionTimeout: 2 * time.Second})
	c.AddBroker(101, "", nil)
	b106 := c.StartBroker(106, "")
	c.StartBroker(107, "")
	createTopics(t, c, 101, topicSpec{name: "lag", assignment: [][]int32{{101, 106, 107}}})
	mustProduce(t, c.BrokerClient(101), produceReq("lag", 0, 1, buildBatch(t, recordbatch.None, nil, records(3, 10, time.Now().UnixMilli(), "l"))))
	c.StopRealBroker(101) // controlled shutdown: 106 leads, epoch 1
	c.StartRealBroker(101)
	var topicID []byte
	var pm *stratav1.PartitionMetadata
	testutil.WaitFor(t, 20*time.Second, func() error {
		tm := metadataOf(t, c, 101, "lag").GetTopics()[0]
		topicID, pm = tm.GetTopicId(), tm.GetPartitions()[0]
		if pm.GetLeader() != 106 || slices.Contains(pm.GetIsr(), 101) {
			return fmt.Errorf("lag-0: %v", pm)
		}
		return nil
	})
	active := c.WaitActive(5 * time.Second)
	p, _ := active.Server().Image().Topic("lag")
	ctx := ctxT(t)
	resp, err := c.ControllerClient(active.ID).AlterPartition(ctx, &stratav1.AlterPartitionRequest{
		BrokerId: 106, BrokerEpoch: b106.Epoch(), Topics: []*stratav1.AlterPartitionTopic{{TopicId: topicID, Partitions: []*stratav1.AlterPartitionPartition{{
			PartitionId: 0, LeaderEpoch: pm.GetLeaderEpoch(), PartitionEpoch: p.Partitions[0].PartitionEpoch, NewIsr: []int32{106, 107, 101},
		}}}},
	})
	if err != nil || resp.GetTopics()[0].GetPartitions()[0].GetErrorCode() != errNone {
		t.Fatalf("106 adds 101 to the ISR: %v %v", err, resp)
	}
	b106.Stop() // fenced: 101, first in the ISR, leads in epoch 2 with 3 records above its high watermark 0
	testutil.WaitFor(t, 20*time.Second, func() error {
		if info := logInfo(t, c, 101, "lag", 0); info.Leader != 101 || info.LeaderEpoch != 2 {
			return fmt.Errorf("lag-0 on 101: %+v", info)
		}
		return nil
	})
	before := captureState(t, c, map[string]int32{"lag": 1})
	for _, ts := range []int64{-1, -2, 0} {
		r := listOffset(t, c.BrokerClient(101), "lag", 0, ts, 2)
		want := "Failed to fetch offsets for partition lag-0 with leader epoch 2 as this partition's high watermark (0) is lagging behind the start offset from the beginning of this epoch (3)."
		if r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_OFFSET_NOT_AVAILABLE || r.GetErrorMessage() != want || r.GetOffset() != -1 {
			t.Fatalf("list offsets %d: %v", ts, r)
		}
	}
	if d := before.diff(captureState(t, c, map[string]int32{"lag": 1})); d != "" {
		t.Fatalf("stored state changed: %s", d)
	}
}
