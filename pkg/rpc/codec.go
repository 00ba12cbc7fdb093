package rpc

import (
	"fmt"
	"math/bits"
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// codec is the protobuf codec of Strata's servers and clients (set by
// ServerOptions and DialOptions): gRPC's own encoding, with a buffer pool
// sized for large messages.
//
// gRPC's default pool has buffers of 256 B, 4 KiB, 16 KiB, 32 KiB and 1 MiB
// and zeroes the whole buffer it hands out. A message of more than 16 KiB
// arrives in several HTTP/2 frames and is copied into one buffer to be
// decoded, and a message sent is encoded into one: a 64 KiB produce request
// took a 1 MiB buffer and cleared all of it, once when the client encoded it
// and once when the broker decoded it. This pool has a size class for
// every power of two from 4 KiB to 64 MiB and does not clear: the codec
// overwrites every byte of the length it takes.
var codec encoding.CodecV2 = protoCodec{}

// protoCodec implements encoding.CodecV2 with the message buffers in
// messagePool.
type protoCodec struct{}

// Name is the codec's content-subtype: the one of gRPC's proto codec, so
// that peers with gRPC's defaults understand it.
func (protoCodec) Name() string { return "proto" }

func (protoCodec) Marshal(v any) (mem.BufferSlice, error) {
	m := messageOf(v)
	if m == nil {
		return nil, fmt.Errorf("rpc: cannot marshal %T: not a protobuf message", v)
	}
	size := proto.Size(m)
	// UseCachedSize reuses the sizes proto.Size just computed.
	opts := proto.MarshalOptions{UseCachedSize: true}
	if mem.IsBelowBufferPoolingThreshold(size) {
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("rpc: marshal %T: %w", v, err)
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := messagePool.Get(size)
	out, err := opts.MarshalAppend((*buf)[:0], m)
	if err != nil || len(out) != size {
		messagePool.Put(buf)
		if err == nil {
			err = fmt.Errorf("encoded %d bytes instead of %d: the message changed while it was sent", len(out), size)
		}
		return nil, fmt.Errorf("rpc: marshal %T: %w", v, err)
	}
	return mem.BufferSlice{mem.NewBuffer(buf, messagePool)}, nil
}

func (protoCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m := messageOf(v)
	if m == nil {
		return fmt.Errorf("rpc: cannot unmarshal into %T: not a protobuf message", v)
	}
	buf := data.MaterializeToBuffer(messagePool)
	defer buf.Free()
	// proto.Unmarshal copies the bytes fields out of buf.
	if err := proto.Unmarshal(buf.ReadOnlyData(), m); err != nil {
		return fmt.Errorf("rpc: unmarshal %T: %w", v, err)
	}
	return nil
}

func messageOf(v any) proto.Message {
	switch m := v.(type) {
	case proto.Message:
		return m
	case protoadapt.MessageV1:
		return protoadapt.MessageV2Of(m)
	default:
		return nil
	}
}

// Size classes of messagePool: powers of two from 2^minPoolClass to
// 2^maxPoolClass bytes. Smaller messages are not pooled
// (mem.IsBelowBufferPoolingThreshold) or take the smallest class; larger
// ones are allocated, as the default max message size is 64 MiB.
const (
	minPoolClass = 12 // 4 KiB
	maxPoolClass = 26 // 64 MiB
)

// messagePool holds the buffers of codec and of the HTTP/2 transport of
// Strata's servers and clients (ServerOptions, DialOptions): frames read
// from the connection (io.ReadFull into a buffer of the frame's length) and
// the write buffer. Every user overwrites the length it takes before it
// reads it, so the buffers are not cleared.
var messagePool = &classPool{}

// classPool is a mem.BufferPool of one sync.Pool per power-of-two size
// class. Get returns a buffer of the requested length whose capacity is the
// class size; its content is whatever the last user left. Put takes back
// only buffers of a class size.
type classPool struct {
	classes [maxPoolClass - minPoolClass + 1]sync.Pool
}

// class is the smallest class holding n bytes, and false above the largest.
func class(n int) (int, bool) {
	c := max(bits.Len(uint(n-1)), minPoolClass)
	return c, c <= maxPoolClass
}

// Get returns a buffer of length n.
func (p *classPool) Get(n int) *[]byte {
	c, ok := class(n)
	if !ok {
		b := make([]byte, n)
		return &b
	}
	if v, _ := p.classes[c-minPoolClass].Get().(*[]byte); v != nil {
		*v = (*v)[:n]
		return v
	}
	b := make([]byte, n, 1<<c)
	return &b
}

// Put returns a buffer from Get to the pool.
func (p *classPool) Put(b *[]byte) {
	size := cap(*b)
	c, ok := class(size)
	if !ok || size != 1<<c {
		return
	}
	p.classes[c-minPoolClass].Put(b)
}
