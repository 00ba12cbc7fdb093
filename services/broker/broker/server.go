// Package broker is the Strata broker daemon: it registers with the
// controllers, follows the metadata they push, stores the partitions it
// replicates in badger, and serves producers, consumers and admin tools.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/metaprops"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/telemetry"
	"github.com/strata-log/strata/services/broker/broker/internal/partition"
	"github.com/strata-log/strata/services/broker/broker/internal/partlog"
	"github.com/strata-log/strata/services/broker/broker/mdsync"
)

// Server is one broker.
type Server struct {
	cfg         Config
	log         *slog.Logger
	clusterID   string
	listener    net.Listener
	addr        string
	incarnation string

	sync  *mdsync.Syncer
	store *partlog.Store
	parts *partition.Manager
	ctl   *controllers
	life  lifecycle
	// Replication: the fetchers of the partitions this broker follows, the
	// ISR changes of those it leads, and the connections to other brokers.
	replicas *replicas
	isr      *isrManager
	peers    peers
	// groups is the consumer group coordinator (coordinator.go).
	groups *coordinator

	// applied is the image the partitions were last reconciled with: what
	// the data plane answers from, so that Metadata never names this broker
	// the leader of a partition it does not lead yet. appliedCh is closed
	// (and replaced) when it changes.
	applied   atomic.Pointer[metadata.Image]
	appliedMu sync.Mutex
	appliedCh chan struct{}
	// topicConfigs caches the effective configs of the applied image.
	topicConfigs topicConfigCache
	// producerIDs is the block of producer ids InitProducerId hands out.
	producerIDs producerIDs
	// stopping is closed when the broker starts to stop serving (after
	// controlled shutdown): long-lived streams end then.
	stopping chan struct{}
	// streams counts the receiving goroutines of ProduceStream handlers,
	// which may outlive their handler by the moment it takes the stopped
	// stream's Recv to fail; Run waits for them before closing the store.
	streams sync.WaitGroup

	runOnce sync.Once
}

// New checks the configuration and the data dir and binds the listener;
// Run starts everything else.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	props, err := metaprops.Check(cfg.DataDir, metaprops.Props{ClusterID: cfg.ClusterID, NodeID: cfg.NodeID, Role: metaprops.RoleBroker})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	log := cfg.Logger.With("component", "broker", "node_id", cfg.NodeID)
	syncer, err := mdsync.New(mdsync.Config{
		Controllers: cfg.Controllers, DataDir: filepath.Join(cfg.DataDir, "metadata"), BrokerID: cfg.NodeID, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	l, addr, err := rpc.Listen(cfg.Listener, cfg.Listen, cfg.AdvertisedAddress)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	s := &Server{
		cfg: cfg, log: log, clusterID: props.ClusterID, listener: l, addr: addr,
		incarnation: metadata.NewTopicID().String(), sync: syncer,
		appliedCh: make(chan struct{}), stopping: make(chan struct{}),
	}
	s.ctl = newControllers(cfg.Controllers, s.knownControllers)
	s.isr = newISRManager(s)
	return s, nil
}

// Addr is the broker's gRPC address.
func (s *Server) Addr() string { return s.addr }

// Image is the metadata image this broker has applied.
func (s *Server) Image() *metadata.Image { return s.sync.Image() }

// appliedImage is the image the partitions reflect (see Server.applied);
// the empty image before the first reconciliation.
func (s *Server) appliedImage() *metadata.Image {
	if im := s.applied.Load(); im != nil {
		return im
	}
	return metadata.Empty()
}

// appliedChanged returns a channel closed at the next change of the applied
// image; read it before appliedImage.
func (s *Server) appliedChanged() <-chan struct{} {
	s.appliedMu.Lock()
	defer s.appliedMu.Unlock()
	return s.appliedCh
}

func (s *Server) setApplied(img *metadata.Image) {
	s.applied.Store(img)
	s.appliedMu.Lock()
	close(s.appliedCh)
	s.appliedCh = make(chan struct{})
	s.appliedMu.Unlock()
}

// LogInfo describes one partition's log on this broker.
type LogInfo struct {
	LogStartOffset int64
	LogEndOffset   int64
	HighWatermark  int64
	// Size is the bytes of the stored batches.
	Size int64
	// Leader and LeaderEpoch are the leadership this broker applied.
	Leader      int32
	LeaderEpoch int32
}

// LogInfo reports the log of partition of topic when this broker holds a
// replica of it (for operators and tests).
func (s *Server) LogInfo(topic string, partition int32) (LogInfo, bool) {
	t, ok := s.appliedImage().Topic(topic)
	if !ok || s.parts == nil {
		return LogInfo{}, false
	}
	p, ok := s.parts.Get(t.ID, partition)
	if !ok {
		return LogInfo{}, false
	}
	st := p.State()
	return LogInfo{
		LogStartOffset: p.Log.LogStartOffset(), LogEndOffset: p.Log.LogEndOffset(),
		HighWatermark: p.Log.HighWatermark(), Size: p.Log.Size(),
		Leader: st.Leader, LeaderEpoch: st.LeaderEpoch,
	}, true
}

func (s *Server) knownControllers() []string {
	var out []string
	for c := range s.Image().Controllers() {
		if c.Address != "" {
			out = append(out, c.Address)
		}
	}
	return out
}

// Run serves until ctx is cancelled, then hands its leaderships away
// (controlled shutdown), stops cleanly and returns nil. It may be called once.
func (s *Server) Run(ctx context.Context) error {
	err := errors.New("broker: Run called twice")
	s.runOnce.Do(func() { err = s.run(ctx) })
	return err
}

func (s *Server) run(ctx context.Context) error {
	defer s.listener.Close()
	defer s.ctl.close()
	store, err := partlog.Open(filepath.Join(s.cfg.DataDir, "partitions"), partlog.Options{Fsync: s.cfg.Fsync, Logger: s.log})
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	s.store = store
	defer func() {
		if err := store.Close(); err != nil {
			s.log.Error("closing the partition store", "err", err)
		}
	}()
	defer s.streams.Wait()
	s.parts = partition.NewManager(s.cfg.NodeID, store, s.log)

	var tel *telemetry.Telemetry
	if s.cfg.MetricsListen != "" {
		if tel, err = telemetry.New(ctx, telemetry.Config{
			ServiceName: "strata-broker", InstanceID: fmt.Sprint(s.cfg.NodeID), MetricsListen: s.cfg.MetricsListen, Logger: s.log,
		}); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()
	}

	srv, err := rpc.NewServer(rpc.ServerConfig{Logger: s.log, Validators: validators(), MaxRecvMsgSize: s.cfg.MaxRequestBytes})
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	health := rpc.Register(srv)
	stratav1.RegisterAdminServiceServer(srv, &adminService{s: s})
	stratav1.RegisterBrokerServiceServer(srv, &brokerService{s: s})
	stratav1.RegisterGroupServiceServer(srv, &groupService{s: s})

	// The metadata follower and the partition reconciler run until the
	// very end; the serving side stops first (at ctx), after controlled
	// shutdown.
	bgctx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	s.replicas = newReplicas(bgctx, s)
	s.groups = newCoordinator(bgctx, s)
	defer s.peers.close()
	defer s.replicas.wait()
	defer s.groups.wait()
	var background sync.WaitGroup
	background.Add(4)
	go func() { defer background.Done(); s.runSync(bgctx) }()
	go func() { defer background.Done(); s.reconcileLoop(bgctx) }()
	go func() { defer background.Done(); s.isr.run(bgctx) }()
	go func() { defer background.Done(); s.groups.sweep(bgctx) }()
	defer background.Wait()
	defer stopBackground()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// Leaderships move away first (controlled shutdown), then long
		// polls and produce streams end, then the server stops.
		return rpc.Serve(gctx, srv, s.listener, health, s.cfg.ShutdownTimeout, func(ctx context.Context) {
			s.controlledShutdown(ctx)
			close(s.stopping)
		})
	})
	if tel != nil {
		g.Go(func() error { return tel.Run(gctx) })
	}
	g.Go(func() error { s.lifecycleLoop(gctx); return nil })
	g.Go(func() error { s.retentionLoop(gctx); return nil })
	health.SetServing("")
	s.log.Info("broker started", "address", s.addr, "cluster_id", s.clusterID)
	err = g.Wait()
	s.log.Info("broker stopped")
	return err
}

