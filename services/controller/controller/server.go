// Package controller is the Strata controller daemon: a member of the Raft
// quorum (dragonboat v4) that owns the cluster metadata. The Raft leader is
// the active controller: it tracks broker liveness, fences brokers whose
// session expires and moves leadership back to preferred replicas. Every
// controller keeps the full image in memory, serves reads and
// WatchMetadata, and forwards writes through the Raft log.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/metaprops"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/telemetry"
	"github.com/strata-log/strata/services/controller/controller/internal/fsm"
	"github.com/strata-log/strata/services/controller/controller/internal/quorum"
)

// Server is one controller.
type Server struct {
	cfg       Config
	log       *slog.Logger
	clusterID string
	machine   *fsm.Machine
	listener  net.Listener
	addr      string
	incarn    string

	// q is set once Run has started the Raft replica; handlers and loops
	// start after that and read it through raft().
	q        atomic.Pointer[quorum.Quorum]
	live     *liveness
	peers    *peers
	caughtUp caughtUpTimes

	runOnce sync.Once
}

// New checks the configuration and the data dir (formatted for this
// cluster, node and voter set) and binds the gRPC listener. Run starts
// everything else.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	props, err := metaprops.Check(cfg.DataDir, metaprops.Props{
		ClusterID: cfg.ClusterID, NodeID: cfg.NodeID, Role: metaprops.RoleController, Voters: cfg.Voters,
	})
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	l, addr, err := rpc.Listen(cfg.Listener, cfg.Listen, cfg.AdvertisedAddress)
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "controller", "node_id", cfg.NodeID),
		clusterID: props.ClusterID,
		machine:   fsm.New(cfg.WatchWindow),
		listener:  l,
		addr:      addr,
		incarn:    metadata.NewTopicID().String(),
	}
	s.live = newLiveness(cfg.BrokerSessionTimeout)
	s.peers = newPeers()
	return s, nil
}

// raft is the started Raft replica.
func (s *Server) raft() *quorum.Quorum { return s.q.Load() }

// Addr is the controller's gRPC address.
func (s *Server) Addr() string { return s.addr }

// ClusterID is the cluster id of the data dir.
func (s *Server) ClusterID() string { return s.clusterID }

// Image returns the controller's current metadata image.
func (s *Server) Image() *metadata.Image { return s.machine.State().Image }

// IsActive reports whether this controller is the active controller.
func (s *Server) IsActive() bool {
	q := s.q.Load()
	return q != nil && q.IsLeader()
}

// Run serves until ctx is cancelled, then stops cleanly and returns nil.
// It may be called once.
func (s *Server) Run(ctx context.Context) error {
	err := errors.New("controller: Run called twice")
	s.runOnce.Do(func() { err = s.run(ctx) })
	return err
}

func (s *Server) run(ctx context.Context) error {
	defer s.listener.Close()
	var tel *telemetry.Telemetry
	if s.cfg.MetricsListen != "" {
		var err error
		tel, err = telemetry.New(ctx, telemetry.Config{
			ServiceName: "strata-controller", InstanceID: fmt.Sprint(s.cfg.NodeID),
			MetricsListen: s.cfg.MetricsListen, Logger: s.log,
		})
		if err != nil {
			return fmt.Errorf("controller: %w", err)
		}
		defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()
	}

	voters := make(map[uint64]string, len(s.cfg.Voters))
	for id, addr := range s.cfg.Voters {
		voters[uint64(id)] = addr
	}
	q, err := quorum.Start(quorum.Config{
		NodeID: uint64(s.cfg.NodeID), RaftAddress: s.cfg.RaftAddress, Voters: voters,
		Dir: s.cfg.DataDir, RTT: s.cfg.RaftRTT, SnapshotEntries: s.cfg.SnapshotEntries,
		Machine: s.machine, Logger: s.log,
	})
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	s.q.Store(q)
	defer q.Close()

	srv, err := rpc.NewServer(rpc.ServerConfig{Logger: s.log, Validators: validators()})
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	health := rpc.Register(srv)
	stratav1.RegisterAdminServiceServer(srv, &adminService{s: s})
	stratav1.RegisterControllerServiceServer(srv, &controllerService{s: s})
	defer s.peers.close()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return rpc.Serve(gctx, srv, s.listener, health, s.cfg.ShutdownTimeout, nil) })
	if tel != nil {
		g.Go(func() error { return tel.Run(gctx) })
	}
	g.Go(func() error { s.registerSelf(gctx); return nil })
	g.Go(func() error { s.activeLoop(gctx); return nil })
	health.SetServing("")
	s.log.Info("controller started", "address", s.addr, "raft_address", s.cfg.RaftAddress, "cluster_id", s.clusterID)
	err = g.Wait()
	s.log.Info("controller stopped")
	return err
}

// registerSelf writes this controller's ControllerRegistration record, so
// brokers and clients that reach any controller learn its address.
func (s *Server) registerSelf(ctx context.Context) {
	cmd := &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_RegisterController{RegisterController: &stratav1.RegisterControllerCommand{
		Controller: &stratav1.ControllerRegistrationRecord{
			ControllerId: s.cfg.NodeID, IncarnationId: s.incarn, Address: s.addr, RaftAddress: s.cfg.RaftAddress,
		},
	}}}
	for ctx.Err() == nil {
		if _, err := s.raft().Propose(ctx, cmd); err == nil {
			return
		} else if ctx.Err() == nil {
			s.log.Warn("controller registration failed; retrying", "err", err)
		}
	}
}

// propose commits a command; failures become request errors.
func (s *Server) propose(ctx context.Context, cmd *stratav1.MetadataCommand) (*stratav1.CommandResult, error) {
	res, err := s.commit(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if res.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
		return nil, rpc.New(res.GetErrorCode(), res.GetErrorMessage())
	}
	return res, nil
}

// commit commits a command and returns the state machine's result, a
// refusal included; the error is only about the quorum.
func (s *Server) commit(ctx context.Context, cmd *stratav1.MetadataCommand) (*stratav1.CommandResult, error) {
	res, err := s.raft().Propose(ctx, cmd)
	if err != nil {
		if ctx.Err() != nil {
			return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT, "the metadata quorum did not commit the change in time: %v", err)
		}
		return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER, "the metadata quorum is not available: %v", err)
	}
	return res, nil
}

// activeAddress returns the active controller's id and gRPC address, when
// known.
func (s *Server) activeAddress() (int32, string) {
	id, _, ok := s.raft().Leader()
	if !ok {
		return -1, ""
	}
	if c, found := s.Image().Controller(int32(id)); found {
		return c.ID, c.Address
	}
	return int32(id), ""
}

// requireActive answers NOT_CONTROLLER, with the active controller's
// address, on a standby.
func (s *Server) requireActive() error {
	if s.raft().IsLeader() {
		return nil
	}
	id, addr := s.activeAddress()
	return rpc.NotController(id, addr)
}

// waitFor blocks until the image reaches offset or ctx ends.
func (s *Server) waitFor(ctx context.Context, offset int64) {
	for {
		ch := s.machine.Changed()
		if s.machine.State().Image.Offset() >= offset {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

const proposeTimeout = 10 * time.Second
