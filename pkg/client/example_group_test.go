package client_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	"github.com/strata-log/strata/pkg/client"
)

// A member of the consumer group "billing": the group shares the
// partitions of "orders" among its members, each starts at the group's
// committed offsets, and the offsets of the processed records are
// committed by hand in the revocation callback and after each batch.
// Needs a running cluster, so it has no output to check.
func ExampleGroup() {
	var c *client.Consumer
	c, err := client.NewConsumer(
		client.BootstrapServers("127.0.0.1:9211"),
		client.Group("billing"),
		client.AutoCommit(false),
		client.AutoOffsetReset(client.OffsetResetEarliest),
		client.OnPartitionsAssigned(func(_ context.Context, tps []client.TopicPartition) {
			log.Printf("assigned %v", tps)
		}),
		client.OnPartitionsRevoked(func(ctx context.Context, tps []client.TopicPartition) {
			// The group waits for this before another member gets them.
			if err := c.CommitSync(ctx); err != nil {
				log.Printf("commit on revocation: %v", err)
			}
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close() // leaves the group: the others take the partitions at once
	if err := c.Subscribe("orders"); err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for {
		recs, err := c.Poll(ctx)
		if err != nil {
			return
		}
		for _, r := range recs {
			log.Printf("%s-%d@%d: %s", r.Topic, r.Partition, r.Offset, r.Value)
		}
		if err := c.CommitSync(ctx); err != nil {
			log.Printf("commit: %v", err)
		}
	}
}
