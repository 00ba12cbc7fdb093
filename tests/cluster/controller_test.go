package cluster

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/metaprops"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
	"github.com/strata-log/strata/services/controller/controller"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *testing.T, admin stratav1.AdminServiceClient, name string, partitions, rf int32) *stratav1.CreatableTopicResult {
	t.Helper()
	resp, err := admin.CreateTopics(ctxT(t), &stratav1.CreateTopicsRequest{Topics: []*stratav1.CreatableTopic{
		{Name: name, NumPartitions: partitions, ReplicationFactor: rf},
	}})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	r := resp.GetTopics()[0]
	if r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
		t.Fatalf("create %s: %v %s", name, r.GetErrorCode(), r.GetErrorMessage())
	}
	return r
}

// snapshot is a controller's image as bytes, for comparisons.
func snapshot(t *testing.T, ctl *Controller) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := ctl.Server().Image().WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// waitSameImages waits until every running controller has the same image.
func waitSameImages(t *testing.T, c *Cluster) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, func() error {
		var first []byte
		var firstID int32
		for id, ctl := range c.Controllers {
			if !ctl.Running() {
				continue
			}
			s := snapshot(t, ctl)
			if first == nil {
				first, firstID = s, id
				continue
			}
			if !bytes.Equal(first, s) {
				return fmt.Errorf("controllers %d and %d differ (offsets %d and %d)", firstID, id,
					c.Controllers[firstID].Server().Image().Offset(), ctl.Server().Image().Offset())
			}
		}
		return nil
	})
}

func TestFailoverKeepsEverythingAndTakesWrites(t *testing.T) {
	c := Start(t, Options{})
	for id := int32(101); id <= 103; id++ {
		c.StartBroker(id, "")
	}
	// A write to a standby is forwarded to the active controller.
	standby := c.Standby()
	createTopic(t, c.Admin(standby.ID), "before", 3, 1)

	active := c.WaitActive(5 * time.Second)
	c.StopController(active.ID)
	next := c.WaitActive(10 * time.Second)
	if next.ID == active.ID {
		t.Fatal("the stopped controller is still active")
	}
	createTopic(t, c.Admin(next.ID), "after", 2, 1)

	for id, ctl := range c.Controllers {
		if !ctl.Running() {
			continue
		}
		testutil.WaitFor(t, 5*time.Second, func() error {
			img := ctl.Server().Image()
			for _, name := range []string{"before", "after"} {
				if _, ok := img.Topic(name); !ok {
					return fmt.Errorf("controller %d lacks topic %s", id, name)
				}
			}
			return nil
		})
	}
	// The old active controller comes back and catches up.
	c.StartController(active.ID)
	waitSameImages(t, c)
}

func TestBrokerLifecycleCallsOnAStandbyNameTheActiveController(t *testing.T) {
	c := Start(t, Options{})
	active := c.WaitActive(5 * time.Second)
	standby := c.Standby()
	_, err := c.ControllerClient(standby.ID).RegisterBroker(ctxT(t), &stratav1.RegisterBrokerRequest{
		BrokerId: 1, ClusterId: c.ClusterID, IncarnationId: "x", Address: "127.0.0.1:1",
	})
	e := rpc.FromError(err)
	if e == nil || e.Code != stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER {
		t.Fatalf("err %v, want NOT_CONTROLLER", err)
	}
	if e.Controller.GetID() != active.ID || e.Controller.GetAddress() != active.Addr {
		t.Fatalf("hint %+v, want controller %d at %s", e.Controller, active.ID, active.Addr)
	}
	// The wrong cluster id is refused by the active controller.
	_, err = c.ControllerClient(active.ID).RegisterBroker(ctxT(t), &stratav1.RegisterBrokerRequest{
		BrokerId: 1, ClusterId: "someoneelse", IncarnationId: "x", Address: "127.0.0.1:1",
	})
	if !containsCode(err, stratav1.ErrorCode_ERROR_CODE_INCONSISTENT_CLUSTER_ID) {
		t.Fatalf("err %v, want INCONSISTENT_CLUSTER_ID", err)
	}
}

