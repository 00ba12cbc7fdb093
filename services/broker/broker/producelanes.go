package broker

import (
	"context"
	"sync"

	"golang.org/x/sync/semaphore"
)

// appendLanes run the partition appends of one ProduceStream. A partition
// always goes to the same lane (by a hash of its topic and id), and a lane
// runs its partitions in the order they were dispatched, so a partition's
// batches are appended in the order of the requests while other partitions
// append at the same time: their badger writes then share commits, and
// their checks (CRC, decoding) use every CPU.
//
// The receiving goroutine of the stream owns the lanes: acquire, dispatch
// and close are called from it only. Lanes start on first use and end at
// close, which waits for them; by then every dispatched partition was run,
// or abandoned if the stream's context ended first.
type appendLanes struct {
	ctx    context.Context
	s      *Server
	lanes  [produceStreamLanes]chan laneItem
	budget *semaphore.Weighted // record bytes received and not appended
	wg     sync.WaitGroup
}

// laneItem is partition i of pr.
type laneItem struct {
	pr *produced
	i  int
}

func newAppendLanes(ctx context.Context, s *Server) *appendLanes {
	return &appendLanes{ctx: ctx, s: s, budget: semaphore.NewWeighted(produceStreamAppendingBytes)}
}

// acquire waits until the stream's budget has room for the records of pr
// (all of the budget for a larger request, which then appends alone), and
// takes it; it returns false when the stream's context ended first.
func (l *appendLanes) acquire(pr *produced) bool {
	n := int64(1)
	for i := range pr.parts {
		n += int64(len(pr.parts[i].rp.GetRecords()))
	}
	pr.weight = min(n, produceStreamAppendingBytes)
	return l.budget.Acquire(l.ctx, pr.weight) == nil
}

// release gives back what acquire took for pr.
func (l *appendLanes) release(pr *produced) { l.budget.Release(pr.weight) }

// dispatch hands every partition of pr, which holds its budget, to its
// lane. pr.appended (made by the caller) is closed and the budget released
// once the last one is run; a request without partitions is done at once.
func (l *appendLanes) dispatch(pr *produced) {
	if len(pr.parts) == 0 {
		close(pr.appended)
		l.release(pr)
		return
	}
	parts := pr.parts // the answer's goroutine takes pr.parts once all are run
	pr.pending.Store(int32(len(parts)))
	for i := range parts {
		a := &parts[i]
		l.lane(a.topic.GetName(), a.rp.GetPartitionId()) <- laneItem{pr: pr, i: i}
	}
}

// lane returns the lane of a partition, starting it if needed.
func (l *appendLanes) lane(topic string, partition int32) chan<- laneItem {
	// FNV-1a of the topic name; consecutive partitions of a topic take
	// consecutive lanes.
	h := uint32(2166136261)
	for i := range len(topic) {
		h = (h ^ uint32(topic[i])) * 16777619
	}
	n := (h + uint32(partition)) % produceStreamLanes
	if l.lanes[n] == nil {
		ch := make(chan laneItem, produceStreamDepth)
		l.lanes[n] = ch
		l.wg.Go(func() { l.run(ch) })
	}
	return l.lanes[n]
}

func (l *appendLanes) run(ch <-chan laneItem) {
	for it := range ch {
		a := &it.pr.parts[it.i]
		if l.ctx.Err() != nil {
			a.abandon()
		} else {
			a.run(l.s)
		}
		if it.pr.pending.Add(-1) == 0 {
			close(it.pr.appended)
			l.release(it.pr)
		}
	}
}

// close stops the lanes once they have run what was dispatched, and waits
// for them.
func (l *appendLanes) close() {
	for _, ch := range l.lanes {
		if ch != nil {
			close(ch)
		}
	}
	l.wg.Wait()
}
