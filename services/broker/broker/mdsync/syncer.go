package mdsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-log/strata/pkg/metadata"
)

// ErrStopped is returned by WaitFor and Next once Run has returned.
var ErrStopped = errors.New("mdsync: stopped")

// Syncer follows the controllers' metadata log; see the package doc.
type Syncer struct {
	cfg Config
	log *slog.Logger

	image     atomic.Pointer[metadata.Image]
	committed atomic.Int64                   // highest committed offset a controller reported; -1 before any
	current   atomic.Pointer[string]         // address of the controller followed now; nil between streams
	persisted atomic.Pointer[metadata.Image] // last image on disk (or loaded from it)

	mu      sync.Mutex    // guards changed
	changed chan struct{} // closed and replaced at every publish

	kick    chan struct{} // wakes the persister when SnapshotRecords offsets are pending
	runOnce sync.Once
	stopped chan struct{} // closed when Run returns
}

// New checks cfg and loads the persisted image from cfg.DataDir (or starts
// from the empty image), so Image is usable before Run. A corrupt snapshot
// is logged, moved aside and ignored; a snapshot that cannot be read at all
// (permissions, I/O) fails New.
func New(cfg Config) (*Syncer, error) {
	cfg.Controllers = append([]string(nil), cfg.Controllers...)
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Syncer{
		cfg: cfg, log: cfg.Logger.With("component", "mdsync"),
		changed: make(chan struct{}), kick: make(chan struct{}, 1), stopped: make(chan struct{}),
	}
	s.committed.Store(-1)
	im, err := s.load()
	if err != nil {
		return nil, err
	}
	s.image.Store(im)
	s.persisted.Store(im)
	return s, nil
}

