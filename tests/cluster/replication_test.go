package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/testutil"
)

// waitReplicasEqual waits until every running broker holding a replica of
// topic-partition has the leader's log end offset, and every high
// watermark is there too.
func waitReplicasEqual(t testing.TB, c *Cluster, topic string, partition int32, replicas []int32, leo int64) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, func() error {
		for _, id := range replicas {
			if c.RealBroker(id).Server() == nil {
				continue
			}
			info := logInfo(t, c, id, topic, partition)
			if info.LogEndOffset != leo || info.HighWatermark != leo {
				return fmt.Errorf("broker %d: %s-%d has LEO %d HW %d, want %d", id, topic, partition, info.LogEndOffset, info.HighWatermark, leo)
			}
		}
		return nil
	})
}

func waitISR(t testing.TB, c *Cluster, topic string, partition int32, want []int32) {
	t.Helper()
	c.WaitPartition(topic, partition, func(p *metadata.Partition) error {
		isr := slices.Sorted(slices.Values(p.ISR))
		if !slices.Equal(isr, want) {
			return fmt.Errorf("%s-%d ISR %v, want %v", topic, partition, isr, want)
		}
		return nil
	})
}

func TestReplicationAcksAllAndFollowersCatchUp(t *testing.T) {
	c := Start(t, Options{BrokerSessionTimeout: 2 * time.Second})
	for _, id := range []int32{101, 102, 103} {
		c.AddBroker(id, "", nil)
	}
	createTopics(t, c, 101, topicSpec{name: "rep", partitions: 3, rf: 3, configs: map[string]string{"min.insync.replicas": "2"}})
	leaders := waitLeaders(t, c, "rep")
	var sent [3][]recordbatch.Record
	for round := range 20 {
		for p := range int32(3) {
			recs := records(5, 100, time.Now().UnixMilli(), fmt.Sprintf("r%d-p%d", round, p))
			sent[p] = append(sent[p], recs...)
			req := produceReq("rep", p, -1, buildBatch(t, recordbatch.None, nil, recs))
			req.TimeoutMs = 10000
			if off := mustProduce(t, c.BrokerClient(leaders[p]), req); off != int64(round*5) {
				t.Fatalf("rep-%d round %d: base offset %d", p, round, off)
			}
		}
	}
	for p := range int32(3) {
		// acks=all answered: the high watermark covers every record, on the
		// leader at once and on the followers after their next fetch.
		if info := logInfo(t, c, leaders[p], "rep", p); info.HighWatermark != 100 {
			t.Fatalf("rep-%d: leader HW %d after 100 acknowledged records", p, info.HighWatermark)
		}
		waitReplicasEqual(t, c, "rep", p, []int32{101, 102, 103}, 100)
	}

	// The leader of partition 0 stops; another replica leads with every
	// acknowledged record.
	old := leaders[0]
	c.StopRealBroker(old)
	var next int32
	c.WaitPartition("rep", 0, func(mp *metadata.Partition) error {
		if mp.Leader == old || mp.Leader < 0 {
			return fmt.Errorf("leader %d", mp.Leader)
		}
		next = mp.Leader
		return nil
	})
	waitLeaders(t, c, "rep")
	got := fetchUntil(t, c.BrokerClient(next), "rep", 0, 0, 100, 1<<20)
	for i, r := range got {
		if err := sameRecord(sent[0][i], r.rec); err != nil || r.offset != int64(i) {
			t.Fatalf("record %d at offset %d from the new leader: %v", i, r.offset, err)
		}
	}
	// It takes writes with the old leader gone (ISR of two, min.insync 2).
	req := produceReq("rep", 0, -1, buildBatch(t, recordbatch.None, nil, records(5, 100, time.Now().UnixMilli(), "after")))
	req.TimeoutMs = 10000
	if off := mustProduce(t, c.BrokerClient(next), req); off != 100 {
		t.Fatalf("first offset after the failover: %d", off)
	}

	// The old leader comes back, catches up and rejoins every ISR.
	c.StartRealBroker(old)
	for p := range int32(3) {
		waitISR(t, c, "rep", p, []int32{101, 102, 103})
	}
	waitLeaders(t, c, "rep")
	waitReplicasEqual(t, c, "rep", 0, []int32{101, 102, 103}, 105)
}

