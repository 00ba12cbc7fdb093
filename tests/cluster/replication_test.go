package cluster

import (
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
