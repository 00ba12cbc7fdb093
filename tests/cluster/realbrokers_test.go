package cluster

import (
	"fmt"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/testutil"
)

func TestRealBrokersRegisterFollowMetadataAndHoldPartitions(t *testing.T) {
	c := Start(t, Options{BrokerSessionTimeout: time.Second})
	for id := int32(101); id <= 103; id++ {
		c.AddBroker(id, "", nil)
	}
	// Admin through a broker: it forwards to the controllers.
	resp, err := c.BrokerAdmin(101).CreateTopics(ctxT(t), &stratav1.CreateTopicsRequest{Topics: []*stratav1.CreatableTopic{
		{Name: "orders", NumPartitions: 6, ReplicationFactor: 1},
	}})
	if err != nil || resp.GetTopics()[0].GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
		t.Fatalf("create through a broker: %v %v", err, resp)
	}
	// Every broker's image gets the topic; each holds a log for the
	// partitions it replicates.
	active := c.WaitActive(5 * time.Second)
	for id := int32(101); id <= 103; id++ {
		b := c.RealBroker(id).Server()
		testutil.WaitFor(t, 10*time.Second, func() error {
			if b.Image().Offset() < active.Server().Image().Offset() {
				return fmt.Errorf("broker %d at offset %d", id, b.Image().Offset())
			}
			return nil
		})
	}
	// A stopped broker is fenced; restarted, it resumes from its persisted
	// metadata offset and is unfenced again.
	before := c.RealBroker(102).Server().Image().Offset()
	c.StopRealBroker(102)
	c.WaitBroker(102, func(b *metadata.Broker) error {
		if !b.Fenced {
			return fmt.Errorf("not fenced")
		}
		return nil
	})
	c.StartRealBroker(102)
	if got := c.RealBroker(102).Server().Image().Offset(); got < before {
		t.Fatalf("restarted broker's image is at offset %d, before it was at %d", got, before)
	}
}
