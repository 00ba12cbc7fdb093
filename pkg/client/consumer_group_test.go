package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestGroupOptionsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		opts []Opt
		want string
	}{
		{[]Opt{SessionTimeout(-time.Second)}, "SessionTimeout must be positive"},
		{[]Opt{RebalanceTimeout(0)}, "RebalanceTimeout must be positive"},
		{[]Opt{Group("g"), AutoCommitInterval(0)}, "AutoCommitInterval must be positive"},
		{[]Opt{OnPartitionsAssigned(func(context.Context, []TopicPartition) {})}, "need a Group"},
		{[]Opt{RebalanceEvents(make(chan RebalanceEvent))}, "need a Group"},
	} {
		_, err := NewConsumer(append([]Opt{BootstrapServers("127.0.0.1:1")}, tc.opts...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%d options: %v, want %q", len(tc.opts), err, tc.want)
		}
	}
}

// TestCommitsNeedAGroup: the commit calls of a consumer without a Group
// fail at once, without a server.
func TestCommitsNeedAGroup(t *testing.T) {
	c, err := NewConsumer(BootstrapServers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for name, err := range map[string]error{
		"CommitSync":    c.CommitSync(ctx),
		"CommitOffsets": c.CommitOffsets(ctx, map[TopicPartition]int64{{"t", 0}: 1}),
	} {
		if !errors.Is(err, errNoGroup) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.Committed(ctx, TopicPartition{"t", 0}); !errors.Is(err, errNoGroup) {
		t.Errorf("Committed: %v", err)
	}
	if c.MemberID() != "" || c.MemberEpoch() != 0 {
		t.Errorf("member %q epoch %d without a group", c.MemberID(), c.MemberEpoch())
	}
}

// TestGroupConsumerCalls: a group consumer refuses an empty subscription,
// mixing Assign with Subscribe, and negative offsets; Close without a
// Subscribe does not reach any server.
func TestGroupConsumerCalls(t *testing.T) {
	c, err := NewConsumer(BootstrapServers("127.0.0.1:1"), Group("g"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(); err == nil {
		t.Fatal("an empty subscription was taken")
	}
	if err := c.CommitOffsets(context.Background(), map[TopicPartition]int64{{"t", 0}: -3}); err == nil {
		t.Fatal("a negative offset was taken")
	}
	if err := c.Assign(TopicPartition{"t", 0}); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("t"); err == nil {
		t.Fatal("Subscribe after Assign was taken")
	}
	if len(c.MemberID()) != 22 {
		t.Fatalf("member id %q", c.MemberID())
	}
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung")
	}
	var got []string
	for _, typ := range []RebalanceEventType{PartitionsAssigned, PartitionsRevoked, PartitionsLost, 0} {
		got = append(got, typ.String())
	}
	if strings.Join(got, ",") != "assigned,revoked,lost,RebalanceEventType(0)" {
		t.Fatalf("names %v", got)
	}
}
