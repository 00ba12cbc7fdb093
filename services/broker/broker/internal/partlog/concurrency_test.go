package partlog

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/strata-log/strata/pkg/metadata"
)

// TestConcurrentWriterAndReaders runs one writer (appends, now and then a
// truncation and re-append, and retention) against readers that check every
// batch they get. Record values follow from offsets, so data written again
// after a truncation is the same and any read can be checked.
func TestConcurrentWriterAndReaders(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)

	wg.Go(func() { // the writer
		defer done.Store(true)
		rng := rand.New(rand.NewPCG(7, 7))
		epoch := int32(0)
		for i := range 400 {
			specs := make([]batchSpec, 1+rng.IntN(3))
			for j := range specs {
				specs[j] = batchSpec{records: 1 + rng.IntN(5), valueSize: []int{20, 1500}[rng.IntN(2)]}
			}
			leo := l.LogEndOffset()
			if _, err := l.Append(buildCrashLike(leo, specs), epoch); err != nil {
				errs <- err
				return
			}
			l.SetHighWatermark(l.LogEndOffset() - int64(rng.IntN(5)))
			switch {
			case i%50 == 49: // a divergence: truncate a little above the HW
				epoch++
				to := max(l.HighWatermark(), l.LogEndOffset()-int64(rng.IntN(10)))
				if err := l.TruncateTo(to); err != nil {
					errs <- err
					return
				}
			case i%40 == 39:
				if err := l.DeleteBefore(l.HighWatermark() / 3); err != nil {
					errs <- err
					return
				}
			}
		}
	})
	for r := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			reads := 0
			for !done.Load() || reads < 20 {
				reads++
				start, leo := l.LogStartOffset(), l.LogEndOffset()
				off := start + rng.Int64N(leo-start+1)
				bound := []int64{leo, l.HighWatermark()}[rng.IntN(2)]
				buf, err := l.Read(off, 1+rng.IntN(8000), bound)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue // retention or truncation moved a bound
				}
				if err != nil {
					errs <- err
					return
				}
				got, err := parseBatches(buf) // valid, gapless, right values
				if err != nil {
					errs <- err
					return
				}
				if len(got) > 0 && (got[0].header.BaseOffset > off || got[0].header.LastOffset() < off) {
					t.Errorf("Read(%d) starts with batch [%d, %d]", off, got[0].header.BaseOffset, got[0].header.LastOffset())
					return
				}
				for _, b := range got {
					if b.header.LastOffset() >= bound {
						t.Errorf("Read(%d, bound %d) returned a batch ending at %d", off, bound, b.header.LastOffset())
						return
					}
				}
				if e, end := l.LastOffsetForEpoch(l.LatestEpoch()); e >= 0 && end < 0 {
					t.Errorf("LastOffsetForEpoch(latest) = %d, %d", e, end)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := stateOf(l)
	all := readAll(t, l, got.logStart, got.leo, 1<<20)
	if got.size != sumSizes(all) {
		t.Fatalf("Size() = %d, batches hold %d", got.size, sumSizes(all))
	}
}
