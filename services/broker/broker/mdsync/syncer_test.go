package mdsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

var errUnavailable = rpc.New(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION, "controller going away")

func TestImageThenRecords(t *testing.T) {
	log := testLog(20)
	img := imageAt(t, log, 10)
	msgs := append(imageMsgs(img, 3), // 10 records in 4 chunks
		batchMsg(15, log[10:13]...),
		batchMsg(15, log[13:15]...),
		keepAlive(15))
	if len(msgs) != 7 {
		t.Fatalf("%d messages, want 4 chunks and 3 batches", len(msgs))
	}
	fake := startFake(t, serve(msgs...))
	r := newSyncer(t, "", nil, fake)
	seen := record(t, r.Syncer)
	if r.CommittedOffset() != -1 || r.CaughtUp() {
		t.Fatalf("before any message: committed %d, caught up %v", r.CommittedOffset(), r.CaughtUp())
	}
	r.start()
	waitOffset(t, r.Syncer, 15)
	sameImage(t, r.Image(), imageAt(t, log, 15))
	testutil.WaitFor(t, 10*time.Second, func() error {
		if got := seen.offsets(); len(got) == 0 || got[len(got)-1] != 15 {
			return fmt.Errorf("consumer saw offsets %v", got)
		}
		return nil
	})
	// The consumer saw whole images only, in order: the image at 10, then
	// one image per batch (coalescing may skip some).
	got := seen.offsets()
	if !slices.IsSorted(got) || slices.ContainsFunc(got, func(o int64) bool { return o != 10 && o != 13 && o != 15 }) {
		t.Fatalf("consumer saw offsets %v; want a sorted subset of [10 13 15]", got)
	}
	if c := r.CommittedOffset(); c != 15 || !r.CaughtUp() {
		t.Fatalf("committed %d, caught up %v; want 15, true", c, r.CaughtUp())
	}
	if got := fake.requests(); !slices.Equal(got, []int64{0}) {
		t.Fatalf("requests from %v, want [0]", got)
	}
	if r.Controller() != fake.addr {
		t.Fatalf("following %q, want %q", r.Controller(), fake.addr)
	}
}

// A stream that breaks the protocol is dropped, and the syncer resumes from
// the last offset it applied (3) without applying anything of the bad
// message.
func TestProtocolErrorsResumeFromTheOffset(t *testing.T) {
	log := testLog(6)
	img := imageAt(t, log, 6)
	chunks := imageMsgs(img, 2)
	otherHeader := imageMsgs(imageAt(t, log, 4), 2)[1]
	badCount := imageMsgs(img, 10)[0]
	badCount.GetImage().Header = &stratav1.MetadataSnapshotHeader{Offset: 6, RecordCount: 7}
	for name, bad := range map[string][]*stratav1.WatchMetadataResponse{
		"gap between batches":     {batchMsg(6, log[4:6]...)},
		"gap inside a batch":      {batchMsg(6, log[3], log[5])},
		"records inside an image": {chunks[0], batchMsg(6, log[3])},
		"image header changes":    {chunks[0], otherHeader},
		"image record count":      {badCount},
		"no payload":              {{CommittedOffset: 6}},
		"chunk without header": {{Payload: &stratav1.WatchMetadataResponse_Image{
			Image: &stratav1.MetadataImageChunk{Last: true},
		}}},
	} {
		t.Run(name, func(t *testing.T) {
			first := append([]*stratav1.WatchMetadataResponse{batchMsg(6, log[:3]...)}, bad...)
			fake := startFake(t, serve(first...), serveLog(log, 100))
			r := startSyncer(t, "", nil, fake)
			waitOffset(t, r.Syncer, 6)
			sameImage(t, r.Image(), img)
			if got := fake.requests(); !slices.Equal(got, []int64{0, 3}) {
				t.Fatalf("requests from %v, want [0 3]", got)
			}
			if !strings.Contains(r.logs.String(), "broke the protocol") {
				t.Fatal("the protocol error was not logged")
			}
		})
	}
}

func TestDuplicatedRecordsAreSkipped(t *testing.T) {
	log := testLog(8)
	fake := startFake(t, serve(
		batchMsg(8, log[0:3]...),
		batchMsg(8, log[1:5]...), // 2, 3 again, then 4, 5
		batchMsg(8, log[4]),      // 5 again only
		batchMsg(8, log[0:8]...), // everything again, then 6..8
		batchMsg(8, log[7]),
	))
	r := startSyncer(t, "", nil, fake)
	waitOffset(t, r.Syncer, 8)
	sameImage(t, r.Image(), imageAt(t, log, 8))
	if got := fake.requests(); !slices.Equal(got, []int64{0}) {
		t.Fatalf("requests from %v, want one stream from 0", got)
	}
}

