package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/strata-log/strata/pkg/client"
)

// Create a topic unless it exists, then describe it. Needs a running
// cluster, so it has no output to check.
func Example() {
	admin, err := client.NewAdmin(
		client.BootstrapControllers("127.0.0.1:9201,127.0.0.1:9202,127.0.0.1:9203"),
		client.RequestTimeout(10*time.Second),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	res, err := admin.CreateTopics(ctx, []client.TopicSpec{{
		Name: "orders", Partitions: 3, ReplicationFactor: 3,
		Configs: map[string]string{"min.insync.replicas": "2"},
	}})
	if err == nil {
		err = res.FirstError()
	}
	if err != nil && !errors.Is(err, client.ErrTopicAlreadyExists) {
		log.Fatal(err)
	}

	topics, err := admin.DescribeTopics(ctx, []string{"orders"})
	if err == nil {
		err = topics.FirstError()
	}
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range topics[0].Partitions {
		fmt.Printf("%s-%d leader %d replicas %v isr %v\n", topics[0].Name, p.ID, p.Leader, p.Replicas, p.ISR)
	}
}

// Errors from servers are *client.Error values; errors.Is matches them to
// the sentinels through any wrapping.
func ExampleError() {
	err := fmt.Errorf("provisioning orders: %w", client.ErrTopicAlreadyExists)

	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Name, int(e.Code), e.Retriable)
	}
	fmt.Println(errors.Is(err, client.ErrTopicAlreadyExists))
	fmt.Println(client.IsRetriable(fmt.Errorf("describe: %w", client.ErrNotController)))
	// Output:
	// TOPIC_ALREADY_EXISTS 36 false
	// true
	// true
}

// Options are checked when the client is made, with errors that name the
// option.
func ExampleNewAdmin() {
	_, err := client.NewAdmin(client.BootstrapServers("broker-1"))
	fmt.Println(err)
	_, err = client.NewAdmin(client.BootstrapServers("b1:9092"), client.BootstrapControllers("c1:9093"))
	fmt.Println(err)
	// Output:
	// client: BootstrapServers: address "broker-1" is not HOST:PORT
	// client: BootstrapServers and BootstrapControllers are both set; use one of them
}

// Set one config and remove another; the changes to one resource apply
// all or none.
func ExampleAdmin_IncrementalAlterConfigs() {
	admin, err := client.NewAdmin(client.BootstrapServers("127.0.0.1:9092"))
	if err != nil {
		log.Fatal(err)
	}
	defer admin.Close()
	res, err := admin.IncrementalAlterConfigs(context.Background(), []client.AlterConfigs{{
		Resource: client.TopicResource("orders"),
		Ops:      []client.AlterConfigOp{client.SetConfig("retention.ms", "86400000"), client.DeleteConfig("cleanup.policy")},
	}})
	if err == nil {
		err = res.FirstError()
	}
	if err != nil {
		log.Fatal(err)
	}
}

// Describe the controller quorum as kafka-metadata-quorum does.
func ExampleAdmin_DescribeQuorum() {
	admin, err := client.NewAdmin(client.BootstrapControllers("127.0.0.1:9201"))
	if err != nil {
		log.Fatal(err)
	}
	defer admin.Close()
	q, err := admin.DescribeQuorum(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leader", q.LeaderID, "epoch", q.LeaderEpoch, "high watermark", q.HighWatermark)
	for _, v := range q.Voters {
		fmt.Println("voter", v.ID, "lag", v.Lag)
	}
}
