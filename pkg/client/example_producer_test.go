package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/recordbatch"
)

// Send records asynchronously and wait for their deliveries. Needs a
// running cluster, so it has no output to check.
func ExampleProducer() {
	p, err := client.NewProducer(
		client.BootstrapServers("127.0.0.1:9092,127.0.0.1:9093"),
		client.Compression(recordbatch.Zstd),
		client.Linger(10*time.Millisecond),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()

	var deliveries []*client.Delivery
	for i := range 100 {
		d, err := p.Send(ctx, client.Record{Topic: "orders", Key: fmt.Appendf(nil, "customer-%d", i%10), Value: []byte("order")})
		if err != nil {
			log.Fatal(err)
		}
		deliveries = append(deliveries, d)
	}
	for _, d := range deliveries {
		r, err := d.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s-%d@%d\n", r.Topic, r.Partition, r.Offset)
	}
}

// A callback instead of a future, then Flush to wait for every record.
func ExampleProducer_SendFunc() {
	p, err := client.NewProducer(client.BootstrapServers("127.0.0.1:9092"), client.RequiredAcks(client.AcksLeader))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	err = p.SendFunc(ctx, client.Record{Topic: "events", Value: []byte("started")}, func(r client.Record, err error) {
		if err != nil {
			log.Printf("not delivered: %v", err)
			return
		}
		log.Printf("delivered to partition %d at offset %d", r.Partition, r.Offset)
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		log.Fatal(err)
	}
}

// Read every partition of a topic from the beginning with the iterator.
func ExampleConsumer() {
	c, err := client.NewConsumer(
		client.BootstrapServers("127.0.0.1:9092"),
		client.AutoOffsetReset(client.OffsetResetEarliest),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe("orders"); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for r, err := range c.Records(ctx) {
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
			log.Fatal(err)
		}
		fmt.Printf("%d/%d %s=%s\n", r.Partition, r.Offset, r.Key, r.Value)
	}
}

// Read one partition from an offset with Poll; with OffsetResetNone a
// partition without a position is an error, not a guess.
func ExampleConsumer_Seek() {
	c, err := client.NewConsumer(client.BootstrapServers("127.0.0.1:9092"), client.AutoOffsetReset(client.OffsetResetNone))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	tp := client.TopicPartition{Topic: "orders", Partition: 2}
	if err := c.Assign(tp); err != nil {
		log.Fatal(err)
	}
	if err := c.Seek(tp, 1000); err != nil {
		log.Fatal(err)
	}
	recs, err := c.Poll(context.Background())
	switch {
	case errors.Is(err, client.ErrOffsetOutOfRange):
		log.Printf("offset 1000 is out of range: %v", err)
	case err != nil:
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Println(r.Offset, string(r.Value))
	}
}

// Keys land on the partitions Kafka's default partitioner gives them.
func ExampleKeyPartition() {
	for _, key := range []string{"21", "foobar", "abc"} {
		fmt.Println(key, client.Murmur2([]byte(key)), client.KeyPartition([]byte(key), 6))
	}
	// Output:
	// 21 -973932308 0
	// foobar -790332482 0
	// abc 479470107 3
}