func TestFencingMovesLeadershipAndRejoinRestoresIt(t *testing.T) {
	c := Start(t, Options{BrokerSessionTimeout: time.Second, LeaderRebalanceInterval: 200 * time.Millisecond})
	brokers := map[int32]*LifecycleBroker{}
	for id := int32(101); id <= 103; id++ {
		brokers[id] = c.StartBroker(id, "")
	}
	createTopic(t, c.Admin(1), "orders", 6, 3)
	img := c.WaitActive(5 * time.Second).Server().Image()
	orders, _ := img.Topic("orders")
	led := map[int32]int{}
	for _, p := range orders.Partitions {
		led[p.Leader]++
	}
	if len(led) != 3 {
		t.Fatalf("leaders not spread over the brokers: %v", led)
	}

	brokers[102].Stop()
	c.WaitBroker(102, func(b *metadata.Broker) error {
		if !b.Fenced {
			return fmt.Errorf("not fenced yet")
		}
		return nil
	})
	for p := int32(0); p < 6; p++ {
		c.WaitPartition("orders", p, func(p *metadata.Partition) error {
			if p.Leader == 102 || p.InISR(102) || p.Leader == metadata.NoLeader {
				return fmt.Errorf("leader %d isr %v", p.Leader, p.ISR)
			}
			return nil
		})
	}

	// Broker 102 comes back as a new incarnation: it registers, is
	// unfenced, and once back in the ISR (as its leader would ask) leads
	// its preferred partitions again.
	brokers[102] = c.StartBroker(102, "")
	active := c.WaitActive(5 * time.Second)
	for _, p := range orders.Partitions {
		if p.PreferredLeader() != 102 {
			continue
		}
		cur, _ := active.Server().Image().Topic("orders")
		cp := cur.Partitions[p.ID]
		resp, err := c.ControllerClient(active.ID).AlterPartition(ctxT(t), &stratav1.AlterPartitionRequest{
			BrokerId: cp.Leader, BrokerEpoch: brokers[cp.Leader].Epoch(),
			Topics: []*stratav1.AlterPartitionTopic{{TopicId: cur.ID.Bytes(), Partitions: []*stratav1.AlterPartitionPartition{{
				PartitionId: cp.ID, LeaderEpoch: cp.LeaderEpoch, PartitionEpoch: cp.PartitionEpoch, NewIsr: append(slices.Clone(cp.ISR), 102),
			}}}},
		})
		if err != nil || resp.GetTopics()[0].GetPartitions()[0].GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
			t.Fatalf("alter partition: %v %v", err, resp)
		}
		c.WaitPartition("orders", p.ID, func(p *metadata.Partition) error {
			if p.Leader != 102 {
				return fmt.Errorf("leader %d, want the preferred 102", p.Leader)
			}
			return nil
		})
	}
	waitSameImages(t, c)
}

func TestRestartFromSnapshotGivesTheSameImage(t *testing.T) {
	c := Start(t, Options{SnapshotEntries: 10})
	c.StartBroker(101, "")
	for i := range 40 {
		createTopic(t, c.Admin(int32(i%3)+1), fmt.Sprintf("t%d", i), 2, 1)
	}
	waitSameImages(t, c)
	c.StopController(2)
	createTopic(t, c.Admin(c.WaitActive(5*time.Second).ID), "while-down", 1, 1)
	c.StartController(2)
	waitSameImages(t, c)
	if _, ok := c.Controllers[2].Server().Image().Topic("while-down"); !ok {
		t.Fatal("restarted controller missed a topic created while it was down")
	}
}

