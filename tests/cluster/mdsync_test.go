package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
	"github.com/strata-log/strata/services/broker/broker/mdsync"
)

// watchLog records the WatchMetadata streams a syncer opens, through a
// client interceptor: each request and what the stream delivered first.
type watchLog struct {
	mu      sync.Mutex
	streams []*watchStream
}

type watchStream struct {
	target string
	from   int64
	first  string // "image", "records", "keep-alive" or "" before any message
}

func (w *watchLog) intercept(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &recordingStream{ClientStream: cs, w: w, target: cc.Target()}, nil
}

// list returns a copy of the streams so far.
func (w *watchLog) list() []watchStream {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]watchStream, len(w.streams))
	for i, s := range w.streams {
		out[i] = *s
	}
	return out
}

type recordingStream struct {
	grpc.ClientStream
	w      *watchLog
	target string
	rec    *watchStream
}

func (s *recordingStream) SendMsg(m any) error {
	if req, ok := m.(*stratav1.WatchMetadataRequest); ok {
		s.w.mu.Lock()
		s.rec = &watchStream{target: s.target, from: req.GetFromOffset()}
		s.w.streams = append(s.w.streams, s.rec)
		s.w.mu.Unlock()
	}
	return s.ClientStream.SendMsg(m)
}

func (s *recordingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	resp, ok := m.(*stratav1.WatchMetadataResponse)
	if err != nil || !ok || s.rec == nil {
		return err
	}
	kind := "records"
	switch {
	case resp.GetImage() != nil:
		kind = "image"
	case len(resp.GetRecords().GetRecords()) == 0:
		kind = "keep-alive"
	}
	s.w.mu.Lock()
	if s.rec.first == "" {
		s.rec.first = kind
	}
	s.w.mu.Unlock()
	return nil
}

// syncer is a running metadata syncer of a test.
type syncer struct {
	*mdsync.Syncer
	cancel context.CancelFunc
	done   chan error
}

// stop cancels the syncer and returns what Run returned.
func (s *syncer) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the syncer did not stop within 20s")
		return nil
	}
}

// startSyncer makes a syncer on every controller with its image in dir,
// checks it with before (between New and Run), and runs it until stop or
// the end of the test.
func startSyncer(t *testing.T, c *Cluster, dir string, w *watchLog, before func(*mdsync.Syncer)) *syncer {
	t.Helper()
	var addrs []string
	for id := int32(1); id <= int32(len(c.Controllers)); id++ {
		addrs = append(addrs, c.Controllers[id].Addr)
	}
	s, err := mdsync.New(mdsync.Config{
		Controllers: addrs, DataDir: dir, BrokerID: 101, Logger: c.logger(101),
		Dial:       rpc.DialConfig{StreamInterceptors: []grpc.StreamClientInterceptor{w.intercept}},
		BackoffMax: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sy := &syncer{Syncer: s, cancel: cancel, done: make(chan error, 1)}
	go func() { sy.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		if err := sy.stop(t); err != nil {
			t.Errorf("syncer: %v", err)
		}
	})
	return sy
}

// waitSyncerMatches waits until the syncer's image is byte for byte every
// running controller's.
func waitSyncerMatches(t *testing.T, c *Cluster, s *syncer) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, func() error {
		var got bytes.Buffer
		if err := s.Image().WriteSnapshot(&got); err != nil {
			return err
		}
		for id, ctl := range c.Controllers {
			srv := ctl.Server()
			if srv == nil {
				continue
			}
			var want bytes.Buffer
			if err := srv.Image().WriteSnapshot(&want); err != nil {
				return err
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				return fmt.Errorf("syncer at offset %d, controller %d at %d: images differ", s.Offset(), id, srv.Image().Offset())
			}
		}
		if !s.CaughtUp() {
			return fmt.Errorf("syncer at offset %d, committed offset %d: not caught up", s.Offset(), s.CommittedOffset())
		}
		return nil
	})
}

// activeAdmin is an admin client of the active controller.
func activeAdmin(c *Cluster) stratav1.AdminServiceClient {
	return c.Admin(c.WaitActive(20 * time.Second).ID)
}

func TestMetadataSyncerFailsOverAndResumes(t *testing.T) {
	c := Start(t, Options{})
	c.StartBroker(101, "")
	dir := t.TempDir()
	first := &watchLog{}
	s := startSyncer(t, c, dir, first, nil)
	for i := range 5 {
		createTopic(t, activeAdmin(c), fmt.Sprintf("before-%d", i), 3, 1)
	}
	waitSyncerMatches(t, c, s)

	// Stop the controller the syncer follows: it goes on with another one.
	followed := s.Controller()
	var stopped int32
	for id, ctl := range c.Controllers {
		if ctl.Addr == followed {
			stopped = id
		}
	}
	if stopped == 0 {
		t.Fatalf("the syncer follows %q, which is no controller", followed)
	}
	at := s.Offset()
	c.StopController(stopped)
	for i := range 5 {
		createTopic(t, activeAdmin(c), fmt.Sprintf("after-%d", i), 3, 1)
	}
	waitSyncerMatches(t, c, s)
	if s.Offset() <= at {
		t.Fatalf("offset %d after the failover, %d before", s.Offset(), at)
	}
	if now := s.Controller(); now == followed || now == "" {
		t.Fatalf("the syncer follows %q; it followed %q, now stopped", now, followed)
	}
	t.Logf("controller %d stopped at offset %d; streams: %+v", stopped, at, first.list())

	// Restart the syncer on its dir: it resumes from the persisted offset.
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	persisted := s.Offset()
	if _, err := os.Stat(filepath.Join(dir, mdsync.SnapshotFile)); err != nil {
		t.Fatal(err)
	}
	second := &watchLog{}
	s2 := startSyncer(t, c, dir, second, func(s *mdsync.Syncer) {
		if s.Offset() != persisted {
			t.Errorf("restarted syncer at offset %d, persisted %d", s.Offset(), persisted)
		}
	})
	createTopic(t, activeAdmin(c), "after-restart", 2, 1)
	waitSyncerMatches(t, c, s2)
	streams := second.list()
	if len(streams) == 0 || streams[0].from != persisted || persisted <= 0 {
		t.Fatalf("restarted syncer's streams %+v; want the first from the persisted offset %d", streams, persisted)
	}
	if _, ok := s2.Image().Topic("after-restart"); !ok {
		t.Fatal("the topic created after the restart is missing")
	}
}

func TestMetadataSyncerAfterCompactionGetsTheImage(t *testing.T) {
	c := Start(t, Options{WatchWindow: 8})
	c.StartBroker(101, "")
	for i := range 12 {
		createTopic(t, activeAdmin(c), fmt.Sprintf("t%d", i), 2, 1)
	}
	waitSameImages(t, c)
	w := &watchLog{}
	s := startSyncer(t, c, t.TempDir(), w, nil)
	waitSyncerMatches(t, c, s)
	streams := w.list()
	if len(streams) == 0 || streams[0].from != 0 || streams[0].first != "image" {
		t.Fatalf("streams %+v; want the first from 0 to start with the image", streams)
	}
	// Records follow the image on the same stream.
	createTopic(t, activeAdmin(c), "late", 1, 1)
	waitSyncerMatches(t, c, s)
	if _, ok := s.Image().Topic("late"); !ok {
		t.Fatal("the topic created after the image is missing")
	}
	if got := len(w.list()); got != 1 {
		t.Fatalf("%d streams, want 1", got)
	}
}
