package cluster

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/testutil"
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
	testutil.WaitFor(t, 10*time.Second, func() error {
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
