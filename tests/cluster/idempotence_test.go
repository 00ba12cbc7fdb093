package cluster

import (
	"fmt"
	"math"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
)

// initProducerID calls InitProducerId on broker id and wants an answer
// without error.
func initProducerID(t *testing.T, c *Cluster, id int32, producerID int64, epoch int32) (int64, int32) {
	t.Helper()
	ctx := ctxT(t)
	resp, err := c.BrokerClient(id).InitProducerId(ctx, &stratav1.InitProducerIdRequest{ProducerId: producerID, ProducerEpoch: epoch})
	if err != nil {
		t.Fatalf("InitProducerId(%d, %d) on broker %d: %v", producerID, epoch, id, err)
	}
	if resp.GetErrorCode() != errNone {
		t.Fatalf("InitProducerId(%d, %d) on broker %d: %v %s", producerID, epoch, id, resp.GetErrorCode(), resp.GetErrorMessage())
	}
	return resp.GetProducerId(), resp.GetProducerEpoch()
}

// Producer ids are unique in the cluster: two brokers hand out ids of
// different blocks, and after the active controller fails over, the blocks
// the new one gives never repeat an id given before. Naming an id bumps its
// epoch, up to 32767; past it, a new id.
func TestInitProducerIdUniqueAcrossBrokersAndFailover(t *testing.T) {
	c := Start(t, Options{})
	c.AddBroker(101, "", nil)
	c.AddBroker(102, "", nil)
	seen := make(map[int64]string)
	take := func(broker int32, n int, phase string) {
		t.Helper()
		for range n {
			id, epoch := initProducerID(t, c, broker, -1, -1)
			if epoch != 0 || id < 0 {
				t.Fatalf("%s: new producer on broker %d: id %d epoch %d", phase, broker, id, epoch)
			}
			if was, dup := seen[id]; dup {
				t.Fatalf("%s: broker %d gave producer id %d again (first given %s)", phase, broker, id, was)
			}
			seen[id] = fmt.Sprintf("by broker %d %s", broker, phase)
		}
	}
	take(101, 10, "at first")
	take(102, 10, "at first")
	take(101, 10, "at first")

	// The epoch bump keeps the id.
	var id int64
	for k := range seen {
		id = k
		break
	}
	if got, epoch := initProducerID(t, c, 102, id, 0); got != id || epoch != 1 {
		t.Fatalf("bump of (%d, 0): (%d, %d)", id, got, epoch)
	}
	if got, epoch := initProducerID(t, c, 101, id, math.MaxInt16-1); got != id || epoch != math.MaxInt16 {
		t.Fatalf("bump of (%d, 32766): (%d, %d)", id, got, epoch)
	}
	got, epoch := initProducerID(t, c, 101, id, math.MaxInt16)
	if got == id || epoch != 0 || seen[got] != "" {
		t.Fatalf("bump of (%d, 32767): (%d, %d), want a new id with epoch 0", id, got, epoch)
	}
	seen[got] = "for an exhausted epoch"

	// Malformed requests.
	for _, r := range [][2]int64{{-1, 0}, {5, -1}, {-2, -1}, {5, math.MaxInt16 + 1}} {
		_, err := c.BrokerClient(101).InitProducerId(ctxT(t), &stratav1.InitProducerIdRequest{ProducerId: r[0], ProducerEpoch: int32(r[1])})
		if e := rpc.FromError(err); e == nil || e.Code != stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST || e.GRPCCode().String() != "InvalidArgument" {
			t.Errorf("InitProducerId(%d, %d): %v", r[0], r[1], err)
		}
	}

	// The controllers refuse a block to a stale broker epoch, in the
	// answer; a standby answers NOT_CONTROLLER.
	active := c.WaitActive(10 * time.Second)
	resp, err := c.ControllerClient(active.ID).AllocateProducerIds(ctxT(t), &stratav1.AllocateProducerIdsRequest{BrokerId: 101, BrokerEpoch: 1})
	if err != nil || resp.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH {
		t.Fatalf("AllocateProducerIds with a stale epoch: %v %v", resp, err)
	}
	_, err = c.ControllerClient(c.Standby().ID).AllocateProducerIds(ctxT(t), &stratav1.AllocateProducerIdsRequest{
		BrokerId: 101, BrokerEpoch: c.RealBroker(101).Server().Epoch(),
	})
	if !containsCode(err, stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER) {
		t.Fatalf("AllocateProducerIds on a standby: %v", err)
	}
	before := active.Server().Image().NextProducerID()

	// Fail over, then use up the brokers' blocks: the new active
	// controller allocates after the ids given so far.
	c.StopController(active.ID)
	next := c.WaitActive(20 * time.Second)
	if next.ID == active.ID {
		t.Fatal("no new active controller")
	}
	take(101, 1000, "after the failover")
	take(102, 1000, "after the failover")
	testutil.WaitFor(t, 10*time.Second, func() error {
		if n := next.Server().Image().NextProducerID(); n < before+2000 {
			return fmt.Errorf("next producer id %d, was %d before the failover", n, before)
		}
		return nil
	})
	// A restarted broker gets a new block as well.
	c.StopRealBroker(102)
	c.StartRealBroker(102)
	take(102, 3, "after a restart")
	if len(seen) != 3*10+1+2*1000+3 {
		t.Fatalf("%d distinct ids", len(seen))
	}
}

