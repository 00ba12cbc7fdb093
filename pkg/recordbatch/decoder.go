package recordbatch

import "strconv"

// DefaultMaxDecompressedSize is the limit on the decompressed size of a
// batch's records that a Decoder with MaxDecompressedSize 0 applies.
const DefaultMaxDecompressedSize = 64 << 20

// minRecordSize is the size of the smallest record: a 1-byte length and
// six 1-byte fields (attributes, timestamp delta, offset delta, key length,
// value length, header count).
const minRecordSize = 7

// Decoder decodes the records of batches. It keeps its decompression buffer
// and header storage across calls, so a Decoder reused for many batches
// allocates little; it is not safe for concurrent use. The zero Decoder is
// ready to use.
type Decoder struct {
	// MaxDecompressedSize bounds the decompressed size of the records of
	// a compressed batch: the memory a decompression bomb can make the
	// Decoder use. 0 means DefaultMaxDecompressedSize.
	MaxDecompressedSize int

	buf  []byte   // decompressed records
	hdrs []Header // the headers of all records of the last batch
}

// Decode checks the batch as a consumer would and appends its records to
// dst. The batch must be exactly one batch (see Cut). Decode checks:
//
//   - what Verify checks, except that it accepts fewer records than the
//     offset range holds, as in a batch a log compaction thinned;
//   - the decompressed size against MaxDecompressedSize, without ever
//     allocating more than that for the decompressed records;
//   - every varint and length against the bytes that hold it;
//   - the number of records against recordCount, and that no bytes follow
//     the last record;
//   - that offset deltas increase and do not pass lastOffsetDelta (so in a
//     batch that Verify accepts they are 0, 1, ..., recordCount-1).
//
// Errors match ErrCorrupt or ErrInvalidRecord; on error, dst is returned
// with no records added.
//
// The records' keys, values and header values are not copied: they alias
// batch or, for a compressed batch, the Decoder's buffer, and the Headers
// slices alias the Decoder's storage. They stay valid until the next call
// to Decode on d or a change to batch; copy what must outlive that. Header
// keys are strings of their own.
func (d *Decoder) Decode(dst []Record, batch []byte) ([]Record, error) {
	h, err := verify(batch, false)
	if err != nil {
		return dst, err
	}
	recs := batch[HeaderSize:]
	compressed := h.Compression() != None
	if compressed {
		limit := d.MaxDecompressedSize
		if limit <= 0 {
			limit = DefaultMaxDecompressedSize
		}
		d.buf, err = decompress(h.Compression(), d.buf, recs, limit)
		if err != nil {
			return dst, err
		}
		recs = d.buf
	}
	p := records{
		b:             recs,
		compressed:    compressed,
		logAppendTime: h.LogAppendTime(),
		baseTimestamp: h.BaseTimestamp,
		maxTimestamp:  h.MaxTimestamp,
	}
	d.hdrs = d.hdrs[:0]
	n := int(h.RecordCount)
	orig, start := dst, len(dst)
	fail := func(err error) ([]Record, error) {
		clear(dst[start:]) // drop references into this batch
		return orig, err
	}
	// Never trust recordCount to allocate: every record takes 7 bytes.
	if want := min(n, len(recs)/minRecordSize); cap(dst)-len(dst) < want {
		nd := make([]Record, len(dst), len(dst)+want)
		copy(nd, dst)
		dst = nd
	}
	prevDelta := int32(-1)
	for i := 0; i < n; i++ {
		var r Record
		if r, d.hdrs, err = p.next(d.hdrs); err != nil {
			return fail(err)
		}
		if r.OffsetDelta <= prevDelta || r.OffsetDelta > h.LastOffsetDelta {
			return fail(invalidf("record %d has offset delta %d, out of order after %d or past lastOffsetDelta %d", i, r.OffsetDelta, prevDelta, h.LastOffsetDelta))
		}
		prevDelta = r.OffsetDelta
		dst = append(dst, r)
	}
	if p.pos != len(recs) {
		return fail(invalidf("Incorrect declared batch size, records still remaining in file"))
	}
	return dst, nil
}

// records reads records from a records section.
type records struct {
	b          []byte
	pos        int
	compressed bool // positions are in decompressed bytes

	logAppendTime               bool
	baseTimestamp, maxTimestamp int64
}

// truncated reports that the records ran out at position pos.
func (p *records) truncated(pos int) error {
	if p.compressed {
		return truncatedInflated(pos)
	}
	return truncatedAt(HeaderSize + pos)
}