func TestISRShrinksWhenAFollowerStopsAndAcksAllNeedsMinISR(t *testing.T) {
	c := Start(t, Options{BrokerSessionTimeout: 2 * time.Second})
	for _, id := range []int32{101, 102} {
		c.AddBroker(id, "", nil)
	}
	createTopics(t, c, 101, topicSpec{name: "isr", assignment: [][]int32{{101, 102}},
		configs: map[string]string{"min.insync.replicas": "2", "replica.lag.time.max.ms": "1000"}})
	waitISR(t, c, "isr", 0, []int32{101, 102})
	req := produceReq("isr", 0, -1, buildBatch(t, recordbatch.None, nil, records(3, 10, time.Now().UnixMilli(), "a")))
	req.TimeoutMs = 10000
	mustProduce(t, c.BrokerClient(101), req)

	c.StopRealBroker(102)
	waitISR(t, c, "isr", 0, []int32{101})
	r := produce(t, c.BrokerClient(101), req)
	if r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS {
		t.Fatalf("acks=all with an ISR of one and min.insync.replicas 2: %v %s", r.GetErrorCode(), r.GetErrorMessage())
	}
	// acks=1 still works.
	req1 := produceReq("isr", 0, 1, buildBatch(t, recordbatch.None, nil, records(2, 10, time.Now().UnixMilli(), "b")))
	if off := mustProduce(t, c.BrokerClient(101), req1); off != 3 {
		t.Fatalf("acks=1 offset %d", off)
	}
	c.StartRealBroker(102)
	waitISR(t, c, "isr", 0, []int32{101, 102})
	waitReplicasEqual(t, c, "isr", 0, []int32{101, 102}, 5)
	if off := mustProduce(t, c.BrokerClient(101), req); off != 5 {
		t.Fatalf("acks=all after the follower rejoined: offset %d", off)
	}
}

// TestBrokersServeWithoutAControllerQuorum: with two of three controllers
// down there is no quorum, and the brokers go on serving acks=all produce
// and fetch on the leaders they have; ISR changes resume with the quorum.
func TestBrokersServeWithoutAControllerQuorum(t *testing.T) {
	c := Start(t, Options{BrokerSessionTimeout: 2 * time.Second})
	for _, id := range []int32{101, 102} {
		c.AddBroker(id, "", nil)
	}
	createTopics(t, c, 101, topicSpec{name: "noquorum", assignment: [][]int32{{101, 102}}, configs: map[string]string{"min.insync.replicas": "2"}})
	waitISR(t, c, "noquorum", 0, []int32{101, 102})
	c.StopController(2)
	c.StopController(3)
	for i := range 10 {
		req := produceReq("noquorum", 0, -1, buildBatch(t, recordbatch.None, nil, records(4, 50, time.Now().UnixMilli(), fmt.Sprintf("nq%d", i))))
		req.TimeoutMs = 10000
		if off := mustProduce(t, c.BrokerClient(101), req); off != int64(4*i) {
			t.Fatalf("acks=all without a quorum: offset %d", off)
		}
	}
	if got := fetchUntil(t, c.BrokerClient(101), "noquorum", 0, 0, 40, 1<<20); len(got) != 40 {
		t.Fatalf("fetched %d records without a quorum", len(got))
	}
	waitReplicasEqual(t, c, "noquorum", 0, []int32{101, 102}, 40)

	// The quorum comes back; a stopped follower then leaves the ISR.
	c.StartController(2)
	c.StartController(3)
	c.WaitActive(20 * time.Second)
	c.StopRealBroker(102)
	waitISR(t, c, "noquorum", 0, []int32{101})
}

// TestAConsumerFetchFollowsTheLeaderChange: a long poll on the leader is
// answered NOT_LEADER_OR_FOLLOWER naming the new leader when the leadership
// moves (here by controlled shutdown), and the new leader serves every
// committed record.
func TestAConsumerFetchFollowsTheLeaderChange(t *testing.T) {
	c := Start(t, Options{BrokerSessionTimeout: 2 * time.Second})
	for _, id := range []int32{101, 102} {
		c.AddBroker(id, "", nil)
	}
	createTopics(t, c, 101, topicSpec{name: "moving", assignment: [][]int32{{101, 102}}})
	waitISR(t, c, "moving", 0, []int32{101, 102})
	req := produceReq("moving", 0, -1, buildBatch(t, recordbatch.None, nil, records(6, 50, time.Now().UnixMilli(), "m")))
	req.TimeoutMs = 10000
	mustProduce(t, c.BrokerClient(101), req)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := c.BrokerClient(101).Fetch(ctx, &stratav1.FetchRequest{MaxWaitMs: 20000, MinBytes: 1, MaxBytes: 1 << 20, Topics: []*stratav1.FetchTopic{{
		Name: "moving", Partitions: []*stratav1.FetchPartition{{PartitionId: 0, FetchOffset: 6, CurrentLeaderEpoch: -1}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	answer := make(chan *stratav1.FetchPartitionResult, 1)
	go func() {
		resp, err := stream.Recv()
		if err != nil {
			answer <- &stratav1.FetchPartitionResult{ErrorCode: -1, ErrorMessage: err.Error()}
			return
		}
		answer <- resp.GetTopics()[0].GetPartitions()[0]
	}()
	stopped := make(chan struct{})
	go func() { defer close(stopped); c.StopRealBroker(101) }()
	var r *stratav1.FetchPartitionResult
	select {
	case r = <-answer:
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll was not answered when the leadership moved")
	}
	<-stopped
	if r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER || r.GetCurrentLeader().GetLeaderId() != 102 {
		t.Fatalf("long poll answered %v %q, leader hint %v", r.GetErrorCode(), r.GetErrorMessage(), r.GetCurrentLeader())
	}
	got := fetchUntil(t, c.BrokerClient(102), "moving", 0, 0, 6, 1<<20)
	if len(got) != 6 {
		t.Fatalf("the new leader serves %d records, want 6", len(got))
	}
}