// A lagging controller answers OFFSET_OUT_OF_RANGE: the syncer goes on with
// another one from the same offset.
func TestOutOfRangeMovesToAnotherController(t *testing.T) {
	log := testLog(26)
	dir := t.TempDir()
	if err := writeSnapshotFile(dir, imageAt(t, log, 20)); err != nil {
		t.Fatal(err)
	}
	behind := rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE, "from_offset 20 is beyond 12")
	behind.Metadata = map[string]string{"committed_offset": "12"}
	lagging := startFake(t, serveThenFail(behind))
	good := startFake(t, serveLog(log, 4))
	r := startSyncer(t, dir, nil, lagging, good)
	waitOffset(t, r.Syncer, 26)
	sameImage(t, r.Image(), imageAt(t, log, 26))
	if got := lagging.requests(); len(got) != 1 || got[0] != 20 {
		t.Fatalf("lagging controller asked from %v, want [20]", got)
	}
	if got := good.requests(); len(got) != 1 || got[0] != 20 {
		t.Fatalf("good controller asked from %v, want [20]", got)
	}
	if r.CommittedOffset() != 26 {
		t.Fatalf("committed offset %d, want 26", r.CommittedOffset())
	}
	if !strings.Contains(r.logs.String(), "controller_committed_offset=12") {
		t.Fatal("the lagging controller's offset was not logged")
	}
}

func TestNotControllerHintIsTriedNext(t *testing.T) {
	log := testLog(4)
	c := startFake(t, serveLog(log, 10))
	b := startFake(t, serveLog(log, 10))
	a := startFake(t, serveThenFail(rpc.NotController(3, c.addr)))
	r := startSyncer(t, "", nil, a, b, c)
	waitOffset(t, r.Syncer, 4)
	if got := b.requests(); len(got) != 0 {
		t.Fatalf("b was asked from %v; the hint named c", got)
	}
	if r.Controller() != c.addr {
		t.Fatalf("following %q, want c at %q", r.Controller(), c.addr)
	}
}

// The syncer learns controllers from ControllerRegistration records and
// goes to them when the configured ones fail.
func TestControllersFromTheImage(t *testing.T) {
	other := startFake(t) // handlers set below, once its address is known
	log := append([]*stratav1.MetadataRecord{{Record: &stratav1.MetadataRecord_ControllerRegistration{
		ControllerRegistration: &stratav1.ControllerRegistrationRecord{ControllerId: 2, Address: other.addr, RaftAddress: "127.0.0.1:1"},
	}}}, testLog(5)...)
	for i, rec := range log {
		rec.Offset = int64(i + 1)
	}
	other.setHandlers(serveLog(log, 2))
	configured := startFake(t, serveThenFail(errUnavailable, batchMsg(6, log[:2]...)), serveThenFail(errUnavailable))
	r := startSyncer(t, "", nil, configured)
	waitOffset(t, r.Syncer, 6)
	sameImage(t, r.Image(), imageAt(t, log, 6))
	if got := other.requests(); len(got) == 0 || got[0] != 2 {
		t.Fatalf("the controller from the image was asked from %v, want 2 first", got)
	}
}

// A stream that ends in the middle of an image changes nothing: the next
// one starts from the same offset, and consumers never see a partial image.
func TestStreamDroppedMidImage(t *testing.T) {
	log := testLog(24)
	img := imageAt(t, log, 20)
	chunks := imageMsgs(img, 4)
	if len(chunks) != 5 {
		t.Fatalf("%d chunks, want 5", len(chunks))
	}
	fake := startFake(t,
		serveThenFail(errUnavailable, chunks[:3]...),
		serve(append(chunks, batchMsg(22, log[20:22]...))...))
	r := newSyncer(t, "", nil, fake)
	seen := record(t, r.Syncer)
	r.start()
	waitOffset(t, r.Syncer, 22)
	sameImage(t, r.Image(), imageAt(t, log, 22))
	if got := fake.requests(); !slices.Equal(got, []int64{0, 0}) {
		t.Fatalf("requests from %v, want [0 0]", got)
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if got := seen.offsets(); len(got) == 0 || got[len(got)-1] != 22 {
			return fmt.Errorf("consumer saw offsets %v", got)
		}
		return nil
	})
	if got := seen.offsets(); got[0] != 20 && got[0] != 22 {
		t.Fatalf("consumer saw offsets %v: the first image is not the whole one", got)
	}
}

