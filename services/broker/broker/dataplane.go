package broker

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/services/broker/broker/internal/partition"
	"github.com/strata-log/strata/services/broker/broker/internal/partlog"
)

// The data plane (Metadata, Produce, ProduceStream, Fetch, ListOffsets)
// answers from the applied image: the one the partitions were last
// reconciled with, so that what Metadata says this broker leads is what
// Produce and Fetch find. Per-partition failures are an ErrorCode and a
// message in the result (DESIGN.md, "Errors"); a whole request fails only
// when it is malformed (acks, max_bytes) or the broker is stopping.

// The errors of the packages under the data plane, as clients see them. The
// first registration that matches an error wins (rpc.RegisterSentinel).
func init() {
	for _, s := range []struct {
		err  error
		code stratav1.ErrorCode
	}{
		{recordbatch.ErrCorrupt, stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE},
		{recordbatch.ErrInvalidRecord, stratav1.ErrorCode_ERROR_CODE_INVALID_RECORD},
		{partlog.ErrOffsetOutOfRange, stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE},
		{partlog.ErrStorage, stratav1.ErrorCode_ERROR_CODE_KAFKA_STORAGE_ERROR},
		// Stored data that does not decode is the disk's fault, not the
		// client's.
		{partlog.ErrCorrupt, stratav1.ErrorCode_ERROR_CODE_KAFKA_STORAGE_ERROR},
		// Kafka's RECORD_LIST_TOO_LARGE (18) is not in the enum: an append
		// too large for one atomic write is a message too large.
		{partlog.ErrRecordListTooLarge, stratav1.ErrorCode_ERROR_CODE_MESSAGE_TOO_LARGE},
		{partlog.ErrStaleLeaderEpoch, stratav1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH},
		{partlog.ErrOutOfOrderSequence, stratav1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE_NUMBER},
		{partlog.ErrInvalidProducerEpoch, stratav1.ErrorCode_ERROR_CODE_INVALID_PRODUCER_EPOCH},
		// A deleted partition or a closing store: the replica is gone
		// from this broker, the client asks the metadata again.
		{partlog.ErrClosed, stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER},
		{partition.ErrNotLeader, stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER},
		{metadata.ErrInvalidTopicName, stratav1.ErrorCode_ERROR_CODE_INVALID_TOPIC_EXCEPTION},
	} {
		rpc.RegisterSentinel(s.err, s.code)
	}
}

// Kafka's texts for the codes whose message does not depend on the input.
const (
	msgUnknownTopicOrPartition = "This server does not host this topic-partition."
	msgLeaderNotAvailable      = "There is no leader for this topic-partition as we are in the middle of a leadership election."
	msgStorageError            = "Disk error when trying to access log file on the disk."
	msgInvalidFetchSize        = "The requested fetch size is invalid."
)

// errStopping ends the long-lived streams when the broker stops.
var errStopping = rpc.New(stratav1.ErrorCode_ERROR_CODE_BROKER_NOT_AVAILABLE, "the broker is shutting down")

// topicPartition is "T-0", as Kafka names a partition in messages.
func topicPartition(topic string, partition int32) string {
	return topic + "-" + strconv.Itoa(int(partition))
}

// topicNameError checks a topic name; its message is Kafka's, without the
// sentinel's prefix.
func topicNameError(name string) *rpc.Error {
	err := metadata.ValidateTopicName(name)
	if err == nil {
		return nil
	}
	msg := err.Error()
	if p := metadata.ErrInvalidTopicName.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
		msg = msg[len(p):]
	}
	return rpc.New(stratav1.ErrorCode_ERROR_CODE_INVALID_TOPIC_EXCEPTION, msg)
}

// leaderHint says where a partition's leader is, as the image has it.
func leaderHint(img *metadata.Image, mp *metadata.Partition) *stratav1.LeaderHint {
	h := &stratav1.LeaderHint{LeaderId: mp.Leader, LeaderEpoch: mp.LeaderEpoch}
	if br, ok := img.Broker(mp.Leader); ok {
		h.Address = br.Address
	}
	return h
}

// leaderRef is a partition this broker leads, resolved from the applied
// image.
type leaderRef struct {
	topic *metadata.Topic
	meta  *metadata.Partition
	p     *partition.Partition
	state partition.State
	tp    string // "T-0"
}

// leaderFor resolves a partition that a client must reach on its leader
// (produce, fetch, list offsets), in Kafka's order: the topic name, the
// topic and partition, this broker's replica, the client's leader epoch
// (currentEpoch; negative skips the check), the leadership. It fails with
// INVALID_TOPIC_EXCEPTION, UNKNOWN_TOPIC_OR_PARTITION, FENCED_LEADER_EPOCH,
// UNKNOWN_LEADER_EPOCH, LEADER_NOT_AVAILABLE or NOT_LEADER_OR_FOLLOWER;
// the last two carry the leader's hint.
func (s *Server) leaderFor(img *metadata.Image, name string, id int32, currentEpoch int32) (leaderRef, *rpc.Error) {
	if err := topicNameError(name); err != nil {
		return leaderRef{}, err
	}
	t, ok := img.Topic(name)
	if !ok {
		return leaderRef{}, rpc.New(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, msgUnknownTopicOrPartition)
	}
	mp, ok := t.Partition(id)
	if !ok {
		return leaderRef{}, rpc.New(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, msgUnknownTopicOrPartition)
	}
	ref := leaderRef{topic: t, meta: mp, tp: topicPartition(name, id)}
	p, held := s.parts.Get(t.ID, id)
	if held {
		ref.p, ref.state = p, p.State()
		if err := checkLeaderEpoch(currentEpoch, ref.state.LeaderEpoch, img, mp); err != nil {
			return ref, err
		}
	}
	switch {
	case held && ref.state.Leader == s.cfg.NodeID:
		return ref, nil
	case !held && mp.Leader == s.cfg.NodeID:
		// The image this broker applied has it lead a partition whose log
		// it could not open (the reconciler logged why).
		return ref, rpc.New(stratav1.ErrorCode_ERROR_CODE_KAFKA_STORAGE_ERROR, msgStorageError)
	case mp.Leader == metadata.NoLeader:
		e := rpc.New(stratav1.ErrorCode_ERROR_CODE_LEADER_NOT_AVAILABLE, msgLeaderNotAvailable)
		e.Leader = leaderHint(img, mp)
		return ref, e
	default:
		return ref, rpc.NotLeader(leaderHint(img, mp),
			fmt.Sprintf("broker %d is not the leader of %s: the leader is broker %d (leader epoch %d)",
				s.cfg.NodeID, ref.tp, mp.Leader, mp.LeaderEpoch))
	}
}

