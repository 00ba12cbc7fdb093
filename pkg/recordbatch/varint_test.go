package recordbatch

import (
	"encoding/binary"
	"math"
	"testing"
)

func TestVarints(t *testing.T) {
	values := []int64{0, 1, -1, 63, -64, 64, -65, 8191, 8192, math.MaxInt32, math.MinInt32,
		math.MaxInt32 + 1, math.MinInt32 - 1, math.MaxInt64, math.MinInt64}
	for _, v := range values {
		b := appendVarint(nil, v)
		// The same bytes as protobuf's sint64, as encoding/binary writes it.
		if want := binary.AppendVarint(nil, v); string(b) != string(want) {
			t.Errorf("appendVarint(%d) = % x, want % x", v, b, want)
		}
		if varintLen(v) != len(b) {
			t.Errorf("varintLen(%d) = %d, want %d", v, varintLen(v), len(b))
		}
		if got, n := readVarlong(b); got != v || n != len(b) {
			t.Errorf("readVarlong(% x) = %d, %d; want %d", b, got, n, v)
		}
		if v >= math.MinInt32 && v <= math.MaxInt32 {
			if got, n := readVarint(b); int64(got) != v || n != len(b) {
				t.Errorf("readVarint(% x) = %d, %d; want %d", b, got, n, v)
			}
		} else if _, n := readVarint(b); n != -1 {
			t.Errorf("readVarint(% x) of %d: n = %d, want -1", b, v, n)
		}
		for i := range len(b) {
			if _, n := readVarlong(b[:i]); n != 0 {
				t.Errorf("readVarlong of %d bytes of % x: n = %d, want 0", i, b, n)
			}
		}
	}
	for _, bad := range [][]byte{
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x00},
		{0xff, 0xff, 0xff, 0xff, 0x10},
	} {
		if _, n := readVarint(bad); n != -1 {
			t.Errorf("readVarint(% x): n = %d, want -1", bad, n)
		}
	}
	if _, n := readVarlong([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}); n != -1 {
		t.Errorf("readVarlong of a 65-bit varint: n = %d, want -1", n)
	}
	// Non-minimal encodings are accepted, as Kafka accepts them.
	if v, n := readVarint([]byte{0x82, 0x00}); v != 1 || n != 2 {
		t.Errorf("readVarint(82 00) = %d, %d", v, n)
	}
}
