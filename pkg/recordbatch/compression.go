package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression is a record batch compression codec: the value of bits 0-2 of
// the batch attributes.
type Compression int8

// The codecs, with Kafka's ids.
const (
	None   Compression = 0
	Gzip   Compression = 1
	Snappy Compression = 2
	LZ4    Compression = 3
	Zstd   Compression = 4
)

var compressionNames = [...]string{"none", "gzip", "snappy", "lz4", "zstd"}

// String returns the codec's name as Kafka's compression.type spells it
// ("none", "gzip", "snappy", "lz4", "zstd"), or "Compression(N)" for an
// unknown id.
func (c Compression) String() string {
	if c.valid() {
		return compressionNames[c]
	}
	return fmt.Sprintf("Compression(%d)", int8(c))
}

func (c Compression) valid() bool { return c >= None && c <= Zstd }

// ParseCompression parses a codec name as String returns it, ignoring case,
// for command-line flags and configuration.
func ParseCompression(s string) (Compression, error) {
	for i, name := range compressionNames {
		if strings.EqualFold(s, name) {
			return Compression(i), nil
		}
	}
	return None, fmt.Errorf("unknown compression %q (want none, gzip, snappy, lz4 or zstd)", s)
}

// appendWriter is an io.Writer that appends to b; compressors write into it
// so that their output lands directly in the caller's buffer.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// Compressors. Each pooled value owns the appendWriter its compressor writes
// to, so that a pooled compressor holds no reference to a caller's buffer.
type gzipEncoder struct {
	w  appendWriter
	zw *gzip.Writer
}

type lz4Encoder struct {
	w  appendWriter
	zw *lz4.Writer
}

var (
	gzipEncoders = sync.Pool{New: func() any {
		e := new(gzipEncoder)
		// gzip.DefaultCompression is level 6, as Kafka's producer uses.
		e.zw, _ = gzip.NewWriterLevel(&e.w, gzip.DefaultCompression)
		return e
	}}
	lz4Encoders = sync.Pool{New: func() any {
		e := new(lz4Encoder)
		e.zw = lz4.NewWriter(&e.w)
		// 64 KiB blocks, as Kafka's producer writes: the 4 MiB default costs
		// 4 MiB of buffer per batch, whatever its size.
		_ = e.zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ConcurrencyOption(1))
		return e
	}}
	// zstdEncoder is shared: EncodeAll may be called concurrently and keeps
	// its own set of GOMAXPROCS internal encoders.
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			panic("recordbatch: creating the zstd encoder: " + err.Error())
		}
		return e
	})
)

// compress appends the compressed form of src to dst.
func compress(c Compression, dst, src []byte) ([]byte, error) {
	switch c {
	case None:
		return append(dst, src...), nil
	case Gzip:
		e := gzipEncoders.Get().(*gzipEncoder)
		e.w.b = dst
		e.zw.Reset(&e.w)
		_, err := e.zw.Write(src)
		if err == nil {
			err = e.zw.Close()
		}
		dst, e.w.b = e.w.b, nil
		gzipEncoders.Put(e)
		return dst, err
	case Snappy:
		// A plain Snappy block, as librdkafka, Sarama and franz-go write it;
		// Kafka's Java consumer reads it as well as the xerial framing its
		// producer writes, and so does decompress.
		n := snappy.MaxEncodedLen(len(src))
		if n < 0 {
			return dst, errors.New("recordbatch: records too large for snappy")
		}
		start := len(dst)
		dst = grow(dst, n)
		enc := snappy.Encode(dst[start:start+n], src)
		return dst[:start+len(enc)], nil
	case LZ4:
		e := lz4Encoders.Get().(*lz4Encoder)
		e.w.b = dst
		e.zw.Reset(&e.w)
		_, err := e.zw.Write(src)
		if err == nil {
			err = e.zw.Close()
		}
		dst, e.w.b = e.w.b, nil
		lz4Encoders.Put(e)
		return dst, err
	case Zstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("recordbatch: unknown compression codec %d", int8(c))
}

// grow returns b with room for n more bytes after len(b).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+max(n, len(b)))
	copy(nb, b)
	return nb
}

// Decompressors, pooled with the bytes.Reader they read from.
type gzipDecoder struct {
	br bytes.Reader
	zr gzip.Reader
}

type lz4Decoder struct {
	br bytes.Reader
	zr *lz4.Reader
}

type zstdDecoder struct {
	br bytes.Reader
	zr *zstd.Decoder
}

// zstdMaxWindow bounds the window a zstd frame may ask for. The streaming
// decoder allocates the window up front, whatever the data that follows, so
// the frame header alone could otherwise cost up to 512 MiB. 8 MiB is the
// largest window klauspost's encoder uses and what zstd (and so Kafka's Java
// producer) uses up to level 19 for streams.
const zstdMaxWindow = 8 << 20

var (
	gzipDecoders = sync.Pool{New: func() any { return new(gzipDecoder) }}
	lz4Decoders  = sync.Pool{New: func() any {
		d := &lz4Decoder{zr: lz4.NewReader(nil)}
		_ = d.zr.Apply(lz4.ConcurrencyOption(1))
		return d
	}}
	zstdDecoders = sync.Pool{New: func() any {
		// Concurrency 1 decodes synchronously: no goroutines, so a decoder
		// dropped by the pool needs no Close. Buffers-below 0 stops the
		// decoder from decoding a whole in-memory input at once without our
		// limit.
		zr, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecodeBuffersBelow(0))
		if err != nil {
			panic("recordbatch: creating a zstd decoder: " + err.Error())
		}
		return &zstdDecoder{zr: zr}
	}}
)

