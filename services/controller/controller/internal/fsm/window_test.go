package fsm

import (
	"testing"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// noOps are n records with offsets from, from+1, ...
func noOps(from int64, n int) []*stratav1.MetadataRecord {
	out := make([]*stratav1.MetadataRecord, n)
	for i := range out {
		out[i] = &stratav1.MetadataRecord{Offset: from + int64(i), Record: &stratav1.MetadataRecord_NoOp{NoOp: &stratav1.NoOpRecord{}}}
	}
	return out
}

func offsets(recs []*stratav1.MetadataRecord) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.GetOffset()
	}
	return out
}

func TestWindowEmpty(t *testing.T) {
	var w *Window
	if w.First() != 0 || w.Last() != 0 {
		t.Errorf("nil window %d..%d", w.First(), w.Last())
	}
	for _, off := range []int64{-1, 0, 5} {
		if recs, ok := w.After(off, 10); ok || recs != nil {
			t.Errorf("nil window After(%d) = %v, %v", off, recs, ok)
		}
	}
	if w.append(nil, 4) != nil {
		t.Error("appending nothing to nil made a window")
	}
	empty := &Window{}
	if _, ok := empty.After(0, 10); ok || empty.First() != 0 || empty.Last() != 0 {
		t.Error("empty window")
	}
}

func TestWindowAfter(t *testing.T) {
	w := (*Window)(nil).append(noOps(5, 5), 100) // 5..9
	if w.First() != 5 || w.Last() != 9 {
		t.Fatalf("window %d..%d", w.First(), w.Last())
	}
	tests := []struct {
		offset int64
		max    int
		want   []int64
		ok     bool
	}{
		{offset: 4, max: 100, want: []int64{5, 6, 7, 8, 9}, ok: true},
		{offset: 4, max: 2, want: []int64{5, 6}, ok: true},
		{offset: 6, max: 2, want: []int64{7, 8}, ok: true},
		{offset: 8, max: 100, want: []int64{9}, ok: true},
		{offset: 4, max: 0, want: []int64{}, ok: true},
		// Up to date, or ahead: nothing to send, nothing missing.
		{offset: 9, max: 10, ok: true},
		{offset: 12, max: 10, ok: true},
		// offset+1 was dropped (or never held): the watcher needs the
		// image.
		{offset: 3, max: 10, ok: false},
		{offset: 0, max: 10, ok: false},
		{offset: -1, max: 10, ok: false},
	}
	for _, tt := range tests {
		recs, ok := w.After(tt.offset, tt.max)
		if ok != tt.ok || len(recs) != len(tt.want) {
			t.Errorf("After(%d, %d) = %v, %v; want %v, %v", tt.offset, tt.max, offsets(recs), ok, tt.want, tt.ok)
			continue
		}
		for i := range recs {
			if recs[i].GetOffset() != tt.want[i] {
				t.Errorf("After(%d, %d) = %v; want %v", tt.offset, tt.max, offsets(recs), tt.want)
				break
			}
		}
		// A caller appending to the slice must not write into the window.
		if cap(recs) != len(recs) {
			t.Errorf("After(%d, %d): capacity %d beyond length %d", tt.offset, tt.max, cap(recs), len(recs))
		}
	}
}

// Windows are immutable: a published window reads the same after later
// appends, which may share its backing array.
func TestWindowImmutable(t *testing.T) {
	w1 := (*Window)(nil).append(noOps(1, 3), 100)
	before, _ := w1.After(0, 100)
	snapshot := offsets(before)
	w2 := w1.append(noOps(4, 2), 100)
	w3 := w2.append(noOps(6, 50), 100)
	after, _ := w1.After(0, 100)
	if w1.First() != 1 || w1.Last() != 3 || len(after) != 3 {
		t.Fatalf("w1 is %d..%d after later appends", w1.First(), w1.Last())
	}
	for i, r := range after {
		if r.GetOffset() != snapshot[i] || r != before[i] {
			t.Errorf("w1 record %d changed", i)
		}
	}
	if w2.Last() != 5 || w3.Last() != 55 || w3.First() != 1 {
		t.Errorf("w2 %d..%d, w3 %d..%d", w2.First(), w2.Last(), w3.First(), w3.Last())
	}
	// Appending nothing keeps the window.
	if w3.append(nil, 100) != w3 {
		t.Error("appending nothing made a new window")
	}
}

func TestWindowTrim(t *testing.T) {
	const limit = 8
	var w *Window
	for i := int64(1); i <= 100; i++ {
		w = w.append(noOps(i, 1), limit)
		held := w.Last() - w.First() + 1
		if w.Last() != i || held > limit+limit/2 || held < min(i, limit) || int64(len(w.records)) != held {
			t.Fatalf("after %d: window %d..%d holding %d", i, w.First(), w.Last(), len(w.records))
		}
		// Once trimmed, the dropped head is no longer referenced.
		if cap(w.records) > 4*limit {
			t.Fatalf("after %d: capacity %d", i, cap(w.records))
		}
		recs, ok := w.After(i-min(i, limit), limit)
		if !ok || int64(len(recs)) != min(i, limit) || recs[len(recs)-1].GetOffset() != i {
			t.Fatalf("after %d: the last %d records are not all there: %v %v", i, limit, offsets(recs), ok)
		}
		if i > limit+limit/2 {
			if _, ok := w.After(i-limit-limit/2-1, limit); ok {
				t.Fatalf("after %d: holds more than %d records", i, limit+limit/2)
			}
		}
	}
	// One append larger than the limit keeps exactly the newest.
	w = w.append(noOps(101, 3*limit), limit)
	if w.First() != 101+3*limit-limit || w.Last() != 100+3*limit || len(w.records) != limit {
		t.Errorf("after a large append: %d..%d holding %d", w.First(), w.Last(), len(w.records))
	}
	// A limit of 1.
	var one *Window
	for i := int64(1); i <= 5; i++ {
		one = one.append(noOps(i, 1), 1)
		if one.First() != i || one.Last() != i {
			t.Errorf("limit 1 after %d: %d..%d", i, one.First(), one.Last())
		}
	}
}
