// Package client is Strata's Go SDK: the admin client (NewAdmin), the
// producer (NewProducer) and the consumer (NewConsumer). They share their
// options (Opt; ProducerOpt and ConsumerOpt are the options only one of
// them takes), their connection handling and their errors.
//
// # Producing and consuming
//
// A Producer batches records per partition and sends the batches
// asynchronously: Send returns a Delivery (a future; SendFunc takes a
// callback) that gives the record's partition and offset once acknowledged.
// Keyed records go to Kafka's murmur2 partition (KeyPartition), keyless ones
// to a sticky partition that changes with each batch. Batches are
// compressed (Compression), pipelined on one ProduceStream per broker
// (MaxInFlight) with one batch in flight per partition, so a partition's
// records keep their order through retries, and retried on retriable
// errors, with a metadata refresh, until DeliveryTimeout. The producer is
// idempotent by default: it numbers each partition's batches with a
// producer id and epoch from InitProducerId, so a retried batch the broker
// already appended is not appended twice. Flush waits for what is
// buffered; Close sends it and stops.
//
// A Consumer reads the partitions Assign names, or every partition of the
// topics Subscribe names, over one Fetch stream per leader broker, and
// follows leader changes. Poll returns records; Records is the same as an
// iterator. AutoOffsetReset chooses where a partition without a position
// starts; Seek sets one. Both start from BootstrapServers and then use
// every broker the metadata names, so losing the first broker does not stop
// them.
//
// # Connecting
//
// A client starts from bootstrap addresses: brokers (BootstrapServers) or,
// for administration without brokers, controllers (BootstrapControllers, as
// Kafka 3.7's --bootstrap-controller). Every server answers the admin API: a
// standby controller, like a broker, passes writes to the active controller.
//
//	admin, err := client.NewAdmin(
//		client.BootstrapControllers("127.0.0.1:9201", "127.0.0.1:9202", "127.0.0.1:9203"),
//		client.RequestTimeout(10*time.Second),
//	)
//	if err != nil { ... }
//	defer admin.Close()
//
// NewAdmin checks the options in one place and does not connect; the first
// call does. Options are values of Opt, shared by every client of the
// package.
//
// # Retries
//
// Each call takes a context first; the context bounds the whole call,
// retries included, and RequestTimeout bounds each attempt. A call goes to
// one address and stays there while it answers (a controller answers a write
// once its own metadata has it, so later reads on the same client see it).
// When an attempt fails with a retriable error (a refused or broken
// connection, NOT_CONTROLLER, REQUEST_TIMED_OUT, ...), the call moves on: to
// the active controller when a NOT_CONTROLLER answer names it, otherwise to
// the next bootstrap address. Moving to an address not yet tried in the
// current round is immediate; once every address has failed the client
// waits (RetryBackoff) before the next round. Retries bounds the number of
// retries. A non-retriable error (INVALID_CONFIG, say) ends the call at once.
//
// As in Kafka, a retried CreateTopics whose first attempt did commit answers
// TOPIC_ALREADY_EXISTS; callers that retry on their own should treat that as
// success when the topic has the expected shape.
//
// # Errors
//
// Requests that touch several resources (CreateTopics, DeleteTopics,
// DescribeTopics, CreatePartitions, DescribeConfigs,
// IncrementalAlterConfigs, ElectLeaders) answer with Results: one result per
// resource, each with its own Err, so one bad topic does not fail the
// others. The error a method returns is for the request as a whole (no
// server could be reached, a malformed request). Results.FirstError turns
// the results into one error:
//
//	res, err := admin.CreateTopics(ctx, []client.TopicSpec{{Name: "orders", Partitions: 3, ReplicationFactor: 3}})
//	if err == nil {
//		err = res.FirstError()
//	}
//	switch {
//	case errors.Is(err, client.ErrTopicAlreadyExists):
//		// fine
//	case err != nil:
//		return err
//	}
//
// Every error a server (or the network) caused is an *Error, Kafka style:
// Code, Name ("TOPIC_ALREADY_EXISTS"), Message and Retriable. errors.As
// reaches it through any wrapping, errors.Is matches it against the
// sentinels (ErrTopicAlreadyExists, ErrNotController, ... one per code, the
// same names as package rpc's), and IsRetriable and CodeOf read it. A
// whole-request *Error wraps the *rpc.Error it was decoded from, whose
// Leader and Controller fields carry the servers' hints.
package client
