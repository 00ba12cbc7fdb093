package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// InitProducerId
//
// A new idempotent producer (producer_id -1) gets the next id of the block
// the broker holds, with epoch 0; when the block is used up, the broker asks
// the active controller for the next one (AllocateProducerIds), which makes
// ids unique in the cluster and across controller failover. A producer that
// names its id and epoch gets the same id with the next epoch, or a new id
// when the epoch would pass 32767. The id's batches are then deduplicated
// per partition (partlog). Ids of a block the broker had not handed out when
// it stopped are never used; ids need to be unique, not dense.

// allocateProducerIDsTimeout bounds how long InitProducerId waits for a
// new block, through a controller failover if need be.
const allocateProducerIDsTimeout = 15 * time.Second

// InitProducerId answers with a producer id and epoch; a failure to get a
// block from the controllers is COORDINATOR_LOAD_IN_PROGRESS (retriable), as
// Kafka answers while its producer id block is not available. Malformed ids
// and epochs are refused by the validator (checkProducerIDAndEpoch).
func (b *brokerService) InitProducerId(ctx context.Context, req *stratav1.InitProducerIdRequest) (*stratav1.InitProducerIdResponse, error) {
	s := b.s
	if id, epoch := req.GetProducerId(), req.GetProducerEpoch(); id >= 0 && epoch < math.MaxInt16 {
		return &stratav1.InitProducerIdResponse{ProducerId: id, ProducerEpoch: epoch + 1}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, allocateProducerIDsTimeout)
	defer cancel()
	id, err := s.producerIDs.take(ctx, s.allocateProducerIDs)
	if err != nil {
		s.log.Warn("no producer id for InitProducerId", "err", err)
		return &stratav1.InitProducerIdResponse{
			ErrorCode:    stratav1.ErrorCode_ERROR_CODE_COORDINATOR_LOAD_IN_PROGRESS,
			ErrorMessage: fmt.Sprintf("broker %d has no producer id to give yet: %v", s.cfg.NodeID, err),
			ProducerId:   -1, ProducerEpoch: -1,
		}, nil
	}
	return &stratav1.InitProducerIdResponse{ProducerId: id, ProducerEpoch: 0}, nil
}

// checkProducerIDAndEpoch checks an InitProducerId request: both -1 for a
// new producer, or an id and an epoch that a producer can have been given.
func checkProducerIDAndEpoch(id int64, epoch int32) error {
	if (id == -1 && epoch == -1) || (id >= 0 && epoch >= 0 && epoch <= math.MaxInt16) {
		return nil
	}
	return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST,
		"producer_id %d with producer_epoch %d: a new producer sends -1 and -1, a known one its id and an epoch in [0, %d]",
		id, epoch, math.MaxInt16)
}

// allocateProducerIDs gets the next block of producer ids from the active
// controller.
func (s *Server) allocateProducerIDs(ctx context.Context) (first int64, count int32, err error) {
	epoch := s.Epoch()
	if epoch == 0 {
		return 0, 0, errors.New("the broker is not registered with the controllers yet")
	}
	err = s.ctl.call(ctx, func(ctx context.Context, cc *grpc.ClientConn) error {
		resp, err := stratav1.NewControllerServiceClient(cc).AllocateProducerIds(ctx, &stratav1.AllocateProducerIdsRequest{
			BrokerId: s.cfg.NodeID, BrokerEpoch: epoch,
		})
		switch {
		case err != nil:
			return err
		case resp.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE:
			return rpc.New(resp.GetErrorCode(), resp.GetErrorMessage())
		case resp.GetFirstProducerId() < 0 || resp.GetCount() <= 0:
			return fmt.Errorf("the controller answered the block [%d, +%d)", resp.GetFirstProducerId(), resp.GetCount())
		}
		first, count = resp.GetFirstProducerId(), resp.GetCount()
		return nil
	})
	if err == nil {
		s.log.Info("got a block of producer ids", "first_producer_id", first, "count", count)
	}
	return first, count, err
}

// producerIDs is the block of producer ids a broker hands out. The zero
// value is an empty block. At most one caller fetches the next block at a
// time; the others wait for it (or for their context).
type producerIDs struct {
	mu        sync.Mutex
	next, end int64         // the ids left: [next, end)
	fetching  chan struct{} // closed when the fetch in progress ends; nil when none is
}

// take returns the next id of the block, fetching a new block with fetch
// when the block is used up.
func (p *producerIDs) take(ctx context.Context, fetch func(context.Context) (int64, int32, error)) (int64, error) {
	for {
		p.mu.Lock()
		if p.next < p.end {
			id := p.next
			p.next++
			p.mu.Unlock()
			return id, nil
		}
		if wait := p.fetching; wait != nil {
			p.mu.Unlock()
			select {
			case <-wait:
				continue // the block came, or that fetch failed and this one tries
			case <-ctx.Done():
				return -1, ctx.Err()
			}
		}
		done := make(chan struct{})
		p.fetching = done
		p.mu.Unlock()

		first, count, err := fetch(ctx)
		p.mu.Lock()
		if err == nil {
			p.next, p.end = first, first+int64(count)
		}
		p.fetching = nil
		close(done)
		p.mu.Unlock()
		if err != nil {
			return -1, err
		}
	}
}
