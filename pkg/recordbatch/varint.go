package recordbatch

import "math/bits"

// Kafka's varints are zig-zag encoded base-128 varints (protobuf's sint32
// and sint64): a "varint" field holds an int32 in at most 5 bytes, a
// "varlong" an int64 in at most 10. For values in int32's range both
// encodings are the same, so one encoder serves both.

// appendVarint appends the zig-zag varint encoding of v to b.
func appendVarint(b []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

// varintLen is the length of appendVarint's encoding of v.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	return (bits.Len64(u|1) + 6) / 7
}

// readVarint decodes a zig-zag varint (int32) from the start of b. n is the
// number of bytes read; 0 if b ends inside the varint; -1 if the varint is
// longer than 5 bytes or overflows 32 bits.
func readVarint(b []byte) (v int32, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		u := uint32(b[0])
		return int32(u>>1) ^ -int32(u&1), 1
	}
	var u uint32
	for i := 0; i < len(b); i++ {
		c := b[i]
		if i == 4 {
			if c > 0x0f {
				return 0, -1
			}
			u |= uint32(c) << 28
			return int32(u>>1) ^ -int32(u&1), 5
		}
		u |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int32(u>>1) ^ -int32(u&1), i + 1
		}
	}
	return 0, 0
}

// readVarlong decodes a zig-zag varlong (int64) from the start of b, as
// readVarint does, allowing 10 bytes and 64 bits.
func readVarlong(b []byte) (v int64, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		u := uint64(b[0])
		return int64(u>>1) ^ -int64(u&1), 1
	}
	var u uint64
	for i := 0; i < len(b); i++ {
		c := b[i]
		if i == 9 {
			if c > 0x01 {
				return 0, -1
			}
			u |= uint64(c) << 63
			return int64(u>>1) ^ -int64(u&1), 10
		}
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), i + 1
		}
	}
	return 0, 0
}
