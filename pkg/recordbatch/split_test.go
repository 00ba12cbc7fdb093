package recordbatch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/strata-log/strata/pkg/recordbatch"
)

func concatBatches(t *testing.T) (buf []byte, batches [][]byte) {
	for i, c := range codecs {
		b := build(t, c, nil, kibRecords(i+1))
		recordbatch.SetBaseOffset(b, int64(10*i))
		batches = append(batches, b)
		buf = append(buf, b...)
	}
	return buf, batches
}

func TestAll(t *testing.T) {
	buf, want := concatBatches(t)
	var got [][]byte
	for b, err := range recordbatch.All(buf) {
		if err != nil {
			t.Fatal(err)
		}
		if err := recordbatch.Verify(b); err != nil {
			t.Fatalf("batch %d: %v", len(got), err)
		}
		if cap(b) != len(b) {
			t.Errorf("batch %d: cap %d > len %d", len(got), cap(b), len(b))
		}
		got = append(got, b)
	}
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("batch %d differs", i)
		}
	}

	for range recordbatch.All(nil) {
		t.Fatal("All(nil) yielded")
	}
	n := 0
	for range recordbatch.All(buf) {
		n++
		break
	}
	if n != 1 {
		t.Fatal("All went on after break")
	}
}

func TestAllTruncatedTail(t *testing.T) {
	buf, batches := concatBatches(t)
	firstTwo := len(batches[0]) + len(batches[1])
	// Cut the buffer at every byte of the third batch.
	for end := firstTwo + 1; end < firstTwo+len(batches[2]); end++ {
		var good int
		var last error
		for b, err := range recordbatch.All(buf[:end]) {
			if err != nil {
				if b != nil {
					t.Fatal("batch with an error")
				}
				last = err
				continue
			}
			if last != nil {
				t.Fatal("batch after an error")
			}
			good++
		}
		if good != 2 {
			t.Fatalf("end %d: %d good batches, want 2", end, good)
		}
		checkErrQuiet(t, last, fmt.Sprintf("batch truncated at byte %d", end))
	}
}

func checkErrQuiet(t *testing.T, err error, msg string) {
	t.Helper()
	if !errors.Is(err, recordbatch.ErrCorrupt) || !errors.Is(err, recordbatch.ErrTruncated) || err.Error() != msg {
		t.Fatalf("error %v, want ErrCorrupt, ErrTruncated and %q", err, msg)
	}
}

func TestCut(t *testing.T) {
	buf, batches := concatBatches(t)
	rest := buf
	for i, want := range batches {
		var b []byte
		var err error
		b, rest, err = recordbatch.Cut(rest)
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes left", len(rest))
	}

	// Appending to a cut batch does not touch the next one.
	b, rest, _ := recordbatch.Cut(buf)
	next := bytes.Clone(rest[:16])
	_ = append(b, 0xee)
	if !bytes.Equal(rest[:16], next) {
		t.Fatal("append to a cut batch overwrote the next batch")
	}

	// A bad length or magic in the second batch: ErrCorrupt, not truncated.
	second := len(batches[0])
	bad := bytes.Clone(buf)
	binary.BigEndian.PutUint32(bad[second+8:], 10)
	_, rest, _ = recordbatch.Cut(bad)
	if _, _, err := recordbatch.Cut(rest); !errors.Is(err, recordbatch.ErrCorrupt) || errors.Is(err, recordbatch.ErrTruncated) {
		t.Fatalf("Cut of a batch with length 10: %v", err)
	}
	var errs []error
	for _, err := range recordbatch.All(bad) {
		errs = append(errs, err)
	}
	if len(errs) != 2 || errs[0] != nil || !errors.Is(errs[1], recordbatch.ErrCorrupt) {
		t.Fatalf("All over a bad second batch: %v", errs)
	}
	bad = bytes.Clone(buf)
	bad[second+16] = 1
	_, rest, _ = recordbatch.Cut(bad)
	if _, _, err := recordbatch.Cut(rest[:20]); err == nil || err.Error() != "unsupported record batch magic 1 (want 2)" {
		t.Fatalf("Cut of a magic 1 batch: %v", err)
	}
	if _, _, err := recordbatch.Cut(buf[:11]); err == nil {
		t.Fatal("Cut of 11 bytes succeeded")
	} else {
		checkErrQuiet(t, err, "batch truncated at byte 11")
	}
}
