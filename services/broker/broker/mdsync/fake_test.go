package mdsync

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
)

// fakeController is a ControllerService on 127.0.0.1 whose WatchMetadata
// a test scripts: each call runs the next handler (the last one repeats),
// and every request is recorded.
type fakeController struct {
	stratav1.UnimplementedControllerServiceServer
	addr string

	mu       sync.Mutex
	handlers []watchHandler
	reqs     []*stratav1.WatchMetadataRequest
}

// watchHandler serves one WatchMetadata call; send sends a message. It
// returns the call's error (nil ends the stream cleanly).
type watchHandler func(ctx context.Context, req *stratav1.WatchMetadataRequest, send func(*stratav1.WatchMetadataResponse) error) error

func startFake(t *testing.T, handlers ...watchHandler) *fakeController {
	t.Helper()
	f := &fakeController{handlers: handlers}
	srv, err := rpc.NewServer(rpc.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	stratav1.RegisterControllerServiceServer(srv, f)
	l := testutil.Listen(t)
	f.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return f
}

func (f *fakeController) WatchMetadata(req *stratav1.WatchMetadataRequest, stream grpc.ServerStreamingServer[stratav1.WatchMetadataResponse]) error {
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, req)
	h := f.handlers[min(n, len(f.handlers)-1)]
	f.mu.Unlock()
	return h(stream.Context(), req, stream.Send)
}

// setHandlers replaces the script (for a fake started before its script
// could be written).
func (f *fakeController) setHandlers(handlers ...watchHandler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers = handlers
}

// requests returns the from_offset of every request so far.
func (f *fakeController) requests() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var offsets []int64
	for _, r := range f.reqs {
		offsets = append(offsets, r.GetFromOffset())
	}
	return offsets
}

// Handlers.

// serve sends the messages, then holds the stream open until the client
// goes away.
func serve(msgs ...*stratav1.WatchMetadataResponse) watchHandler {
	return func(ctx context.Context, _ *stratav1.WatchMetadataRequest, send func(*stratav1.WatchMetadataResponse) error) error {
		for _, m := range msgs {
			if err := send(m); err != nil {
				return err
			}
		}
		<-ctx.Done()
		return nil
	}
}

// serveThenFail sends the messages, then fails the stream with err.
func serveThenFail(err error, msgs ...*stratav1.WatchMetadataResponse) watchHandler {
	return func(_ context.Context, _ *stratav1.WatchMetadataRequest, send func(*stratav1.WatchMetadataResponse) error) error {
		for _, m := range msgs {
			if err := send(m); err != nil {
				return err
			}
		}
		return err
	}
}

// serveLog serves a log as a controller does: the records after the
// request's from_offset, in batches of batch, then keep-alives while the
// client stays.
func serveLog(log []*stratav1.MetadataRecord, batch int) watchHandler {
	return func(ctx context.Context, req *stratav1.WatchMetadataRequest, send func(*stratav1.WatchMetadataResponse) error) error {
		committed := int64(len(log))
		for rest := log[req.GetFromOffset():]; len(rest) > 0; {
			n := min(batch, len(rest))
			if err := send(batchMsg(committed, rest[:n]...)); err != nil {
				return err
			}
			rest = rest[n:]
		}
		<-ctx.Done()
		return nil
	}
}

// Messages.

func batchMsg(committed int64, recs ...*stratav1.MetadataRecord) *stratav1.WatchMetadataResponse {
	return &stratav1.WatchMetadataResponse{
		Payload:         &stratav1.WatchMetadataResponse_Records{Records: &stratav1.MetadataRecordBatch{Records: recs}},
		CommittedOffset: committed,
	}
}

func keepAlive(committed int64) *stratav1.WatchMetadataResponse { return batchMsg(committed) }

// imageMsgs chunks im as a controller does, with per records in a chunk.
func imageMsgs(im *metadata.Image, per int) []*stratav1.WatchMetadataResponse {
	recs := slices.Collect(im.Records())
	hdr := &stratav1.MetadataSnapshotHeader{Offset: im.Offset(), RecordCount: int64(len(recs))}
	var msgs []*stratav1.WatchMetadataResponse
	for {
		n := min(per, len(recs))
		msgs = append(msgs, &stratav1.WatchMetadataResponse{
			Payload: &stratav1.WatchMetadataResponse_Image{Image: &stratav1.MetadataImageChunk{
				Header: hdr, Records: recs[:n], Last: n == len(recs),
			}},
			CommittedOffset: im.Offset(),
		})
		recs = recs[n:]
		if len(recs) == 0 {
			return msgs
		}
	}
}

