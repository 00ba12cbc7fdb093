package mdsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
)

// ErrProtocol is wrapped by errors about a stream that breaks the
// WatchMetadata contract: a gap in the offsets, records in the middle of an
// image, an image that does not load. The Syncer drops such a stream and
// resumes from its offset with another controller.
var ErrProtocol = errors.New("mdsync: protocol error")

// errStreamIdle is the cause of a stream abandoned for its silence.
var errStreamIdle = errors.New("mdsync: stream idle")

// errDiverged is returned when the image refuses a record: the follower
// resynchronises from offset 0.
var errDiverged = errors.New("mdsync: the image refuses a committed record")

// follower is the goroutine that follows one controller at a time. Its
// fields are its own; it shares state with readers only through
// Syncer.publish and the Syncer's atomics.
type follower struct {
	s     *Syncer
	log   *slog.Logger
	conns map[string]*grpc.ClientConn
	last  string // the controller tried last
	next  string // a controller to try next (a NOT_CONTROLLER hint), or ""
	// resync follows the log from offset 0 into a private image, published
	// once it reaches the published offset (after errDiverged).
	resync bool
	bo     backoff
}

func newFollower(s *Syncer) *follower {
	return &follower{
		s: s, log: s.log, conns: make(map[string]*grpc.ClientConn),
		bo: backoff{base: s.cfg.BackoffMin, limit: s.cfg.BackoffMax},
	}
}

