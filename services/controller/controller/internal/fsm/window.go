package fsm

import (
	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// Window is a bounded run of the most recent records, for watchers that are
// close behind. A Window value is immutable: append returns a new one that
// may share the backing array, which is safe because published elements are
// never written again.
type Window struct {
	// first is the offset of records[0]; records are consecutive.
	first   int64
	records []*stratav1.MetadataRecord
}

// First is the offset of the oldest record held, or 0 when empty.
func (w *Window) First() int64 {
	if w == nil || len(w.records) == 0 {
		return 0
	}
	return w.first
}

// Last is the offset of the newest record held, or 0 when empty.
func (w *Window) Last() int64 {
	if w == nil || len(w.records) == 0 {
		return 0
	}
	return w.first + int64(len(w.records)) - 1
}

// After returns up to max records after offset. ok is false when the window
// does not hold offset+1 (it is empty, or that record was dropped); a
// watcher behind the image then needs the image instead.
func (w *Window) After(offset int64, max int) (recs []*stratav1.MetadataRecord, ok bool) {
	if w == nil || len(w.records) == 0 || offset+1 < w.first {
		return nil, false
	}
	if offset >= w.Last() || max <= 0 {
		return nil, true
	}
	from := int(offset + 1 - w.first)
	to := min(len(w.records), from+max)
	return w.records[from:to:to], true
}

// append adds records (consecutive, after Last) and drops the oldest beyond
// limit.
func (w *Window) append(recs []*stratav1.MetadataRecord, limit int) *Window {
	if len(recs) == 0 {
		return w
	}
	var nw Window
	if w == nil || len(w.records) == 0 {
		nw.first = recs[0].GetOffset()
		nw.records = append([]*stratav1.MetadataRecord(nil), recs...)
	} else {
		nw.first = w.first
		nw.records = append(w.records, recs...)
	}
	if drop := len(nw.records) - limit; drop > 0 {
		// Copy the tail to a new array so the dropped head can be freed,
		// and do it only once the head is large, to keep appends cheap.
		if drop >= limit/2 || cap(nw.records) > 4*limit {
			kept := make([]*stratav1.MetadataRecord, limit, limit+limit/2)
			copy(kept, nw.records[drop:])
			nw.records = kept
			nw.first += int64(drop)
		}
	}
	return &nw
}
