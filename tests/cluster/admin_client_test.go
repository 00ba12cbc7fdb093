package cluster

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/testutil"
)

// newAdminClient is a pkg/client Admin for the cluster's controllers.
func newAdminClient(t *testing.T, opts ...client.Opt) *client.Admin {
	t.Helper()
	opts = append([]client.Opt{client.RetryBackoff(10*time.Millisecond, 200*time.Millisecond), client.Retries(50)}, opts...)
	a, err := client.NewAdmin(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func startWithBrokers(t *testing.T) *Cluster {
	c := Start(t, Options{})
	c.StartBroker(101, "rack-a")
	c.StartBroker(102, "rack-b")
	c.StartBroker(103, "rack-c")
	return c
}

func TestAdminClientTopicLifecycle(t *testing.T) {
	c := startWithBrokers(t)
	admin := newAdminClient(t, client.BootstrapControllers(c.Bootstrap()))
	ctx := ctxT(t)

	created, err := admin.CreateTopics(ctx, []client.TopicSpec{
		{Name: "orders", Partitions: 3, ReplicationFactor: 3, Configs: map[string]string{"min.insync.replicas": "2"}},
		{Name: "bad/name", Partitions: 1, ReplicationFactor: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	orders := created[0]
	if orders.Err != nil || orders.ID == metadata.ZeroTopicID || orders.Partitions != 3 || orders.ReplicationFactor != 3 ||
		orders.Configs["min.insync.replicas"] != "2" {
		t.Fatalf("orders: %+v", orders)
	}
	if !errors.Is(created[1].Err, client.ErrInvalidTopicException) || !errors.Is(created.FirstError(), client.ErrInvalidTopicException) {
		t.Fatalf("bad/name: %v", created[1].Err)
	}

	// The typed error of an existing topic.
	again, err := admin.CreateTopics(ctx, []client.TopicSpec{{Name: "orders", Partitions: 1, ReplicationFactor: 1}})
	if err != nil {
		t.Fatal(err)
	}
	err = again.FirstError()
	var e *client.Error
	if !errors.Is(err, client.ErrTopicAlreadyExists) || !errors.As(err, &e) || e.Name != "TOPIC_ALREADY_EXISTS" ||
		e.Code != client.ErrTopicAlreadyExists.Code || e.Retriable || client.IsRetriable(err) {
		t.Fatalf("second create: %v (%#v)", err, e)
	}
	if want := "topic orders: TOPIC_ALREADY_EXISTS: Topic 'orders' already exists."; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}

	// Validate-only creates nothing and hands out no id.
	dry, err := admin.CreateTopics(ctx, []client.TopicSpec{{Name: "dry", Partitions: 2, ReplicationFactor: 2}}, client.ValidateOnly())
	if err != nil || dry.FirstError() != nil || dry[0].ID != metadata.ZeroTopicID || dry[0].Partitions != 2 {
		t.Fatalf("validate only: %+v %v", dry, err)
	}

	list, err := admin.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "orders" || list[0].ID != orders.ID {
		t.Fatalf("list %+v", list)
	}

	details, err := admin.DescribeTopics(ctx, []string{"orders", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	d := details[0]
	img, _ := c.Controllers[1].Server().Image().Topic("orders")
	if d.Err != nil || d.ID != orders.ID || d.ID != img.ID || len(d.Partitions) != 3 || d.ReplicationFactor() != 3 ||
		d.Configs["min.insync.replicas"] != "2" || len(d.ID.String()) != 22 {
		t.Fatalf("describe %+v", d)
	}
	for i, p := range d.Partitions {
		if p.ID != int32(i) || p.Leader != p.Replicas[0] || !slices.Equal(p.ISR, p.Replicas) || len(p.OfflineReplicas) != 0 {
			t.Errorf("partition %+v", p)
		}
	}
	if !errors.Is(details[1].Err, client.ErrUnknownTopicOrPartition) {
		t.Fatalf("missing: %v", details[1].Err)
	}

	grown, err := admin.CreatePartitions(ctx, []client.PartitionsSpec{{Topic: "orders", Count: 5}})
	if err != nil || grown.FirstError() != nil {
		t.Fatalf("grow: %v %v", err, grown.FirstError())
	}
	details, err = admin.DescribeTopics(ctx, []string{"orders"})
	if err != nil || len(details[0].Partitions) != 5 {
		t.Fatalf("after growing: %v %+v", err, details)
	}
	shrunk, err := admin.CreatePartitions(ctx, []client.PartitionsSpec{{Topic: "orders", Count: 2}})
	if err != nil || !errors.Is(shrunk.FirstError(), client.ErrInvalidPartitions) {
		t.Fatalf("shrink: %v %v", err, shrunk.FirstError())
	}

	deleted, err := admin.DeleteTopics(ctx, "orders")
	if err != nil || deleted.FirstError() != nil || deleted[0].ID != orders.ID {
		t.Fatalf("delete: %v %+v", err, deleted)
	}
	if list, err := admin.ListTopics(ctx); err != nil || len(list) != 0 {
		t.Fatalf("list after delete: %v %+v", err, list)
	}
	deleted, err = admin.DeleteTopics(ctx, "orders")
	if err != nil || !errors.Is(deleted.FirstError(), client.ErrUnknownTopicOrPartition) {
		t.Fatalf("second delete: %v %v", err, deleted.FirstError())
	}
}

func TestAdminClientAltersAndDescribesConfigs(t *testing.T) {
	c := startWithBrokers(t)
	admin := newAdminClient(t, client.BootstrapControllers(c.Bootstrap()))
	ctx := ctxT(t)
	res, err := admin.CreateTopics(ctx, []client.TopicSpec{{Name: "logs", Partitions: 1, ReplicationFactor: 3}})
	if err != nil || res.FirstError() != nil {
		t.Fatalf("create: %v %v", err, res.FirstError())
	}

	alter := func(ops ...client.AlterConfigOp) error {
		t.Helper()
		res, err := admin.IncrementalAlterConfigs(ctx, []client.AlterConfigs{{Resource: client.TopicResource("logs"), Ops: ops}})
		if err != nil {
			t.Fatal(err)
		}
		return res.FirstError()
	}
	describe := func() map[string]client.ConfigEntry {
		t.Helper()
		res, err := admin.DescribeConfigs(ctx, []client.ConfigResource{client.TopicResource("logs")})
		if err != nil || res.FirstError() != nil {
			t.Fatalf("describe: %v %v", err, res.FirstError())
		}
		m := make(map[string]client.ConfigEntry)
		for _, e := range res[0].Configs {
			m[e.Name] = e
		}
		return m
	}

	if err := alter(client.SetConfig("retention.ms", "1000"), client.SetConfig("min.insync.replicas", "2")); err != nil {
		t.Fatal(err)
	}
	cfgs := describe()
	if e := cfgs["retention.ms"]; e.Value != "1000" || e.Source != client.SourceDynamicTopic {
		t.Fatalf("retention.ms %+v", e)
	}
	if e := cfgs["cleanup.policy"]; e.Value != "delete" || e.Source != client.SourceDefault {
		t.Fatalf("cleanup.policy %+v", e)
	}
	// The topic's description lists only the configs set on it.
	details, err := admin.DescribeTopics(ctx, []string{"logs"})
	if err != nil || len(details[0].Configs) != 2 || details[0].Configs["retention.ms"] != "1000" {
		t.Fatalf("topic configs %v %v", err, details)
	}

	if err := alter(client.DeleteConfig("retention.ms")); err != nil {
		t.Fatal(err)
	}
	if e := describe()["retention.ms"]; e.Source == client.SourceDynamicTopic {
		t.Fatalf("retention.ms still set: %+v", e)
	}
	if err := alter(client.SetConfig("no.such.config", "1")); !errors.Is(err, client.ErrInvalidConfig) ||
		!strings.Contains(err.Error(), "no.such.config") {
		t.Fatalf("unknown config: %v", err)
	}
	// Validate-only changes nothing.
	vres, err := admin.IncrementalAlterConfigs(ctx, []client.AlterConfigs{{Resource: client.TopicResource("logs"),
		Ops: []client.AlterConfigOp{client.SetConfig("retention.ms", "5")}}}, client.ValidateOnly())
	if err != nil || vres.FirstError() != nil {
		t.Fatalf("validate only: %v %v", err, vres.FirstError())
	}
	if e := describe()["retention.ms"]; e.Value == "5" {
		t.Fatal("validate-only altered the config")
	}

	// Broker configs.
	bres, err := admin.IncrementalAlterConfigs(ctx, []client.AlterConfigs{{Resource: client.BrokerResource(101),
		Ops: []client.AlterConfigOp{client.SetConfig("log.retention.ms", "60000")}}})
	if err != nil || bres.FirstError() != nil {
		t.Fatalf("broker alter: %v %v", err, bres.FirstError())
	}
	dres, err := admin.DescribeConfigs(ctx, []client.ConfigResource{client.BrokerResource(101), client.TopicResource("missing")})
	if err != nil {
		t.Fatal(err)
	}
	if got := dres[0].Configs; len(got) != 1 || got[0].Name != "log.retention.ms" || got[0].Value != "60000" || got[0].Source != client.SourceDynamicBroker {
		t.Fatalf("broker configs %+v", got)
	}
	if !errors.Is(dres[1].Err, client.ErrUnknownTopicOrPartition) {
		t.Fatalf("missing topic: %v", dres[1].Err)
	}
}

func TestAdminClientDescribesClusterAndQuorum(t *testing.T) {
	c := startWithBrokers(t)
	admin := newAdminClient(t, client.BootstrapControllers(c.Bootstrap()))
	ctx := ctxT(t)
	active := c.WaitActive(5 * time.Second)

	cl, err := admin.DescribeCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cl.ID != c.ClusterID || cl.ActiveControllerID != active.ID || len(cl.Controllers) != 3 || len(cl.Brokers) != 3 {
		t.Fatalf("cluster %+v", cl)
	}
	for i, ctl := range cl.Controllers {
		if ctl.ID != int32(i+1) || ctl.Address != c.Controllers[ctl.ID].Addr || ctl.RaftAddress != c.Voters[ctl.ID] {
			t.Errorf("controller %+v", ctl)
		}
	}
	for i, b := range cl.Brokers {
		if b.ID != int32(101+i) || b.Rack != fmt.Sprintf("rack-%c", 'a'+i) || b.Fenced || b.Epoch <= 0 || b.Address == "" {
			t.Errorf("broker %+v", b)
		}
	}
	if ac, ok := cl.ActiveController(); !ok || ac.Address != active.Addr {
		t.Fatalf("active controller %+v", ac)
	}

	testutil.WaitFor(t, 10*time.Second, func() error {
		q, err := admin.DescribeQuorum(ctx)
		if err != nil {
			return err
		}
		if q.LeaderID != active.ID || q.LeaderEpoch <= 0 || q.HighWatermark <= 0 || len(q.Voters) != 3 || len(q.Observers) != 0 {
			return fmt.Errorf("quorum %+v", q)
		}
		for i, v := range q.Voters {
			if v.ID != int32(i+1) || v.Lag != 0 || v.LogEndOffset != q.HighWatermark || v.LastFetch.IsZero() {
				return fmt.Errorf("voter %+v (high watermark %d)", v, q.HighWatermark)
			}
		}
		return nil
	})
}

func TestAdminClientSkipsADeadBootstrapAddress(t *testing.T) {
	c := startWithBrokers(t)
	dead := testutil.FreeAddr(t)
	admin := newAdminClient(t, client.BootstrapControllers(dead, c.Bootstrap()), client.RetryBackoff(time.Hour, time.Hour))
	ctx := ctxT(t)
	cl, err := admin.DescribeCluster(ctx)
	if err != nil || cl.ID != c.ClusterID {
		t.Fatalf("describe: %v %+v", err, cl)
	}
	res, err := admin.CreateTopics(ctx, []client.TopicSpec{{Name: "t", Partitions: 1, ReplicationFactor: 1}})
	if err != nil || res.FirstError() != nil {
		t.Fatalf("create: %v %v", err, res.FirstError())
	}
	// With only dead addresses the error is typed and retriable.
	deadOnly := newAdminClient(t, client.BootstrapControllers(dead), client.Retries(1))
	_, err = deadOnly.DescribeCluster(ctx)
	if !errors.Is(err, client.ErrNetworkException) || !client.IsRetriable(err) {
		t.Fatalf("dead only: %v", err)
	}
}

func TestAdminClientWritesThroughAStandbyAndAcrossFailover(t *testing.T) {
	c := startWithBrokers(t)
	ctx := ctxT(t)
	// Only a standby: it forwards writes to the active controller, and a
	// read on it afterwards sees the write.
	standby := c.Standby()
	viaStandby := newAdminClient(t, client.BootstrapControllers(standby.Addr))
	res, err := viaStandby.CreateTopics(ctx, []client.TopicSpec{{Name: "first", Partitions: 1, ReplicationFactor: 3}})
	if err != nil || res.FirstError() != nil {
		t.Fatalf("create through a standby: %v %v", err, res.FirstError())
	}
	if d, err := viaStandby.DescribeTopics(ctx, []string{"first"}); err != nil || d.FirstError() != nil {
		t.Fatalf("read after write on the standby: %v %v", err, d.FirstError())
	}

	// Stop the active controller: the client moves on to the others.
	admin := newAdminClient(t, client.BootstrapControllers(c.Bootstrap()))
	if _, err := admin.DescribeCluster(ctx); err != nil {
		t.Fatal(err)
	}
	old := c.WaitActive(5 * time.Second)
	c.StopController(old.ID)
	res, err = admin.CreateTopics(ctx, []client.TopicSpec{{Name: "second", Partitions: 1, ReplicationFactor: 1}})
	if err != nil || res.FirstError() != nil {
		t.Fatalf("create after failover: %v %v", err, res.FirstError())
	}
	cl, err := admin.DescribeCluster(ctx)
	if err != nil || cl.ActiveControllerID == old.ID {
		t.Fatalf("after failover: %v, active %d (old %d)", err, cl.ActiveControllerID, old.ID)
	}
}
