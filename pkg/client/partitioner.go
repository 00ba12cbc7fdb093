package client

import "encoding/binary"

// Murmur2 is the 32-bit murmur2 hash as Kafka's Java client computes it
// (org.apache.kafka.common.utils.Utils.murmur2: seed 0x9747b28c, blocks
// read little-endian). Kafka's default partitioner puts a keyed record on
// partition KeyPartition(key, n), so that keys land on the same partitions
// with Strata's client as with Kafka's.
func Murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := binary.LittleEndian.Uint32(data[i:])
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// KeyPartition is the partition Kafka's default partitioner gives a record
// with a non-null key among n partitions: toPositive(murmur2(key)) % n,
// where toPositive clears the sign bit.
func KeyPartition(key []byte, n int) int32 {
	if n <= 0 {
		return 0
	}
	return int32(int(uint32(Murmur2(key))&0x7fffffff) % n)
}