// Records: a log of topic creations, one topic and one partition per topic
// (two records per topic), with offsets from 1.

func topicID(n int) metadata.TopicID {
	var id metadata.TopicID
	id[0], id[14], id[15] = 0x40, byte(n>>8), byte(n)
	return id
}

// testLog returns n records with offsets 1..n.
func testLog(n int) []*stratav1.MetadataRecord {
	recs := make([]*stratav1.MetadataRecord, 0, n)
	for i := 0; len(recs) < n; i++ {
		id := topicID(i)
		recs = append(recs, &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Topic{
			Topic: &stratav1.TopicRecord{Name: fmt.Sprintf("topic-%03d", i), TopicId: id.Bytes()},
		}})
		if len(recs) < n {
			recs = append(recs, metadata.PartitionRecord(id, &metadata.Partition{
				ID: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 0,
			}))
		}
	}
	for i, r := range recs {
		r.Offset = int64(i + 1)
	}
	return recs
}

// imageAt applies log[:offset] to the empty image.
func imageAt(t *testing.T, log []*stratav1.MetadataRecord, offset int64) *metadata.Image {
	t.Helper()
	d := metadata.NewDelta(metadata.Empty())
	for _, r := range log[:offset] {
		if err := d.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	return d.Apply()
}

func snapshotBytes(t *testing.T, im *metadata.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := im.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Syncers.

// testLogger keeps a syncer's logs for assertions and for a failed test.
type testLogger struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLogger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// running is a syncer started by startSyncer.
type running struct {
	*Syncer
	logs   *testLogger
	cancel context.CancelFunc
	done   chan error
}

// stop cancels Run and returns its result.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // stop may be called again (cleanup)
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of the cancellation")
		return nil
	}
}

// newSyncer makes a syncer on the controllers, tried in order, with fast
// backoff; edit adjusts the config. start runs it; the test's cleanup stops
// it.
func newSyncer(t *testing.T, dir string, edit func(*Config), controllers ...*fakeController) *running {
	t.Helper()
	logs := &testLogger{}
	cfg := Config{
		DataDir: dir, BrokerID: 101,
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BackoffMin: time.Millisecond, BackoffMax: 20 * time.Millisecond,
		Knobs: &Knobs{InOrder: true},
	}
	for _, c := range controllers {
		cfg.Controllers = append(cfg.Controllers, c.addr)
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{Syncer: s, logs: logs, done: make(chan error, 1)}
	t.Cleanup(func() {
		if r.cancel != nil {
			if err := r.stop(t); err != nil {
				t.Errorf("Run: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("syncer logs:\n%s", logs.String())
		}
	})
	return r
}

func (r *running) start() *running {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.Run(ctx) }()
	return r
}

func startSyncer(t *testing.T, dir string, edit func(*Config), controllers ...*fakeController) *running {
	t.Helper()
	return newSyncer(t, dir, edit, controllers...).start()
}

// recorder collects the images a consumer gets from Next.
type recorder struct {
	mu     sync.Mutex
	images []*metadata.Image
}

func record(t *testing.T, s *Syncer) *recorder {
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	prev := s.Image()
	go func() {
		defer close(done)
		for {
			im, err := s.Next(ctx, prev)
			if err != nil {
				return
			}
			rec.mu.Lock()
			rec.images = append(rec.images, im)
			rec.mu.Unlock()
			prev = im
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return rec
}

// offsets are the offsets of the images seen so far.
func (r *recorder) offsets() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, im := range r.images {
		out = append(out, im.Offset())
	}
	return out
}

// waitOffset waits until the syncer's image reaches offset.
func waitOffset(t *testing.T, s *Syncer, offset int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, offset); err != nil {
		t.Fatal(err)
	}
}

// sameImage fails unless got is byte for byte want.
func sameImage(t *testing.T, got, want *metadata.Image) {
	t.Helper()
	if !bytes.Equal(snapshotBytes(t, got), snapshotBytes(t, want)) {
		t.Fatalf("image at offset %d (%d topics) differs from the expected one at offset %d (%d topics)",
			got.Offset(), got.TopicCount(), want.Offset(), want.TopicCount())
	}
}