// load reads the persisted image, or returns the empty image.
func (s *Syncer) load() (*metadata.Image, error) {
	dir := s.cfg.DataDir
	if dir == "" {
		return metadata.Empty(), nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("mdsync: data dir: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, tempFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("mdsync: remove a stale temporary snapshot: %w", err)
	}
	im, err := readSnapshotFile(dir)
	switch {
	case errors.Is(err, ErrCorruptSnapshot):
		s.log.Error("the persisted metadata snapshot is corrupt: ignoring it, starting from offset 0 and rebuilding the metadata from the controllers",
			"path", filepath.Join(dir, SnapshotFile), "moved_to", filepath.Join(dir, corruptFile), "err", err)
		if err := moveCorrupt(dir); err != nil {
			return nil, fmt.Errorf("mdsync: move the corrupt snapshot aside: %w", err)
		}
		return metadata.Empty(), nil
	case err != nil:
		return nil, err
	case im == nil:
		s.log.Info("no persisted metadata snapshot: starting from offset 0", "dir", dir)
		return metadata.Empty(), nil
	default:
		s.log.Info("loaded the persisted metadata snapshot", "offset", im.Offset(),
			"topics", im.TopicCount(), "brokers", im.BrokerCount())
		return im, nil
	}
}

// Run follows the controllers until ctx ends, then persists the image and
// returns: nil on cancellation, or the error of that last persist. It owns
// every goroutine it starts and returns after they have stopped. Run may be
// called once.
func (s *Syncer) Run(ctx context.Context) error {
	err := errors.New("mdsync: Run called twice")
	s.runOnce.Do(func() { err = s.run(ctx) })
	return err
}

func (s *Syncer) run(ctx context.Context) error {
	defer close(s.stopped)
	f := newFollower(s)
	var wg sync.WaitGroup
	wg.Go(func() { f.run(ctx) })
	if s.cfg.DataDir != "" {
		wg.Go(func() { s.persistLoop(ctx) })
	}
	wg.Wait()
	f.close()
	if s.cfg.DataDir == "" {
		return nil
	}
	if err := s.persist(); err != nil {
		s.log.Error("could not persist the metadata image at shutdown; the next start resumes from an older offset", "err", err)
		return err
	}
	return nil
}

// Image is the current image. It never blocks.
func (s *Syncer) Image() *metadata.Image { return s.image.Load() }

// Offset is the current image's offset.
func (s *Syncer) Offset() int64 { return s.Image().Offset() }

// CommittedOffset is the highest committed metadata offset a controller
// has reported, or -1 before any has. The Syncer has caught up once Offset
// reaches it (see CaughtUp).
func (s *Syncer) CommittedOffset() int64 { return s.committed.Load() }

// CaughtUp reports whether a controller has reported its committed offset
// and the image has reached it.
func (s *Syncer) CaughtUp() bool {
	c := s.CommittedOffset()
	return c >= 0 && s.Offset() >= c
}

// Controller is the address of the controller being followed, or "" while
// the Syncer is between streams.
func (s *Syncer) Controller() string {
	if p := s.current.Load(); p != nil {
		return *p
	}
	return ""
}

// Changed returns a channel that is closed at the next change of the image.
// Read it before Image, so that a change in between is not missed:
//
//	for {
//		ch := s.Changed()
//		handle(s.Image())
//		<-ch
//	}
func (s *Syncer) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Next waits until the image differs from prev and returns the current one.
// Changes are coalesced: a consumer that calls Next with the image it got
// last sees every change of state, in order, as (prev, returned) pairs that
// chain, but not every intermediate image. Next returns ctx's error, or
// ErrStopped once Run has returned and the image is still prev.
func (s *Syncer) Next(ctx context.Context, prev *metadata.Image) (*metadata.Image, error) {
	for {
		ch := s.Changed()
		if im := s.Image(); im != prev {
			return im, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.stopped:
			if im := s.Image(); im != prev {
				return im, nil
			}
			return nil, ErrStopped
		}
	}
}

// WaitFor waits until the image has reached offset. It returns ctx's error,
// or ErrStopped once Run has returned short of offset.
func (s *Syncer) WaitFor(ctx context.Context, offset int64) error {
	for {
		ch := s.Changed()
		if s.Offset() >= offset {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("mdsync: wait for offset %d (at %d): %w", offset, s.Offset(), ctx.Err())
		case <-s.stopped:
			if s.Offset() >= offset {
				return nil
			}
			return fmt.Errorf("mdsync: wait for offset %d (at %d): %w", offset, s.Offset(), ErrStopped)
		}
	}
}

// publish makes im the current image and wakes the waiters. Only the
// follower calls it, with images whose offset is at least the current one.
func (s *Syncer) publish(im *metadata.Image) {
	s.image.Store(im)
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	if n := s.cfg.SnapshotRecords; n > 0 && s.cfg.DataDir != "" && im.Offset()-s.persisted.Load().Offset() >= n {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// noteCommitted raises CommittedOffset to offset.
func (s *Syncer) noteCommitted(offset int64) {
	for {
		cur := s.committed.Load()
		if offset <= cur || s.committed.CompareAndSwap(cur, offset) {
			return
		}
	}
}

// persistLoop writes the image when SnapshotRecords offsets are pending
// and every SnapshotInterval when it changed, until ctx ends (Run writes
// the last one).
func (s *Syncer) persistLoop(ctx context.Context) {
	var tick <-chan time.Time
	if d := s.cfg.SnapshotInterval; d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-tick:
		}
		if err := s.persist(); err != nil {
			s.log.Error("could not persist the metadata image; will retry", "err", err)
		}
	}
}

// persist writes the current image unless it is the one on disk. Only one
// goroutine calls it at a time: the persister, then Run after it stopped.
func (s *Syncer) persist() error {
	im := s.Image()
	if im == s.persisted.Load() {
		return nil
	}
	start := time.Now()
	if err := writeSnapshotFile(s.cfg.DataDir, im); err != nil {
		return err
	}
	s.persisted.Store(im)
	s.log.Debug("persisted the metadata image", "offset", im.Offset(), "took", time.Since(start))
	return nil
}
