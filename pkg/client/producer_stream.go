package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// brokerStream pipelines produce requests to one broker over a single
// ProduceStream. The broker answers in request order, so the answers are
// matched to a FIFO of the requests sent. Its goroutine opens the stream
// on the first request (and again after a failure), sends, and watches
// for an answer overdue by more than the request timeout; a receiving
// goroutine reads the answers. When the stream breaks, every request sent
// on it fails with NETWORK_EXCEPTION (or the stream's error) and is
// retried by the sender loop. Results go to the loop on Producer.results.
type brokerStream struct {
	p    *Producer
	id   int32
	addr string
	reqs chan *produceReq

	inflight int // owned by the sender loop

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// streamResult is the outcome of one request: resp, or sent (acks=0
// requests complete once sent), or err.
type streamResult struct {
	stream *brokerStream
	req    *produceReq
	resp   *stratav1.ProduceResponse
	sent   bool
	err    error
}

func newBrokerStream(p *Producer, id int32, addr string) *brokerStream {
	ctx, cancel := context.WithCancel(p.ctx)
	bs := &brokerStream{
		p: p, id: id, addr: addr, reqs: make(chan *produceReq, p.cfg.maxInFlight),
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
	p.wg.Add(1)
	go bs.run()
	return bs
}

// stop ends the stream; its requests fail and come back to the loop.
func (bs *brokerStream) stop() { bs.cancel() }

// wait waits for the stream's goroutines to end (after stop or the
// producer's end).
func (bs *brokerStream) wait() { <-bs.done }

// post hands a result to the sender loop unless the producer is closing.
func (bs *brokerStream) post(r streamResult) {
	r.stream = bs
	select {
	case bs.p.results <- r:
	case <-bs.p.ctx.Done():
	}
}

// conn is one open ProduceStream and the requests awaiting its answers.
type conn struct {
	bs     *brokerStream
	stream grpc.BidiStreamingClient[stratav1.ProduceStreamRequest, stratav1.ProduceStreamResponse]
	cc     *grpc.ClientConn
	cancel context.CancelFunc
	recvd  chan struct{} // closed when the receiver ended

	mu      sync.Mutex
	pending []*produceReq
	failed  error // set by the receiver when the stream broke
}

func (bs *brokerStream) run() {
	p := bs.p
	defer p.wg.Done()
	defer close(bs.done)
	var c *conn
	closeConn := func() {
		if c != nil {
			c.cancel()
			<-c.recvd
			c = nil
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	overdue := p.c.cfg.requestTimeout + 5*time.Second // the broker answers acks=all at the request timeout
	for {
		var recvd <-chan struct{}
		if c != nil {
			recvd = c.recvd
			c.mu.Lock()
			wait := time.Hour
			if len(c.pending) > 0 {
				wait = max(time.Until(c.pending[0].sentAt.Add(overdue)), time.Millisecond)
			}
			c.mu.Unlock()
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(wait)
		}
		select {
		case <-bs.ctx.Done():
			closeConn()
			for {
				select {
				case req := <-bs.reqs:
					bs.post(streamResult{req: req, err: bs.stoppedError()})
				default:
					return
				}
			}
		case <-recvd:
			c = nil
		case <-timer.C:
			if c != nil {
				p.c.cfg.logger.Warn("client: produce answer overdue; reconnecting", "broker", bs.id, "address", bs.addr)
				c.fail(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT, "broker %d did not answer a produce request within %v", bs.id, overdue))
				closeConn()
			}
		case req := <-bs.reqs:
			if c == nil {
				var err error
				if c, err = bs.open(); err != nil {
					bs.post(streamResult{req: req, err: err})
					continue
				}
			}
			bs.send(c, req)
		}
	}
}

// open opens a ProduceStream and starts its receiver.
func (bs *brokerStream) open() (*conn, error) {
	p := bs.p
	cc, err := p.c.pool.get(bs.addr)
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fromRPC(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION, "%v", err))
	}
	ctx, cancel := context.WithCancel(bs.ctx)
	stream, err := stratav1.NewBrokerServiceClient(cc).ProduceStream(ctx)
	if err != nil {
		cancel()
		return nil, bs.streamError(cc, err)
	}
	c := &conn{bs: bs, stream: stream, cc: cc, cancel: cancel, recvd: make(chan struct{})}
	p.wg.Add(1)
	go bs.receive(c)
	return c, nil
}

// send sends req on c; a failure shows in the receiver, which fails every
// pending request.
func (bs *brokerStream) send(c *conn, req *produceReq) {
	c.mu.Lock()
	if c.failed != nil {
		err := c.failed
		c.mu.Unlock()
		bs.post(streamResult{req: req, err: err})
		return
	}
	req.sentAt = time.Now()
	c.pending = append(c.pending, req)
	c.mu.Unlock()
	err := c.stream.Send(&stratav1.ProduceStreamRequest{CorrelationId: req.corr, Request: req.msg})
	if err == nil && req.acks == AcksNone {
		bs.post(streamResult{req: req, sent: true})
	}
}

// receive matches answers to the pending requests, in order, until the
// stream ends; then it fails what is still pending.
func (bs *brokerStream) receive(c *conn) {
	p := bs.p
	defer p.wg.Done()
	defer close(c.recvd)
	for {
		resp, err := c.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION, "broker %d ended the produce stream", bs.id)
			}
			c.fail(bs.streamError(c.cc, err))
			return
		}
		c.mu.Lock()
		var req *produceReq
		if len(c.pending) > 0 {
			req = c.pending[0]
			c.pending = c.pending[1:]
		}
		c.mu.Unlock()
		if req == nil || req.corr != resp.GetCorrelationId() {
			c.fail(fromRPC(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION,
				"broker %d answered correlation id %d out of order", bs.id, resp.GetCorrelationId())))
			c.cancel()
			if req != nil {
				bs.post(streamResult{req: req, err: c.failed})
			}
			return
		}
		if req.acks != AcksNone {
			bs.post(streamResult{req: req, resp: resp.GetResponse()})
		}
	}
}