func TestWatchersEndWithTheControllersImage(t *testing.T) {
	c := Start(t, Options{WatchWindow: 8})
	c.StartBroker(101, "")
	for i := range 5 {
		createTopic(t, c.Admin(1), fmt.Sprintf("a%d", i), 1, 1)
	}
	mid := c.Controllers[1].Server().Image()
	for i := range 30 {
		createTopic(t, c.Admin(2), fmt.Sprintf("b%d", i), 2, 1)
	}
	waitSameImages(t, c)
	want := snapshot(t, c.Controllers[3])
	target := c.Controllers[3].Server().Image().Offset()
	for name, start := range map[string]*metadata.Image{"from zero": metadata.Empty(), "from the middle": mid} {
		t.Run(name, func(t *testing.T) {
			got, images, err := Follow(ctxT(t), c.ControllerClient(3), start, target)
			if err != nil {
				t.Fatal(err)
			}
			// Both starts are behind the small window: the image comes first.
			if images != 1 {
				t.Fatalf("got %d images, want 1", images)
			}
			var buf bytes.Buffer
			if err := got.WriteSnapshot(&buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatal("the watcher's image differs from the controller's")
			}
		})
	}
	t.Run("close behind gets records only", func(t *testing.T) {
		recent := c.Controllers[3].Server().Image()
		createTopic(t, c.Admin(1), "late", 1, 1)
		got, images, err := Follow(ctxT(t), c.ControllerClient(3), recent, recent.Offset()+1)
		if err != nil || images != 0 {
			t.Fatalf("err %v images %d", err, images)
		}
		if _, ok := got.Topic("late"); !ok {
			t.Fatal("record not applied")
		}
	})
	t.Run("bad offsets", func(t *testing.T) {
		for off, code := range map[int64]codes.Code{-1: codes.InvalidArgument, target + 1000: codes.OutOfRange} {
			stream, err := c.ControllerClient(1).WatchMetadata(ctxT(t), &stratav1.WatchMetadataRequest{FromOffset: off})
			if err == nil {
				_, err = stream.Recv()
			}
			if status.Code(err) != code {
				t.Errorf("from %d: %v, want %v", off, err, code)
			}
		}
	})
}

func TestFiveVotersTakeWritesWithTwoDown(t *testing.T) {
	c := Start(t, Options{Controllers: 5})
	c.StartBroker(101, "")
	createTopic(t, c.Admin(1), "first", 1, 1)
	down := 0
	for id := int32(1); id <= 5 && down < 2; id++ {
		if c.Controllers[id].Server().IsActive() && down == 0 {
			continue // take the active one down last
		}
		c.StopController(id)
		down++
	}
	next := c.WaitActive(20 * time.Second)
	createTopic(t, c.Admin(next.ID), "second", 1, 1)
	waitSameImages(t, c)
}

