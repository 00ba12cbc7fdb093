package controller

import (
	"context"
	"strconv"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
)

// controllerService is the brokers' API: lifecycle, ISR changes and the
// metadata push.
type controllerService struct {
	stratav1.UnimplementedControllerServiceServer
	s *Server
}

func (c *controllerService) RegisterBroker(ctx context.Context, req *stratav1.RegisterBrokerRequest) (*stratav1.RegisterBrokerResponse, error) {
	s := c.s
	if err := s.requireActive(); err != nil {
		return nil, err
	}
	if req.GetClusterId() != s.clusterID {
		return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INCONSISTENT_CLUSTER_ID,
			"broker %d belongs to cluster %q, this is cluster %q", req.GetBrokerId(), req.GetClusterId(), s.clusterID)
	}
	expired := true
	if b, ok := s.Image().Broker(req.GetBrokerId()); ok && !b.Fenced {
		expired = s.live.expired(b.ID, b.Epoch)
	}
	ctx, cancel := context.WithTimeout(ctx, proposeTimeout)
	defer cancel()
	res, err := s.propose(ctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_RegisterBroker{RegisterBroker: &stratav1.RegisterBrokerCommand{
		BrokerId: req.GetBrokerId(), IncarnationId: req.GetIncarnationId(), Address: req.GetAddress(),
		Rack: req.GetRack(), ClusterId: req.GetClusterId(), PreviousSessionExpired: expired,
	}}})
	if err != nil {
		return nil, err
	}
	s.live.touch(req.GetBrokerId(), res.GetBrokerEpoch())
	s.log.Info("broker registered", "broker_id", req.GetBrokerId(), "broker_epoch", res.GetBrokerEpoch(), "address", req.GetAddress())
	return &stratav1.RegisterBrokerResponse{BrokerEpoch: res.GetBrokerEpoch()}, nil
}

func (c *controllerService) BrokerHeartbeat(ctx context.Context, req *stratav1.BrokerHeartbeatRequest) (*stratav1.BrokerHeartbeatResponse, error) {
	s := c.s
	if err := s.requireActive(); err != nil {
		return nil, err
	}
	b, ok := s.Image().Broker(req.GetBrokerId())
	if !ok || b.Epoch != req.GetBrokerEpoch() {
		return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH,
			"broker %d epoch %d is not the registered one; register again", req.GetBrokerId(), req.GetBrokerEpoch())
	}
	s.live.touch(b.ID, b.Epoch)
	ctx, cancel := context.WithTimeout(ctx, proposeTimeout)
	defer cancel()
	// A fenced broker is unfenced once it has applied the metadata up to
	// its own registration: it knows every partition it is a replica of.
	if b.Fenced && !req.GetWantShutDown() && req.GetMetadataOffset() >= b.Epoch {
		if _, err := s.propose(ctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_UnfenceBroker{
			UnfenceBroker: &stratav1.UnfenceBrokerCommand{BrokerId: b.ID, BrokerEpoch: b.Epoch},
		}}); err != nil {
			return nil, err
		}
		s.log.Info("broker unfenced", "broker_id", b.ID, "broker_epoch", b.Epoch)
	}
	if req.GetWantShutDown() && !b.Fenced {
		if _, err := s.propose(ctx, shutdownCommand(b.ID, b.Epoch)); err != nil {
			return nil, err
		}
	}
	mayStop := req.GetWantShutDown() && leaderships(s, b.ID) == 0
	if mayStop {
		// Controlled shutdown is complete: end the session now, as Kafka
		// does, so the broker's next incarnation can register at once
		// instead of waiting for this session to expire.
		if cur, _ := s.Image().Broker(b.ID); cur != nil && !cur.Fenced && cur.Epoch == b.Epoch {
			if _, err := s.propose(ctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_FenceBroker{
				FenceBroker: &stratav1.FenceBrokerCommand{BrokerId: b.ID, BrokerEpoch: b.Epoch},
			}}); err != nil {
				return nil, err
			}
		}
	}
	b, _ = s.Image().Broker(req.GetBrokerId())
	id, _ := s.activeAddress()
	return &stratav1.BrokerHeartbeatResponse{
		Fenced: b.Fenced, InControlledShutdown: b.InControlledShutdown,
		ShouldShutDown: mayStop,
		ControllerId:   id,
	}, nil
}

func shutdownCommand(id int32, epoch int64) *stratav1.MetadataCommand {
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_ControlledShutdown{
		ControlledShutdown: &stratav1.ControlledShutdownCommand{BrokerId: id, BrokerEpoch: epoch},
	}}
}

// leaderships counts the partitions a broker leads.
func leaderships(s *Server, id int32) int32 {
	var n int32
	for t := range s.Image().Topics() {
		for _, p := range t.Partitions {
			if p.Leader == id {
				n++
			}
		}
	}
	return n
}

func (c *controllerService) ControlledShutdown(ctx context.Context, req *stratav1.ControlledShutdownRequest) (*stratav1.ControlledShutdownResponse, error) {
	s := c.s
	if err := s.requireActive(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, proposeTimeout)
	defer cancel()
	if _, err := s.propose(ctx, shutdownCommand(req.GetBrokerId(), req.GetBrokerEpoch())); err != nil {
		return nil, err
	}
	s.log.Info("broker in controlled shutdown", "broker_id", req.GetBrokerId())
	return &stratav1.ControlledShutdownResponse{RemainingLeaderships: leaderships(s, req.GetBrokerId())}, nil
}