// A retry of an acknowledged idempotent batch, sent to the follower that
// took over the leadership, is answered with the original offset: the
// follower recorded the producer's batches when it replicated them.
func TestIdempotentRetryAfterLeaderChange(t *testing.T) {
	c := Start(t, Options{})
	c.AddBroker(101, "", nil)
	c.AddBroker(102, "", nil)
	createTopics(t, c, 101, topicSpec{name: "idem", assignment: [][]int32{{101, 102}}})
	pid, epoch := initProducerID(t, c, 101, -1, -1)
	batch := func(seq int32, n int) []byte {
		return buildBatch(t, recordbatch.LZ4, &recordbatch.Producer{ID: pid, Epoch: int16(epoch), BaseSequence: seq},
			records(n, 20, time.Now().UnixMilli(), fmt.Sprintf("seq-%d", seq)))
	}
	first, second := batch(0, 3), batch(3, 2)
	mustProduce(t, c.BrokerClient(101), produceReq("idem", 0, -1, first))
	if base := mustProduce(t, c.BrokerClient(101), produceReq("idem", 0, -1, second)); base != 3 {
		t.Fatalf("second batch at %d", base)
	}

	c.StopRealBroker(101) // controlled shutdown: 102 leads
	waitLeaders(t, c, "idem")
	if info := logInfo(t, c, 102, "idem", 0); info.Leader != 102 || info.LogEndOffset != 5 {
		t.Fatalf("idem-0 on 102: %+v", info)
	}
	for _, r := range []struct {
		batch []byte
		base  int64
	}{{second, 3}, {first, 0}} {
		if got := mustProduce(t, c.BrokerClient(102), produceReq("idem", 0, -1, r.batch)); got != r.base {
			t.Fatalf("retry on the new leader answered offset %d, want %d", got, r.base)
		}
	}
	if info := logInfo(t, c, 102, "idem", 0); info.LogEndOffset != 5 {
		t.Fatalf("the retries were appended: %+v", info)
	}
	r := produce(t, c.BrokerClient(102), produceReq("idem", 0, 1, batch(6, 1)))
	if r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE_NUMBER {
		t.Fatalf("a gap on the new leader: %v", r)
	}
	if base := mustProduce(t, c.BrokerClient(102), produceReq("idem", 0, 1, batch(5, 1))); base != 5 {
		t.Fatalf("the next batch at %d", base)
	}
}