// decompress decompresses src, the records section of a batch compressed
// with c, into dst[:0] and returns the result. It never holds more than
// limit+1 bytes of output, nor allocates more than that for it, whatever
// the compressed data claims: data that inflates past limit bytes is
// rejected with ErrCorrupt.
func decompress(c Compression, dst, src []byte, limit int) ([]byte, error) {
	dst = dst[:0]
	var err error
	switch c {
	case Gzip:
		d := gzipDecoders.Get().(*gzipDecoder)
		d.br.Reset(src)
		if err = d.zr.Reset(&d.br); err == nil {
			dst, err = readLimited(&d.zr, dst, limit, len(src))
		}
		d.br.Reset(nil)
		gzipDecoders.Put(d)
	case Snappy:
		dst, err = decodeSnappy(dst, src, limit)
	case LZ4:
		d := lz4Decoders.Get().(*lz4Decoder)
		d.br.Reset(src)
		d.zr.Reset(&d.br)
		dst, err = readLimited(d.zr, dst, limit, len(src))
		d.zr.Reset(nil)
		d.br.Reset(nil)
		lz4Decoders.Put(d)
	case Zstd:
		d := zstdDecoders.Get().(*zstdDecoder)
		d.br.Reset(src)
		if err = d.zr.Reset(&d.br); err == nil {
			dst, err = readLimited(d.zr, dst, limit, len(src))
		}
		_ = d.zr.Reset(nil)
		d.br.Reset(nil)
		zstdDecoders.Put(d)
	default:
		return dst, corruptf("unknown compression codec %d", int8(c))
	}
	if err != nil {
		var be *batchError
		if errors.As(err, &be) {
			return dst, err
		}
		return dst, &batchError{msg: fmt.Sprintf("invalid %s data: %v", c, err), kind: ErrCorrupt, detail: err}
	}
	return dst, nil
}

func errTooLarge(limit int) error {
	return corruptf("decompressed size exceeds %d bytes", limit)
}

// readLimited reads r to EOF into dst, failing as soon as more than limit
// bytes come out. The buffer grows geometrically from a guess based on the
// compressed size, and never past limit+1 bytes.
func readLimited(r io.Reader, dst []byte, limit, srcLen int) ([]byte, error) {
	if cap(dst) == 0 {
		dst = make([]byte, 0, min(limit+1, max(4*srcLen, 4096)))
	}
	for empty := 0; ; {
		if len(dst) == cap(dst) {
			if len(dst) > limit {
				return dst, errTooLarge(limit)
			}
			nb := make([]byte, len(dst), min(limit+1, max(2*cap(dst), 4096)))
			copy(nb, dst)
			dst = nb
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		if n == 0 && err == nil {
			if empty++; empty > 100 {
				return dst, io.ErrNoProgress
			}
		} else {
			empty = 0
		}
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, errTooLarge(limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// xerialMagic starts the framing that Kafka's Java producer (through
// snappy-java's SnappyOutputStream) writes around Snappy blocks: the magic,
// then a version and a minimum compatible version (4 bytes each), then
// blocks, each a 4-byte big-endian length and a Snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

// decodeSnappy decodes a plain Snappy block or xerial-framed blocks into
// dst[:0]. It checks each block's declared length against limit before
// allocating for it.
func decodeSnappy(dst, src []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return decodeSnappyBlock(dst, src, limit)
	}
	if len(src) < xerialHeaderLen {
		return dst, corruptf("invalid snappy data: xerial header truncated")
	}
	for p := xerialHeaderLen; p < len(src); {
		if len(src)-p < 4 {
			return dst, corruptf("invalid snappy data: xerial block length truncated")
		}
		n := int(binary.BigEndian.Uint32(src[p:]))
		p += 4
		if n > len(src)-p {
			return dst, corruptf("invalid snappy data: xerial block of %d bytes past the end", n)
		}
		var err error
		if dst, err = decodeSnappyBlock(dst, src[p:p+n], limit); err != nil {
			return dst, err
		}
		p += n
	}
	return dst, nil
}

// decodeSnappyBlock appends the decoding of one Snappy block to dst.
func decodeSnappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return dst, err
	}
	if n > limit-len(dst) {
		return dst, errTooLarge(limit)
	}
	// A standard Snappy element of k bytes produces at most 64/3*k bytes
	// (a 3-byte copy of 64 bytes), so a block that claims more than 22
	// times its size is not one a Snappy encoder wrote; refusing it early
	// keeps a 30-byte block from making us allocate the whole limit. The
	// decoder checks that the output is exactly the claimed size.
	if n > 22*len(block) {
		return dst, corruptf("invalid snappy data: block of %d bytes claims %d decoded bytes", len(block), n)
	}
	start := len(dst)
	if cap(dst)-start < n {
		// Grow geometrically for xerial's many blocks, but not past limit.
		nd := make([]byte, start, min(max(start+n, 2*cap(dst)), limit))
		copy(nd, dst)
		dst = nd
	}
	// Decode (rather than DecodeStrict) also accepts S2's repeat-offset
	// extension, which no Kafka client writes; it is twice as fast.
	out, err := snappy.Decode(dst[start:start+n], block)
	if err != nil {
		return dst[:start], err
	}
	if len(out) != n {
		return dst[:start], snappy.ErrCorrupt
	}
	dst = dst[:start+n]
	if n > 0 && &out[0] != &dst[start] {
		// Decode decodes in place when dst is large enough, as here; stay
		// correct should that change.
		copy(dst[start:], out)
	}
	return dst, nil
}
