package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/testutil"
)

// LifecycleBroker speaks the broker side of the controller API (register,
// heartbeat, controlled shutdown) without storing data: enough for tests of
// the controllers' broker lifecycle. It follows the active controller.
type LifecycleBroker struct {
	ID   int32
	Rack string
	c    *Cluster

	mu     sync.Mutex
	epoch  int64
	cancel context.CancelFunc
	done   chan struct{}

	wantShutDown atomic.Bool
	mayStop      chan struct{} // closed when the controller says should_shut_down
	mayStopOnce  sync.Once
}

// ControlledShutdown asks the controller to move leadership away, as a
// broker does on SIGTERM, and waits until the controller answers that the
// broker may stop.
func (b *LifecycleBroker) ControlledShutdown(ctx context.Context) error {
	b.wantShutDown.Store(true)
	select {
	case <-b.mayStop:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StartBroker starts heartbeating as broker id until StopBroker or the end
// of the test, and waits until the broker is registered and unfenced.
func (c *Cluster) StartBroker(id int32, rack string) *LifecycleBroker {
	c.t.Helper()
	b := &LifecycleBroker{ID: id, Rack: rack, c: c, done: make(chan struct{}), mayStop: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	incarnation := metadata.NewTopicID().String()
	go func() {
		defer close(b.done)
		b.loop(ctx, incarnation)
	}()
	c.t.Cleanup(b.Stop)
	c.WaitBroker(id, func(br *metadata.Broker) error {
		if br.Fenced {
			return fmt.Errorf("broker %d is fenced", id)
		}
		return nil
	})
	return b
}

// Stop stops heartbeating (as a crashed broker would) and waits.
func (b *LifecycleBroker) Stop() {
	b.cancel()
	<-b.done
}

// Epoch is the broker epoch of the current registration.
func (b *LifecycleBroker) Epoch() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.epoch
}

func (b *LifecycleBroker) loop(ctx context.Context, incarnation string) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		active := b.c.activeID()
		if active < 0 {
			continue
		}
		client := b.c.ControllerClient(active)
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if b.Epoch() == 0 {
			resp, err := client.RegisterBroker(rctx, &stratav1.RegisterBrokerRequest{
				BrokerId: b.ID, ClusterId: b.c.ClusterID, IncarnationId: incarnation,
				Address: fmt.Sprintf("127.0.0.1:%d", 19000+b.ID), Rack: b.Rack,
			})
			if err == nil {
				b.mu.Lock()
				b.epoch = resp.GetBrokerEpoch()
				b.mu.Unlock()
			}
			cancel()
			continue
		}
		srv := b.c.Controllers[active].Server()
		if srv == nil {
			cancel()
			continue
		}
		offset := srv.Image().Offset()
		resp, err := client.BrokerHeartbeat(rctx, &stratav1.BrokerHeartbeatRequest{
			BrokerId: b.ID, BrokerEpoch: b.Epoch(), MetadataOffset: offset, WantShutDown: b.wantShutDown.Load(),
		})
		cancel()
		if resp.GetShouldShutDown() {
			b.mayStopOnce.Do(func() { close(b.mayStop) })
		}
		if err != nil && ctx.Err() == nil && isStale(err) {
			b.mu.Lock()
			b.epoch = 0 // register again
			b.mu.Unlock()
		}
	}
}

func isStale(err error) bool {
	return containsCode(err, stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH)
}

// activeID is the id of a running active controller, or -1.
func (c *Cluster) activeID() int32 {
	for id, ctl := range c.Controllers {
		if srv := ctl.Server(); srv != nil && srv.IsActive() {
			return id
		}
	}
	return -1
}

// WaitBroker waits until every running controller's image has broker id
// and cond holds for it.
func (c *Cluster) WaitBroker(id int32, cond func(*metadata.Broker) error) {
	c.t.Helper()
	testutil.WaitFor(c.t, 15*time.Second, func() error {
		for cid, ctl := range c.Controllers {
			srv := ctl.Server()
			if srv == nil {
				continue
			}
			br, ok := srv.Image().Broker(id)
			if !ok {
				return fmt.Errorf("controller %d does not know broker %d", cid, id)
			}
			if err := cond(br); err != nil {
				return fmt.Errorf("controller %d: %w", cid, err)
			}
		}
		return nil
	})
}

// WaitPartition waits until every running controller sees cond hold for a
// partition.
func (c *Cluster) WaitPartition(topic string, partition int32, cond func(*metadata.Partition) error) {
	c.t.Helper()
	testutil.WaitFor(c.t, 15*time.Second, func() error {
		for cid, ctl := range c.Controllers {
			srv := ctl.Server()
			if srv == nil {
				continue
			}
			t, ok := srv.Image().Topic(topic)
			if !ok {
				return fmt.Errorf("controller %d lacks topic %s", cid, topic)
			}
			p, ok := t.Partition(partition)
			if !ok {
				return fmt.Errorf("controller %d lacks %s-%d", cid, topic, partition)
			}
			if err := cond(p); err != nil {
				return fmt.Errorf("controller %d: %s-%d: %w", cid, topic, partition, err)
			}
		}
		return nil
	})
}