// An image older than the syncer's is ignored; the records that follow it
// are duplicates up to the syncer's offset.
func TestOlderImageIsIgnored(t *testing.T) {
	log := testLog(12)
	dir := t.TempDir()
	if err := writeSnapshotFile(dir, imageAt(t, log, 10)); err != nil {
		t.Fatal(err)
	}
	fake := startFake(t, serve(append(imageMsgs(imageAt(t, log, 6), 100), batchMsg(12, log[6:12]...))...))
	r := startSyncer(t, dir, nil, fake)
	waitOffset(t, r.Syncer, 12)
	sameImage(t, r.Image(), imageAt(t, log, 12))
	if !strings.Contains(r.logs.String(), "ignoring an image older") {
		t.Fatal("the old image was not reported")
	}
}

func TestKeepAlives(t *testing.T) {
	log := testLog(5)
	release := make(chan struct{})
	var keepAlives atomic.Int64
	fake := startFake(t, func(ctx context.Context, _ *stratav1.WatchMetadataRequest, send func(*stratav1.WatchMetadataResponse) error) error {
		for _, m := range []*stratav1.WatchMetadataResponse{batchMsg(2, log[:2]...), keepAlive(2), keepAlive(5)} {
			if err := send(m); err != nil {
				return err
			}
		}
		select {
		case <-release:
		case <-ctx.Done():
			return nil
		}
		if err := send(batchMsg(5, log[2:5]...)); err != nil {
			return err
		}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				if err := send(keepAlive(5)); err != nil {
					return err
				}
				keepAlives.Add(1)
			}
		}
	})
	r := startSyncer(t, "", func(c *Config) { c.StreamIdleTimeout = 500 * time.Millisecond }, fake)
	testutil.WaitFor(t, 10*time.Second, func() error {
		if r.CommittedOffset() != 5 {
			return fmt.Errorf("committed offset %d", r.CommittedOffset())
		}
		return nil
	})
	if r.Offset() != 2 || r.CaughtUp() {
		t.Fatalf("offset %d, caught up %v; want 2, false", r.Offset(), r.CaughtUp())
	}
	close(release)
	waitOffset(t, r.Syncer, 5)
	if !r.CaughtUp() {
		t.Fatal("not caught up at the committed offset")
	}
	// Keep-alives for twice the idle timeout keep the one stream.
	testutil.WaitFor(t, 20*time.Second, func() error {
		if n := keepAlives.Load(); n < 100 {
			return fmt.Errorf("%d keep-alives", n)
		}
		return nil
	})
	if got := fake.requests(); !slices.Equal(got, []int64{0}) {
		t.Fatalf("requests from %v, want one stream", got)
	}
	sameImage(t, r.Image(), imageAt(t, log, 5))
}

func TestSilentStreamIsAbandoned(t *testing.T) {
	log := testLog(4)
	fake := startFake(t, serve(batchMsg(4, log[:1]...)), serveLog(log, 10))
	r := startSyncer(t, "", func(c *Config) { c.StreamIdleTimeout = 50 * time.Millisecond }, fake)
	waitOffset(t, r.Syncer, 4)
	if got := fake.requests(); !slices.Equal(got, []int64{0, 1}) {
		t.Fatalf("requests from %v, want [0 1]", got)
	}
	if !strings.Contains(r.logs.String(), "nothing received for 50ms") {
		t.Fatal("the idle stream was not reported")
	}
}

// An image that refuses a committed record has diverged from the log: the
// syncer rebuilds it from offset 0, and publishes the rebuilt image only once
// it has caught up.
func TestDivergedImageIsRebuilt(t *testing.T) {
	mine := testLog(4)
	dir := t.TempDir()
	if err := writeSnapshotFile(dir, imageAt(t, mine, 4)); err != nil {
		t.Fatal(err)
	}
	// The controllers' log: four no-ops, then a topic this image already
	// has under another id.
	theirs := []*stratav1.MetadataRecord{}
	for range 4 {
		theirs = append(theirs, &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_NoOp{NoOp: &stratav1.NoOpRecord{}}})
	}
	theirs = append(theirs, &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Topic{
		Topic: &stratav1.TopicRecord{Name: "topic-000", TopicId: topicID(500).Bytes()},
	}})
	for i, rec := range theirs {
		rec.Offset = int64(i + 1)
	}
	fake := startFake(t, serveLog(theirs, 1))
	r := newSyncer(t, dir, nil, fake)
	seen := record(t, r.Syncer)
	r.start()
	want := imageAt(t, theirs, 5)
	testutil.WaitFor(t, 10*time.Second, func() error {
		if got := seen.offsets(); len(got) == 0 || got[len(got)-1] != 5 {
			return fmt.Errorf("consumer saw offsets %v", got)
		}
		return nil
	})
	sameImage(t, r.Image(), want)
	if got := fake.requests(); !slices.Equal(got[:2], []int64{4, 0}) {
		t.Fatalf("requests from %v, want [4 0]", got)
	}
	// Offsets never went back: the rebuilt image was published at 4 (the
	// published offset) or later.
	if got := seen.offsets(); !slices.IsSorted(got) || got[0] < 4 {
		t.Fatalf("consumer saw offsets %v", got)
	}
	if !strings.Contains(r.logs.String(), "diverged") {
		t.Fatal("the divergence was not logged")
	}
}

