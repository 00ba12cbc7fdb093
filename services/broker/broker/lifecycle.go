package broker

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// lifecycle is the broker's registration with the active controller.
type lifecycle struct {
	epoch  atomic.Int64 // 0 while unregistered
	fenced atomic.Bool
	// activeController is the active controller's id as the last heartbeat
	// answer named it, plus one (0: unknown).
	activeController atomic.Int32
}

// ActiveController is the active controller's id as the last heartbeat
// answer named it, or -1.
func (s *Server) ActiveController() int32 { return s.life.activeController.Load() - 1 }

// Epoch is the current broker epoch, 0 before registration.
func (s *Server) Epoch() int64 { return s.life.epoch.Load() }

// Fenced reports whether the controllers have this broker fenced.
func (s *Server) Fenced() bool { return s.life.fenced.Load() }

func (s *Server) register(ctx context.Context) error {
	return s.ctl.call(ctx, func(ctx context.Context, cc *grpc.ClientConn) error {
		resp, err := stratav1.NewControllerServiceClient(cc).RegisterBroker(ctx, &stratav1.RegisterBrokerRequest{
			BrokerId: s.cfg.NodeID, ClusterId: s.clusterID, IncarnationId: s.incarnation,
			Address: s.addr, Rack: s.cfg.Rack,
		})
		if err != nil {
			return err
		}
		s.life.epoch.Store(resp.GetBrokerEpoch())
		s.life.fenced.Store(true)
		s.log.Info("registered with the controllers", "broker_epoch", resp.GetBrokerEpoch())
		return nil
	})
}

// heartbeat sends one heartbeat; wantShutDown asks for controlled
// shutdown. It returns whether the controller lets the broker stop.
func (s *Server) heartbeat(ctx context.Context, wantShutDown bool) (mayStop bool, err error) {
	err = s.ctl.call(ctx, func(ctx context.Context, cc *grpc.ClientConn) error {
		resp, err := stratav1.NewControllerServiceClient(cc).BrokerHeartbeat(ctx, &stratav1.BrokerHeartbeatRequest{
			BrokerId: s.cfg.NodeID, BrokerEpoch: s.Epoch(), MetadataOffset: s.sync.Offset(), WantShutDown: wantShutDown,
		})
		if err != nil {
			return err
		}
		if was := s.life.fenced.Swap(resp.GetFenced()); was != resp.GetFenced() {
			s.log.Info("fenced state changed", "fenced", resp.GetFenced())
		}
		mayStop = resp.GetShouldShutDown()
		s.life.activeController.Store(max(resp.GetControllerId(), -1) + 1)
		return nil
	})
	return mayStop, err
}

// lifecycleLoop registers and heartbeats until ctx ends; a broker whose
// registration went stale (its session expired) registers again.
func (s *Server) lifecycleLoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.HeartbeatInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		if s.Epoch() == 0 {
			if err := s.register(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("registration failed; retrying", "err", err)
			}
		} else if _, err := s.heartbeat(ctx, false); err != nil && ctx.Err() == nil {
			if errors.Is(err, rpc.ErrStaleBrokerEpoch) || errors.Is(err, rpc.ErrDuplicateBrokerRegistration) {
				s.log.Warn("registration is stale; registering again", "err", err)
				s.life.epoch.Store(0)
			} else {
				s.log.Warn("heartbeat failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// controlledShutdown asks the controllers to move leadership away and
// waits until they let the broker stop, or ctx ends.
func (s *Server) controlledShutdown(ctx context.Context) {
	if s.Epoch() == 0 {
		return
	}
	for ctx.Err() == nil {
		mayStop, err := s.heartbeat(ctx, true)
		if err == nil && mayStop {
			s.log.Info("controlled shutdown complete: no leaderships left")
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.log.Warn("controlled shutdown did not finish in time; stopping anyway")
}