// run follows controllers, one after the other, until ctx ends.
func (f *follower) run(ctx context.Context) {
	for ctx.Err() == nil {
		addr := f.pick()
		progress, err := f.session(ctx, addr)
		f.s.current.Store(nil)
		if ctx.Err() != nil {
			return
		}
		f.report(addr, err)
		if progress {
			f.bo.reset()
			continue
		}
		t := time.NewTimer(f.bo.next())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// close closes the connections; run must have returned.
func (f *follower) close() {
	for addr, cc := range f.conns {
		_ = cc.Close()
		delete(f.conns, addr)
	}
}

// candidates are the configured controllers, then those the image names.
func (f *follower) candidates() []string {
	list := slices.Clone(f.s.cfg.Controllers)
	for c := range f.s.Image().Controllers() {
		if c.Address != "" && !slices.Contains(list, c.Address) {
			list = append(list, c.Address)
		}
	}
	return list
}

// pick chooses the controller to follow next: a hinted one, else the one
// after the last tried, else (at the start) a random one.
func (f *follower) pick() string {
	if addr := f.next; addr != "" {
		f.next, f.last = "", addr
		return addr
	}
	list := f.candidates()
	i := 0
	switch j := slices.Index(list, f.last); {
	case j >= 0:
		i = (j + 1) % len(list)
	case f.last == "" && (f.s.cfg.Knobs == nil || !f.s.cfg.Knobs.InOrder):
		i = rand.IntN(len(list))
	}
	f.last = list[i]
	return f.last
}

func (f *follower) conn(addr string) (*grpc.ClientConn, error) {
	if cc, ok := f.conns[addr]; ok {
		return cc, nil
	}
	cc, err := rpc.Dial(addr, f.s.cfg.Dial, f.s.cfg.DialOptions...)
	if err != nil {
		return nil, fmt.Errorf("mdsync: %w", err)
	}
	f.conns[addr] = cc
	return cc, nil
}

// session follows one controller until the stream fails or ctx ends.
// progress is true when the stream delivered at least one valid message,
// so that a controller that worked for a while is left without waiting.
func (f *follower) session(ctx context.Context, addr string) (progress bool, err error) {
	cc, err := f.conn(addr)
	if err != nil {
		return false, err
	}
	st := &stream{f: f, local: f.s.Image()}
	if f.resync {
		st.local = metadata.Empty()
	}
	timeout := f.s.cfg.StreamIdleTimeout
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(timeout, func() { cancel(errStreamIdle) })
	defer idle.Stop()

	req := &stratav1.WatchMetadataRequest{FromOffset: st.local.Offset(), BrokerId: f.s.cfg.BrokerID}
	f.log.Debug("watching the metadata", "controller", addr, "from_offset", req.GetFromOffset(), "resync", f.resync)
	ws, err := stratav1.NewControllerServiceClient(cc).WatchMetadata(sctx, req)
	if err != nil {
		return false, streamErr(ctx, sctx, timeout, err)
	}
	for {
		resp, err := ws.Recv()
		if err != nil {
			return progress, streamErr(ctx, sctx, timeout, err)
		}
		idle.Stop() // applying a large message is not silence
		if !progress {
			f.s.current.Store(&addr)
			f.log.Info("following the metadata", "controller", addr, "from_offset", req.GetFromOffset(), "resync", f.resync)
		}
		if err := st.handle(resp); err != nil {
			return false, err
		}
		progress = true
		idle.Reset(timeout)
	}
}

// streamErr tells the parent's cancellation and an idle stream apart from
// a failure of the stream itself.
func streamErr(parent, sctx context.Context, timeout time.Duration, err error) error {
	if parent.Err() != nil {
		return parent.Err()
	}
	if errors.Is(context.Cause(sctx), errStreamIdle) {
		return fmt.Errorf("%w: nothing received for %v", errStreamIdle, timeout)
	}
	return err
}

// report logs why a stream ended and takes the hints its error carries.
func (f *follower) report(addr string, err error) {
	offset := f.s.Offset()
	var e *rpc.Error
	errors.As(err, &e)
	switch {
	case errors.Is(err, rpc.ErrOffsetOutOfRange):
		committed := int64(-1)
		if e != nil {
			if n, perr := strconv.ParseInt(e.Metadata["committed_offset"], 10, 64); perr == nil {
				committed = n
				f.s.noteCommitted(n)
			}
		}
		f.log.Warn("the controller is behind this broker's metadata; trying another",
			"controller", addr, "controller_committed_offset", committed, "offset", offset)
	case errors.Is(err, rpc.ErrNotController):
		var hint string
		if e != nil {
			hint = e.Controller.GetAddress()
		}
		if hint != "" && hint != addr {
			f.next = hint
		}
		f.log.Info("the controller does not serve the metadata; trying another", "controller", addr, "hint", hint)
	case errors.Is(err, errDiverged):
		f.log.Error("the metadata image refuses a committed record: it has diverged from the controllers' log; rebuilding it from offset 0",
			"controller", addr, "offset", offset, "err", err)
	case errors.Is(err, io.EOF):
		f.log.Info("the controller ended the metadata stream; resuming with another controller", "controller", addr, "offset", offset)
	case errors.Is(err, ErrProtocol):
		f.log.Error("the metadata stream broke the protocol; resuming with another controller",
			"controller", addr, "offset", offset, "err", err)
	default:
		f.log.Warn("the metadata stream failed; resuming with another controller",
			"controller", addr, "offset", offset, "err", err)
	}
}

// stream is the state of one WatchMetadata stream: the image it builds
// (the published one, or a private one while resynchronising) and the
// image chunks received so far.
type stream struct {
	f       *follower
	local   *metadata.Image
	header  *stratav1.MetadataSnapshotHeader // of the image being received, nil when none
	pending []*stratav1.MetadataRecord
}

func (st *stream) handle(resp *stratav1.WatchMetadataResponse) error {
	st.f.s.noteCommitted(resp.GetCommittedOffset())
	switch p := resp.GetPayload().(type) {
	case *stratav1.WatchMetadataResponse_Image:
		return st.chunk(p.Image)
	case *stratav1.WatchMetadataResponse_Records:
		if st.header != nil {
			return fmt.Errorf("%w: records in the middle of the image at offset %d", ErrProtocol, st.header.GetOffset())
		}
		return st.records(p.Records.GetRecords())
	default:
		return fmt.Errorf("%w: a message without a known payload (%T)", ErrProtocol, p)
	}
}

// chunk collects an image chunk and, at the last one, loads the image.
func (st *stream) chunk(c *stratav1.MetadataImageChunk) error {
	h := c.GetHeader()
	switch {
	case h == nil:
		return fmt.Errorf("%w: an image chunk without a header", ErrProtocol)
	case st.header == nil:
		if h.GetOffset() < 0 || h.GetRecordCount() < 0 {
			return fmt.Errorf("%w: image header with offset %d and %d records", ErrProtocol, h.GetOffset(), h.GetRecordCount())
		}
		st.header = h
	case h.GetOffset() != st.header.GetOffset() || h.GetRecordCount() != st.header.GetRecordCount():
		return fmt.Errorf("%w: image chunk for offset %d (%d records) in the image at offset %d (%d records)",
			ErrProtocol, h.GetOffset(), h.GetRecordCount(), st.header.GetOffset(), st.header.GetRecordCount())
	}
	st.pending = append(st.pending, c.GetRecords()...)
	if n := int64(len(st.pending)); n > h.GetRecordCount() || c.GetLast() && n != h.GetRecordCount() {
		return fmt.Errorf("%w: the image at offset %d has %d records so far, its header says %d",
			ErrProtocol, h.GetOffset(), n, h.GetRecordCount())
	}
	if !c.GetLast() {
		return nil
	}
	im, err := metadata.Load(h.GetOffset(), slices.Values(st.pending))
	st.header, st.pending = nil, nil
	if err != nil {
		return fmt.Errorf("%w: the image at offset %d does not load: %w", ErrProtocol, h.GetOffset(), err)
	}
	if im.Offset() < st.local.Offset() {
		st.f.log.Warn("ignoring an image older than this one", "image_offset", im.Offset(), "offset", st.local.Offset())
		return nil
	}
	st.f.log.Info("received a metadata image", "offset", im.Offset(), "records", h.GetRecordCount(), "previous_offset", st.local.Offset())
	st.local = im
	st.adopt()
	return nil
}

// records applies one message's records as one delta: all of them or none.
// Records at or below the image's offset were applied already and are
// skipped; the next must follow it exactly. An empty batch is a keep-alive.
func (st *stream) records(recs []*stratav1.MetadataRecord) error {
	d := metadata.NewDelta(st.local)
	applied, dups := 0, 0
	for _, r := range recs {
		switch off := r.GetOffset(); {
		case off <= d.Offset():
			dups++
			continue
		case off != d.Offset()+1:
			return fmt.Errorf("%w: record offset %d does not follow %d", ErrProtocol, off, d.Offset())
		}
		if err := d.Replay(r); err != nil {
			if st.f.resync {
				return fmt.Errorf("%w: the log does not replay from offset 0: %w", ErrProtocol, err)
			}
			st.f.resync = true
			return fmt.Errorf("%w: record %d: %w", errDiverged, r.GetOffset(), err)
		}
		applied++
	}
	if dups > 0 {
		st.f.log.Debug("skipped records already applied", "count", dups, "offset", st.local.Offset())
	}
	if applied == 0 {
		return nil
	}
	st.local = d.Apply()
	st.adopt()
	return nil
}

// adopt publishes the stream's image, unless it is a private one still
// behind the published image.
func (st *stream) adopt() {
	f := st.f
	if st.local.Offset() < f.s.Offset() {
		return
	}
	if f.resync {
		f.log.Info("the rebuilt metadata image has caught up; publishing it", "offset", st.local.Offset())
		f.resync = false
	}
	f.s.publish(st.local)
}