// fail records the stream's failure and fails every pending request (but
// acks=0 ones, done already).
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.failed == nil {
		c.failed = err
	}
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	c.cancel()
	for _, req := range pending {
		if req.acks != AcksNone {
			c.bs.post(streamResult{req: req, err: err})
		}
	}
}

// streamError converts a stream's failure: our own cancellation is
// ErrClosed when the producer closes; a broken connection is
// NETWORK_EXCEPTION, and the connection is dropped so that the next stream
// dials afresh.
func (bs *brokerStream) streamError(cc *grpc.ClientConn, err error) error {
	if bs.ctx.Err() != nil {
		return bs.stoppedError()
	}
	if status.Code(err) == codes.Canceled {
		err = rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION, "connection to %s closed: %v", bs.addr, err)
	}
	re := rpc.FromError(err)
	if re.Code == stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION || re.Code == stratav1.ErrorCode_ERROR_CODE_BROKER_NOT_AVAILABLE ||
		status.Code(err) == codes.Unavailable {
		bs.p.c.pool.drop(bs.addr, cc)
		if re.Code != stratav1.ErrorCode_ERROR_CODE_BROKER_NOT_AVAILABLE {
			re = rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION, "produce stream to broker %d (%s): %s", bs.id, bs.addr, re.Message)
		}
	}
	return fromRPC(re)
}

// stoppedError fails the requests of a stopped stream: ErrClosed when the
// producer closes, else (the broker moved to another address) a retriable
// NETWORK_EXCEPTION.
func (bs *brokerStream) stoppedError() error {
	if bs.p.ctx.Err() != nil {
		return fmt.Errorf("produce to broker %d: %w", bs.id, ErrClosed)
	}
	return fromRPC(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION, "the produce stream to broker %d was replaced", bs.id))
}