func (s *Server) runSync(ctx context.Context) {
	if err := s.sync.Run(ctx); err != nil {
		s.log.Error("metadata follower stopped", "err", err)
	}
}

// reconcileLoop keeps the partitions in step with every new image. It
// starts once the image has caught up with the controllers: a broker that
// restarts from a persisted image must not lead (take writes, count an ISR)
// in the epochs that image names, which the controllers may have ended
// while it was down.
func (s *Server) reconcileLoop(ctx context.Context) {
	if !s.awaitCaughtUp(ctx) {
		return
	}
	var last *metadata.Image
	for {
		img, err := s.sync.Next(ctx, last)
		if err != nil {
			return
		}
		if err := s.parts.Reconcile(img, s.sync.CaughtUp()); err != nil {
			s.log.Error("applying metadata to the partitions", "err", err, "metadata_offset", img.Offset())
		}
		s.setApplied(img)
		s.replicas.update()
		s.groups.update(img)
		last = img
	}
}

// awaitCaughtUp waits until the metadata image reaches the committed offset
// a controller reported, or ctx ends (false).
func (s *Server) awaitCaughtUp(ctx context.Context) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !s.sync.CaughtUp() {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	s.log.Info("metadata caught up", "metadata_offset", s.sync.Offset())
	return true
}

// retentionLoop deletes old data by retention.ms and retention.bytes and
// gives the disk space back.
func (s *Server) retentionLoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.RetentionCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.applyRetention(time.Now())
		}
	}
}

func (s *Server) applyRetention(now time.Time) {
	img := s.Image()
	deleted := 0
	for _, p := range s.parts.All() {
		t, ok := img.TopicByID(p.Topic)
		if !ok {
			continue
		}
		cfg := metadata.EffectiveTopicConfig(t.Configs, img.BrokerConfigs(""))
		if !cfg.CleanupDelete {
			continue
		}
		n, err := p.Log.ApplyRetention(now, cfg.RetentionMs, cfg.RetentionBytes)
		if err != nil {
			s.log.Warn("retention failed", "topic", p.Name, "partition", p.ID, "err", err)
		}
		deleted += n
	}
	if deleted > 0 {
		if err := s.store.Compact(); err != nil {
			s.log.Warn("compaction after retention failed", "err", err)
		}
		if _, err := s.store.RunGC(); err != nil {
			s.log.Warn("value log GC failed", "err", err)
		}
		s.log.Info("retention deleted old batches", "batches", deleted)
	}
	if err := s.store.CheckpointHighWatermarks(); err != nil {
		s.log.Warn("checkpointing high watermarks failed", "err", err)
	}
}