func TestPersistAndResume(t *testing.T) {
	log := testLog(25)
	dir := t.TempDir()

	fake := startFake(t, serveLog(log[:15], 4))
	r := startSyncer(t, dir, nil, fake)
	waitOffset(t, r.Syncer, 15)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	onDisk, err := readSnapshotFile(dir)
	if err != nil || onDisk == nil {
		t.Fatalf("snapshot after stop: %v, %v", onDisk, err)
	}
	sameImage(t, onDisk, imageAt(t, log, 15))
	if _, err := os.Stat(filepath.Join(dir, tempFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}

	// A new syncer on the same dir has the image at once, and asks for
	// what follows it.
	fake2 := startFake(t, serveLog(log, 4))
	r2 := newSyncer(t, dir, nil, fake2)
	if r2.Offset() != 15 {
		t.Fatalf("offset %d after New, want 15", r2.Offset())
	}
	r2.start()
	waitOffset(t, r2.Syncer, 25)
	if got := fake2.requests(); got[0] != 15 {
		t.Fatalf("first request from %d, want 15", got[0])
	}
	sameImage(t, r2.Image(), imageAt(t, log, 25))
	if err := r2.stop(t); err != nil {
		t.Fatal(err)
	}
	if onDisk, err = readSnapshotFile(dir); err != nil || onDisk.Offset() != 25 {
		t.Fatalf("snapshot after the second stop: %v", err)
	}
}

func TestPersistsWhileRunning(t *testing.T) {
	log := testLog(12)
	for name, edit := range map[string]func(*Config){
		"every 5 records":  func(c *Config) { c.SnapshotRecords, c.SnapshotInterval = 5, -1 },
		"every 20ms":       func(c *Config) { c.SnapshotRecords, c.SnapshotInterval = -1, 20*time.Millisecond },
		"default triggers": nil,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fake := startFake(t, serveLog(log, 1))
			r := startSyncer(t, dir, edit, fake)
			waitOffset(t, r.Syncer, 12)
			if edit == nil {
				// Neither 10000 records nor a minute: nothing yet.
				if _, err := os.Stat(filepath.Join(dir, SnapshotFile)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("snapshot written early: %v", err)
				}
				return
			}
			least := int64(10)
			if r.cfg.SnapshotInterval > 0 {
				least = 12
			}
			testutil.WaitFor(t, 10*time.Second, func() error {
				im, err := readSnapshotFile(dir)
				switch {
				case err != nil:
					return err
				case im == nil:
					return errors.New("no snapshot yet")
				case im.Offset() < least:
					return fmt.Errorf("snapshot at %d, want at least %d", im.Offset(), least)
				}
				sameImage(t, im, imageAt(t, log, im.Offset()))
				return nil
			})
		})
	}
}

func TestCorruptSnapshotStartsFromZero(t *testing.T) {
	log := testLog(8)
	good := snapshotBytes(t, imageAt(t, log, 8))
	for name, data := range map[string][]byte{
		"garbage":        []byte("this is not a snapshot at all, just some text"),
		"empty":          {},
		"truncated":      good[:len(good)-3],
		"trailing bytes": append(slices.Clone(good), 0),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, SnapshotFile), data, 0o644); err != nil {
				t.Fatal(err)
			}
			fake := startFake(t, serveLog(log, 3))
			r := newSyncer(t, dir, nil, fake)
			if r.Offset() != 0 {
				t.Fatalf("offset %d after New, want 0", r.Offset())
			}
			if !strings.Contains(r.logs.String(), "level=ERROR") || !strings.Contains(r.logs.String(), "corrupt") {
				t.Fatalf("the corruption was not logged as an error:\n%s", r.logs.String())
			}
			kept, err := os.ReadFile(filepath.Join(dir, corruptFile))
			if err != nil || !slices.Equal(kept, data) {
				t.Fatalf("corrupt file not kept aside: %v", err)
			}
			r.start()
			waitOffset(t, r.Syncer, 8)
			if got := fake.requests(); got[0] != 0 {
				t.Fatalf("first request from %d, want 0", got[0])
			}
			sameImage(t, r.Image(), imageAt(t, log, 8))
		})
	}
}