func (c *controllerService) AlterPartition(ctx context.Context, req *stratav1.AlterPartitionRequest) (*stratav1.AlterPartitionResponse, error) {
	s := c.s
	if err := s.requireActive(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, proposeTimeout)
	defer cancel()
	res, err := s.propose(ctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_AlterPartition{
		AlterPartition: &stratav1.AlterPartitionCommand{Request: req},
	}})
	if err != nil {
		return nil, err
	}
	return res.GetAlterPartition(), nil
}

// AllocateProducerIds gives a broker the next block of producer ids. The
// state machine's refusal (STALE_BROKER_EPOCH) is the answer's error code,
// as in Kafka; NOT_CONTROLLER and timeouts are statuses, as for every call.
func (c *controllerService) AllocateProducerIds(ctx context.Context, req *stratav1.AllocateProducerIdsRequest) (*stratav1.AllocateProducerIdsResponse, error) {
	s := c.s
	if err := s.requireActive(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, proposeTimeout)
	defer cancel()
	res, err := s.commit(ctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_AllocateProducerIds{
		AllocateProducerIds: &stratav1.AllocateProducerIdsCommand{BrokerId: req.GetBrokerId(), BrokerEpoch: req.GetBrokerEpoch()},
	}})
	if err != nil {
		return nil, err
	}
	if res.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
		return &stratav1.AllocateProducerIdsResponse{ErrorCode: res.GetErrorCode(), ErrorMessage: res.GetErrorMessage()}, nil
	}
	a := res.GetAllocateProducerIds()
	s.log.Info("producer ids allocated", "broker_id", req.GetBrokerId(), "first_producer_id", a.GetFirstProducerId(), "count", a.GetCount())
	return a, nil
}

func (c *controllerService) DescribeReplica(context.Context, *stratav1.DescribeReplicaRequest) (*stratav1.DescribeReplicaResponse, error) {
	s := c.s
	st := s.machine.State()
	id, term, _ := s.raft().Leader()
	leader := int32(-1)
	if id != 0 {
		leader = int32(id)
	}
	return &stratav1.DescribeReplicaResponse{
		ControllerId: s.cfg.NodeID, AppliedIndex: int64(st.AppliedIndex), MetadataOffset: st.Image.Offset(),
		LeaderId: leader, Term: int64(term),
	}, nil
}

// Watch limits: records per message, and how long a watcher that is up to
// date waits before it is sent an empty keep-alive.
const (
	watchBatch     = 1000
	watchKeepAlive = 5 * time.Second
)

func (c *controllerService) WatchMetadata(req *stratav1.WatchMetadataRequest, stream grpc.ServerStreamingServer[stratav1.WatchMetadataResponse]) error {
	s := c.s
	ctx := stream.Context()
	from := req.GetFromOffset()
	if committed := s.Image().Offset(); from > committed {
		e := rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE,
			"from_offset %d is beyond the committed metadata offset %d of this controller", from, committed)
		e.Metadata = map[string]string{"committed_offset": strconv.FormatInt(committed, 10)}
		return e
	}
	keepAlive := time.NewTimer(watchKeepAlive)
	defer keepAlive.Stop()
	for {
		changed := s.machine.Changed()
		st := s.machine.State()
		img := st.Image
		switch {
		case from < img.Offset():
			recs, ok := st.Window.After(from, watchBatch)
			if !ok || len(recs) == 0 {
				// The records after from are gone (or the watcher is too
				// far behind): send the image, then go on from it.
				if err := sendImage(stream, img); err != nil {
					return err
				}
				from = img.Offset()
				continue
			}
			if err := stream.Send(&stratav1.WatchMetadataResponse{
				Payload:         &stratav1.WatchMetadataResponse_Records{Records: &stratav1.MetadataRecordBatch{Records: recs}},
				CommittedOffset: img.Offset(),
			}); err != nil {
				return err
			}
			from = recs[len(recs)-1].GetOffset()
		default:
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
			case <-keepAlive.C:
				if err := stream.Send(&stratav1.WatchMetadataResponse{
					Payload:         &stratav1.WatchMetadataResponse_Records{Records: &stratav1.MetadataRecordBatch{}},
					CommittedOffset: img.Offset(),
				}); err != nil {
					return err
				}
				keepAlive.Reset(watchKeepAlive)
			}
		}
	}
}

func sendImage(stream grpc.ServerStreamingServer[stratav1.WatchMetadataResponse], img *metadata.Image) error {
	var count int64
	for range img.Records() {
		count++
	}
	hdr := &stratav1.MetadataSnapshotHeader{Offset: img.Offset(), RecordCount: count}
	chunk := make([]*stratav1.MetadataRecord, 0, watchBatch)
	flush := func(last bool) error {
		err := stream.Send(&stratav1.WatchMetadataResponse{
			Payload:         &stratav1.WatchMetadataResponse_Image{Image: &stratav1.MetadataImageChunk{Header: hdr, Records: chunk, Last: last}},
			CommittedOffset: img.Offset(),
		})
		chunk = chunk[:0]
		return err
	}
	for rec := range img.Records() {
		chunk = append(chunk, rec)
		if len(chunk) == watchBatch {
			if err := flush(false); err != nil {
				return err
			}
		}
	}
	return flush(true)
}