// at converts a position in the records to the one reported in errors.
func (p *records) at(pos int) string {
	if p.compressed {
		return "decompressed byte " + strconv.Itoa(pos)
	}
	return "byte " + strconv.Itoa(HeaderSize+pos)
}

// next decodes the record at p.pos and moves past it, appending its
// headers to hdrs.
func (p *records) next(hdrs []Header) (Record, []Header, error) {
	var r Record
	b := p.b
	start := p.pos
	if start >= len(b) {
		return r, hdrs, p.truncated(start)
	}
	length, n := readVarint(b[start:])
	if n <= 0 {
		return r, hdrs, p.varintError(start, n)
	}
	bodyStart := start + n
	if length < minRecordSize-1 {
		return r, hdrs, corruptf("invalid record length %d at %s", length, p.at(start))
	}
	if int(length) > len(b)-bodyStart {
		return r, hdrs, p.truncated(len(b))
	}
	end := bodyStart + int(length)
	body := b[:end]    // fields may not run past the record's end
	q := bodyStart + 1 // skip the record attributes, unused

	tsDelta, n := readVarlong(body[q:])
	if n <= 0 {
		return r, hdrs, p.fieldError(start, q, n)
	}
	q += n
	offDelta, n := readVarint(body[q:])
	if n <= 0 {
		return r, hdrs, p.fieldError(start, q, n)
	}
	q += n
	var err error
	if r.Key, q, err = p.bytesField(body, start, q, "key"); err != nil {
		return r, hdrs, err
	}
	if r.Value, q, err = p.bytesField(body, start, q, "value"); err != nil {
		return r, hdrs, err
	}
	count, n := readVarint(body[q:])
	if n <= 0 {
		return r, hdrs, p.fieldError(start, q, n)
	}
	q += n
	// Every header takes at least 2 bytes: check before growing hdrs.
	if count < 0 || int(count) > (end-q)/2 {
		return r, hdrs, corruptf("invalid header count %d in record at %s", count, p.at(start))
	}
	if count > 0 {
		first := len(hdrs)
		for range count {
			kl, n := readVarint(body[q:])
			if n <= 0 {
				return r, hdrs[:first], p.fieldError(start, q, n)
			}
			q += n
			if kl < 0 || int(kl) > end-q {
				return r, hdrs[:first], corruptf("invalid header key length %d in record at %s", kl, p.at(start))
			}
			key := string(body[q : q+int(kl)])
			q += int(kl)
			var val []byte
			if val, q, err = p.bytesField(body, start, q, "header value"); err != nil {
				return r, hdrs[:first], err
			}
			hdrs = append(hdrs, Header{Key: key, Value: val})
		}
		r.Headers = hdrs[first:len(hdrs):len(hdrs)]
	}
	if q != end {
		return r, hdrs, corruptf("record at %s has length %d but its fields take %d bytes", p.at(start), length, q-bodyStart)
	}
	if p.logAppendTime {
		r.Timestamp = p.maxTimestamp
	} else {
		r.Timestamp = p.baseTimestamp + tsDelta
	}
	r.OffsetDelta = offDelta
	p.pos = end
	return r, hdrs, nil
}

// bytesField reads a nullable byte string at q in the record that starts
// at start and ends at len(body).
func (p *records) bytesField(body []byte, start, q int, what string) ([]byte, int, error) {
	l, n := readVarint(body[q:])
	if n <= 0 {
		return nil, q, p.fieldError(start, q, n)
	}
	q += n
	if l == -1 {
		return nil, q, nil
	}
	if l < -1 || int(l) > len(body)-q {
		return nil, q, corruptf("invalid %s length %d in record at %s", what, l, p.at(start))
	}
	return body[q : q+int(l) : q+int(l)], q + int(l), nil
}

// varintError reports a varint at pos that ran out (n == 0) or is invalid.
func (p *records) varintError(pos, n int) error {
	if n == 0 {
		return p.truncated(len(p.b))
	}
	return corruptf("invalid varint at %s", p.at(pos))
}

// fieldError reports a varint field at q of the record at start that ran
// past the record's end (n == 0) or is invalid.
func (p *records) fieldError(start, q, n int) error {
	if n == 0 {
		return corruptf("record at %s runs past its length", p.at(start))
	}
	return corruptf("invalid varint at %s", p.at(q))
}