func TestUnreadableSnapshotFailsNew(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, SnapshotFile), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{Controllers: []string{"127.0.0.1:1"}, DataDir: dir, BrokerID: 1})
	if err == nil || errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("New: %v, want a read error", err)
	}
}

func TestWaitAndNextEndWithRun(t *testing.T) {
	log := testLog(3)
	fake := startFake(t, serveLog(log, 10))
	r := startSyncer(t, "", nil, fake)
	waitOffset(t, r.Syncer, 3)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.WaitFor(ctx, 4); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitFor with a canceled context: %v", err)
	}
	if _, err := r.Next(ctx, r.Image()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a canceled context: %v", err)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if err := r.WaitFor(context.Background(), 4); !errors.Is(err, ErrStopped) {
		t.Fatalf("WaitFor after Run: %v", err)
	}
	if err := r.WaitFor(context.Background(), 3); err != nil {
		t.Fatalf("WaitFor a reached offset after Run: %v", err)
	}
	if _, err := r.Next(context.Background(), r.Image()); !errors.Is(err, ErrStopped) {
		t.Fatalf("Next after Run: %v", err)
	}
	if im, err := r.Next(context.Background(), metadata.Empty()); err != nil || im != r.Image() {
		t.Fatalf("Next from an older image after Run: %v", err)
	}
	if err := r.Run(context.Background()); err == nil {
		t.Fatal("a second Run succeeded")
	}
}

// Run stops promptly while every controller is unreachable.
func TestStopsWhileControllersAreDown(t *testing.T) {
	r := startSyncer(t, t.TempDir(), nil, &fakeController{addr: testutil.FreeAddr(t)}, &fakeController{addr: testutil.FreeAddr(t)})
	testutil.WaitFor(t, 10*time.Second, func() error {
		if n := strings.Count(r.logs.String(), "stream failed"); n < 4 {
			return fmt.Errorf("%d failed attempts", n)
		}
		return nil
	})
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if r.Offset() != 0 || r.CommittedOffset() != -1 {
		t.Fatalf("offset %d, committed %d", r.Offset(), r.CommittedOffset())
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Controllers: []string{"127.0.0.1:9301"}, BrokerID: 101}
	for name, tc := range map[string]struct {
		edit func(*Config)
		want string // in the error; empty for none
	}{
		"ok":                {func(*Config) {}, ""},
		"tool":              {func(c *Config) { c.BrokerID = -1 }, ""},
		"no controllers":    {func(c *Config) { c.Controllers = nil }, "Config.Controllers is empty"},
		"empty controller":  {func(c *Config) { c.Controllers = []string{"a:1", ""} }, "Config.Controllers[1] is empty"},
		"zero broker":       {func(c *Config) { c.BrokerID = 0 }, "Config.BrokerID"},
		"negative backoff":  {func(c *Config) { c.BackoffMin = -time.Second }, "Config.BackoffMin"},
		"max below min":     {func(c *Config) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond }, "Config.BackoffMax"},
		"negative idle":     {func(c *Config) { c.StreamIdleTimeout = -1 }, "Config.StreamIdleTimeout"},
		"bad dial settings": {func(c *Config) { c.Dial.MaxRecvMsgSize = -1 }, "MaxRecvMsgSize"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			s, err := New(cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.cfg.SnapshotRecords != DefaultSnapshotRecords || s.cfg.StreamIdleTimeout != DefaultStreamIdleTimeout {
					t.Fatalf("defaults not set: %+v", s.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{base: 10 * time.Millisecond, limit: 100 * time.Millisecond}
	for i, ceiling := range []time.Duration{10, 20, 40, 80, 100, 100, 100} {
		ceiling *= time.Millisecond
		d := b.next()
		if d < ceiling/2 || d > ceiling {
			t.Fatalf("wait %d is %v, want within [%v, %v]", i, d, ceiling/2, ceiling)
		}
	}
	b.reset()
	if d := b.next(); d > 10*time.Millisecond {
		t.Fatalf("after reset: %v", d)
	}
	huge := backoff{base: time.Hour, limit: time.Hour}
	for range 100 {
		if d := huge.next(); d < 30*time.Minute || d > time.Hour {
			t.Fatalf("capped wait %v", d)
		}
	}
}