// checkLeaderEpoch compares a client's current leader epoch with this
// broker's (KIP-320): an older one is fenced, a newer one unknown yet.
func checkLeaderEpoch(requested, current int32, img *metadata.Image, mp *metadata.Partition) *rpc.Error {
	switch {
	case requested < 0 || requested == current:
		return nil
	case requested < current:
		e := rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH,
			"The leader epoch in the request (%d) is older than the epoch on the broker (%d).", requested, current)
		e.Leader = leaderHint(img, mp)
		return e
	default:
		return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_LEADER_EPOCH,
			"The leader epoch in the request (%d) is newer than the epoch on the broker (%d).", requested, current)
	}
}

// storageError is what a client learns of an engine failure; the broker
// logs the error itself.
func (s *Server) storageError(tp string, err error) *rpc.Error {
	s.log.Error("partition storage failed", "partition", tp, "err", err)
	return rpc.New(stratav1.ErrorCode_ERROR_CODE_KAFKA_STORAGE_ERROR, msgStorageError)
}

// logError maps an error of a partition's log to a client error.
func (s *Server) logError(tp string, err error) *rpc.Error {
	e := rpc.FromError(err)
	switch e.Code {
	case stratav1.ErrorCode_ERROR_CODE_KAFKA_STORAGE_ERROR, stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR:
		return s.storageError(tp, err)
	case stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER:
		return rpc.NotLeader(nil, fmt.Sprintf("broker %d no longer holds %s", s.cfg.NodeID, tp))
	case stratav1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH:
		return rpc.Errorf(e.Code, "broker %d lost the leadership of %s", s.cfg.NodeID, tp)
	default:
		return e
	}
}

// topicConfigCache keeps the effective topic configs of the latest image
// seen, so the hot paths do not resolve every config on every request.
type topicConfigCache struct {
	mu  sync.Mutex
	img *metadata.Image
	m   map[metadata.TopicID]metadata.TopicConfig
}

func (c *topicConfigCache) get(img *metadata.Image, t *metadata.Topic) metadata.TopicConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.img == img:
		if cfg, ok := c.m[t.ID]; ok {
			return cfg
		}
	case c.img == nil || img.Offset() > c.img.Offset():
		c.img, c.m = img, make(map[metadata.TopicID]metadata.TopicConfig)
	default: // an older image than the cached one: do not cache
		return metadata.EffectiveTopicConfig(t.Configs, img.BrokerConfigs(""))
	}
	cfg := metadata.EffectiveTopicConfig(t.Configs, img.BrokerConfigs(""))
	c.m[t.ID] = cfg
	return cfg
}

// autoCreateTimeout bounds the creation of topics on first use and the wait
// for them to reach this broker's applied image.
const autoCreateTimeout = 10 * time.Second

// autoCreate creates topics through the controllers, with the broker's
// default partitions and replication factor, and waits until the applied
// image has them (a topic that already exists is fine). It returns the
// failures by topic name.
func (s *Server) autoCreate(ctx context.Context, names []string) map[string]*rpc.Error {
	if len(names) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, autoCreateTimeout)
	defer cancel()
	req := &stratav1.CreateTopicsRequest{}
	for _, n := range names {
		req.Topics = append(req.Topics, &stratav1.CreatableTopic{
			Name: n, NumPartitions: s.cfg.DefaultPartitions, ReplicationFactor: s.cfg.DefaultReplicationFactor,
		})
	}
	fails := make(map[string]*rpc.Error)
	resp, err := forward(ctx, s, req, stratav1.AdminServiceClient.CreateTopics)
	if err != nil {
		e := rpc.FromError(err)
		for _, n := range names {
			fails[n] = rpc.Errorf(e.Code, "could not create topic %s: %s", n, e.Message)
		}
		return fails
	}
	for _, r := range resp.GetTopics() {
		switch r.GetErrorCode() {
		case stratav1.ErrorCode_ERROR_CODE_NONE, stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS:
		default:
			fails[r.GetName()] = rpc.New(r.GetErrorCode(), r.GetErrorMessage())
		}
	}
	for {
		ch := s.appliedChanged()
		img := s.appliedImage()
		missing := false
		for _, n := range names {
			if _, ok := img.Topic(n); !ok && fails[n] == nil {
				missing = true
			}
		}
		if !missing {
			return fails
		}
		select {
		case <-ch:
		case <-ctx.Done():
		case <-s.stopping:
		}
		if ctx.Err() != nil || isClosed(s.stopping) {
			for _, n := range names {
				if _, ok := s.appliedImage().Topic(n); !ok && fails[n] == nil {
					fails[n] = rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_LEADER_NOT_AVAILABLE,
						"topic %s is being created; its metadata has not reached broker %d yet", n, s.cfg.NodeID)
				}
			}
			return fails
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
