// Package recordbatch implements Strata's record batch: the unit in which
// producers send records, brokers store and replicate them, and consumers
// fetch them. The format is Kafka's record batch v2 (magic 2), byte for
// byte, so that Kafka's tools and clients recognise it.
//
// # Layout
//
// All integers are big-endian. A batch is a 61-byte header and the records:
//
//	offset  field                 type    notes
//	     0  baseOffset            int64   set by the broker
//	     8  batchLength           int32   bytes after this field to the end
//	    12  partitionLeaderEpoch  int32   set by the broker
//	    16  magic                 int8    2
//	    17  crc                   uint32  CRC32C (Castagnoli) of bytes 21..end
//	    21  attributes            int16   bits 0-2 codec (0 none, 1 gzip,
//	                                      2 snappy, 3 lz4, 4 zstd);
//	                                      bit 3 LogAppendTime; bit 4
//	                                      transactional; bit 5 control
//	    23  lastOffsetDelta       int32
//	    27  baseTimestamp         int64   ms; the first record's
//	    35  maxTimestamp          int64   ms; the largest record's
//	    43  producerId            int64   -1: none
//	    51  producerEpoch         int16
//	    53  baseSequence          int32
//	    57  recordCount           int32
//	    61  records                       compressed as a whole unless codec 0
//
// A record is a sequence of zig-zag varints (varint: int32, at most 5 bytes;
// varlong: int64, at most 10) and bytes:
//
//	length varint (of the rest of the record) | attributes int8 (unused) |
//	timestampDelta varlong | offsetDelta varint |
//	keyLength varint (-1: null) | key | valueLength varint (-1: null) | value |
//	headerCount varint | headers: keyLength varint | key |
//	                              valueLength varint (-1: null) | value
//
// A record's timestamp is baseTimestamp+timestampDelta (maxTimestamp for
// every record in a LogAppendTime batch); its offset is
// baseOffset+offsetDelta.
//
// # Contract
//
// Producers build batches with a Builder, which writes baseOffset 0 and
// partitionLeaderEpoch -1. As baseOffset and partitionLeaderEpoch come
// before the crc field, the CRC does not cover them: the broker assigns
// them in place with SetBaseOffset and SetLeaderEpoch and the batch stays
// valid. Everything from the attributes on is the producer's, and the broker
// never re-encodes it.
//
// Verify is the broker's cheap check of a produced batch: the header's
// length and magic, the CRC, a known codec, and a record count that is
// positive and matches lastOffsetDelta. It neither allocates nor
// decompresses. CheckClient adds the checks on a client's batch: no control
// batch, and no negative base sequence with a producer id. Cut and All split
// the batches that a produce request, a fetch response or a log segment holds
// back to back, reporting a truncated tail.
//
// A Decoder decodes the records of a batch, checking every varint and length
// against the bytes that hold it, the records against recordCount and the
// offset deltas. It decompresses with a limit (MaxDecompressedSize): it reads
// the decompressor's output a bounded chunk at a time and stops as soon as
// the output passes the limit, so a decompression bomb costs at most the
// limit in memory, never what its headers claim. Decoded keys and values
// alias the batch or the Decoder's buffer.
//
// # Errors
//
// Bad input yields errors that match ErrCorrupt (CORRUPT_MESSAGE) or
// ErrInvalidRecord (INVALID_RECORD) with errors.Is, and whose text is Kafka's
// message where Kafka has one, without the " in topic partition T-0" suffix
// that the broker adds.
package recordbatch
