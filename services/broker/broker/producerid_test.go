package broker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// Concurrent callers get distinct ids; one fetch at a time gets a block,
// the others wait for it; a failed fetch fails its caller only, and the next
// caller fetches again.
func TestProducerIDsTake(t *testing.T) {
	var p producerIDs
	var fetches, inFetch atomic.Int32
	fail := atomic.Bool{}
	fetch := func(context.Context) (int64, int32, error) {
		if inFetch.Add(1) != 1 {
			t.Error("two fetches at once")
		}
		defer inFetch.Add(-1)
		n := fetches.Add(1)
		if fail.Load() {
			return 0, 0, errors.New("no controller")
		}
		return int64(n) * 1000, 10, nil
	}
	const callers, each = 8, 25
	ids := make(chan int64, callers*each)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range each {
				id, err := p.take(t.Context(), fetch)
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	var got []int64
	for id := range ids {
		got = append(got, id)
	}
	slices.Sort(got)
	if len(slices.Compact(slices.Clone(got))) != callers*each {
		t.Fatalf("%d ids, some twice: %v", len(got), got)
	}
	if n := fetches.Load(); n != callers*each/10 {
		t.Fatalf("%d fetches for %d ids in blocks of 10", n, callers*each)
	}
	for _, id := range got {
		if id%1000 >= 10 {
			t.Fatalf("id %d is outside the blocks given", id)
		}
	}

	fail.Store(true)
	if _, err := p.take(t.Context(), fetch); err == nil {
		t.Fatal("take with a failing fetch and an empty block succeeded")
	}
	fail.Store(false)
	if id, err := p.take(t.Context(), fetch); err != nil || id%1000 != 0 {
		t.Fatalf("take after a failed fetch: %d, %v", id, err)
	}

	// A caller waiting for another's fetch gives up with its context.
	release := make(chan struct{})
	p = producerIDs{}
	started, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		_, _ = p.take(context.Background(), func(context.Context) (int64, int32, error) {
			close(started)
			<-release
			return 0, 1, nil
		})
	}()
	<-started
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.take(ctx, fetch); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled wait: %v", err)
	}
	close(release)
	<-done
}

func TestCheckProducerIDAndEpoch(t *testing.T) {
	for _, c := range []struct {
		id    int64
		epoch int32
		ok    bool
	}{
		{-1, -1, true}, {0, 0, true}, {7, 32767, true},
		{-1, 0, false}, {7, -1, false}, {-2, -1, false}, {7, 32768, false},
	} {
		if err := checkProducerIDAndEpoch(c.id, c.epoch); (err == nil) != c.ok {
			t.Errorf("(%d, %d): %v", c.id, c.epoch, err)
		}
	}
}
