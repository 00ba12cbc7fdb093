package partlog

import "slices"

// EpochEntry is one entry of a log's leader-epoch history: the first offset
// written in a leader epoch.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochHistory is a leader-epoch history as Kafka's LeaderEpochFileCache
// keeps it: entries ascending in both epoch and start offset. Its methods are
// pure and never modify the receiver's backing array (readers may hold it).
type epochHistory []EpochEntry

// latest returns the latest epoch, or -1 for an empty history.
func (h epochHistory) latest() int32 {
	if len(h) == 0 {
		return -1
	}
	return h[len(h)-1].Epoch
}

// assign adds e as Kafka's LeaderEpochFileCache.assign does: nothing when e
// continues the latest epoch; otherwise e is appended after removing the
// entries it conflicts with (an epoch >= e.Epoch or a start offset >=
// e.StartOffset, such as an epoch assigned at the log end and never written
// in). Callers have checked that e.Epoch is not older than the latest.
func (h epochHistory) assign(e EpochEntry) (out epochHistory, removed []EpochEntry, changed bool) {
	if n := len(h); n > 0 && h[n-1].Epoch == e.Epoch && h[n-1].StartOffset <= e.StartOffset {
		return h, nil, false
	}
	i := len(h)
	for i > 0 && (h[i-1].Epoch >= e.Epoch || h[i-1].StartOffset >= e.StartOffset) {
		i--
	}
	out = append(slices.Clip(h[:i:i]), e)
	return out, slices.Clone(h[i:]), true
}

// endOffsetFor answers OffsetForLeaderEpoch as Kafka's
// LeaderEpochFileCache.endOffsetFor: the largest epoch <= epoch and the start
// offset of the first greater epoch, or leo when epoch is the latest; -1, -1
// for an undefined epoch or one above the latest; when epoch is below the
// earliest known epoch, epoch itself and the earliest start offset.
func (h epochHistory) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	if epoch < 0 {
		return -1, -1
	}
	if len(h) > 0 && h.latest() == epoch {
		return epoch, leo
	}
	// higher: the first entry with an epoch > epoch.
	higher, _ := slices.BinarySearchFunc(h, epoch+1, func(e EpochEntry, t int32) int {
		switch {
		case e.Epoch < t:
			return -1
		case e.Epoch > t:
			return 1
		}
		return 0
	})
	if higher == len(h) {
		return -1, -1
	}
	if higher == 0 {
		return epoch, h[0].StartOffset
	}
	return h[higher-1].Epoch, h[higher].StartOffset
}

// truncateFromEnd removes the entries that start at or after end, as after a
// truncation of the log to end.
func (h epochHistory) truncateFromEnd(end int64) (out epochHistory, removed []EpochEntry) {
	i := len(h)
	for i > 0 && h[i-1].StartOffset >= end {
		i--
	}
	return h[:i:i], slices.Clone(h[i:])
}

// truncateFromStart drops the entries that start at or before start and puts
// back the last of them starting at start, as Kafka does when the log start
// offset advances: the epoch that covers start stays known.
func (h epochHistory) truncateFromStart(start int64) (out epochHistory, removed []EpochEntry, first *EpochEntry) {
	i := 0
	for i < len(h) && h[i].StartOffset <= start {
		i++
	}
	if i == 0 {
		return h, nil, nil
	}
	e := EpochEntry{Epoch: h[i-1].Epoch, StartOffset: start}
	out = append(epochHistory{e}, h[i:]...)
	return out, slices.Clone(h[:i]), &e
}