func TestAdminErrorsOverGRPC(t *testing.T) {
	c := Start(t, Options{})
	c.StartBroker(101, "")
	admin := c.Admin(1)
	resp, err := admin.CreateTopics(ctxT(t), &stratav1.CreateTopicsRequest{Topics: []*stratav1.CreatableTopic{
		{Name: "a/b", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "big", NumPartitions: 1, ReplicationFactor: 4},
		{Name: "ok", NumPartitions: 1, ReplicationFactor: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []stratav1.ErrorCode{
		stratav1.ErrorCode_ERROR_CODE_INVALID_TOPIC_EXCEPTION,
		stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICATION_FACTOR,
		stratav1.ErrorCode_ERROR_CODE_NONE,
	}
	for i, r := range resp.GetTopics() {
		if r.GetErrorCode() != want[i] {
			t.Errorf("%s: %v %s, want %v", r.GetName(), r.GetErrorCode(), r.GetErrorMessage(), want[i])
		}
	}
	// validate-only creates nothing.
	before := c.Controllers[1].Server().Image().Offset()
	resp, err = admin.CreateTopics(ctxT(t), &stratav1.CreateTopicsRequest{ValidateOnly: true, Topics: []*stratav1.CreatableTopic{
		{Name: "dry", NumPartitions: 3, ReplicationFactor: 1},
	}})
	if err != nil || resp.GetTopics()[0].GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE || resp.GetTopics()[0].GetNumPartitions() != 3 {
		t.Fatalf("validate only: %v %v", err, resp)
	}
	if _, ok := c.Controllers[1].Server().Image().Topic("dry"); ok || c.Controllers[1].Server().Image().Offset() != before {
		t.Fatal("validate-only changed the metadata")
	}
	if _, err := admin.CreateTopics(ctxT(t), &stratav1.CreateTopicsRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("empty request: %v", err)
	}
}

func TestStartRefusesForeignDataDirs(t *testing.T) {
	c := Start(t, Options{})
	ctl := c.Controllers[1]
	c.StopController(1)
	base := controller.Config{NodeID: 1, ClusterID: c.ClusterID, DataDir: ctl.Dir, Listen: "127.0.0.1:0", Voters: c.Voters}
	for name, tc := range map[string]struct {
		change func(*controller.Config)
		want   string
	}{
		"unformatted":   {func(cfg *controller.Config) { cfg.DataDir = t.TempDir() }, "is not formatted"},
		"other cluster": {func(cfg *controller.Config) { cfg.ClusterID = metaprops.NewClusterID() }, "formatted for cluster"},
		"other node":    {func(cfg *controller.Config) { cfg.NodeID = 2 }, "formatted for node 1, not 2"},
		"other voters": {func(cfg *controller.Config) {
			cfg.Voters = map[int32]string{1: c.Voters[1], 2: c.Voters[2]}
		}, "controller quorum voters differ"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base
			tc.change(&cfg)
			_, err := controller.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestControlledShutdownMovesLeadershipBeforeTheBrokerStops(t *testing.T) {
	c := Start(t, Options{LeaderRebalanceInterval: -1})
	brokers := map[int32]*LifecycleBroker{}
	for id := int32(101); id <= 103; id++ {
		brokers[id] = c.StartBroker(id, "")
	}
	createTopic(t, c.Admin(1), "orders", 6, 3)
	if err := brokers[101].ControlledShutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// By the time the broker may stop, it leads nothing and is in no ISR,
	// and no partition went offline.
	img := c.WaitActive(5 * time.Second).Server().Image()
	orders, _ := img.Topic("orders")
	for _, p := range orders.Partitions {
		if p.Leader == 101 || p.InISR(101) || p.Leader == metadata.NoLeader {
			t.Fatalf("partition %d: leader %d isr %v", p.ID, p.Leader, p.ISR)
		}
	}
	if b, _ := img.Broker(101); !b.InControlledShutdown || !b.Fenced {
		t.Fatalf("broker 101 after controlled shutdown: %+v, want in controlled shutdown and fenced", b)
	}
	// Its session is over: a new incarnation registers at once, without
	// DUPLICATE_BROKER_REGISTRATION.
	brokers[101].Stop()
	if _, err := c.ControllerClient(c.WaitActive(5*time.Second).ID).RegisterBroker(ctxT(t), &stratav1.RegisterBrokerRequest{
		BrokerId: 101, ClusterId: c.ClusterID, IncarnationId: "next", Address: "127.0.0.1:1",
	}); err != nil {
		t.Fatalf("register again after controlled shutdown: %v", err)
	}
}

func TestDescribeQuorumOnAnyController(t *testing.T) {
	c := Start(t, Options{})
	active := c.WaitActive(5 * time.Second)
	for id := range c.Controllers {
		testutil.WaitFor(t, 5*time.Second, func() error {
			q, err := c.Admin(id).DescribeQuorum(ctxT(t), &stratav1.DescribeQuorumRequest{})
			if err != nil {
				return err
			}
			if q.GetLeaderId() != active.ID || q.GetLeaderEpoch() < 1 || q.GetHighWatermark() < 1 || len(q.GetCurrentVoters()) != 3 {
				return fmt.Errorf("controller %d: %v", id, q)
			}
			for _, v := range q.GetCurrentVoters() {
				if v.GetLag() != 0 || v.GetLogEndOffset() != q.GetHighWatermark() {
					return fmt.Errorf("controller %d: voter %d lags: %v", id, v.GetReplicaId(), v)
				}
			}
			return nil
		})
	}
	// A stopped voter shows as unknown (-1), the others still answer.
	standby := c.Standby()
	c.StopController(standby.ID)
	q, err := c.Admin(active.ID).DescribeQuorum(ctxT(t), &stratav1.DescribeQuorumRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range q.GetCurrentVoters() {
		if (v.GetReplicaId() == standby.ID) != (v.GetLag() == -1) {
			t.Fatalf("voter %d: lag %d", v.GetReplicaId(), v.GetLag())
		}
	}
}
