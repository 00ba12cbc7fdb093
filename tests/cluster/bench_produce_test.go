package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/recordbatch"
)

// The data-plane benchmarks of issue #4, all through the broker's gRPC API
// with replication factor 1 and acks=1 on one in-process broker:
//
//   - BenchmarkProduceVsBadger: produce throughput next to raw badger
//     writing the same batches, in the same run, for 100 B and 1 KiB
//     records in 16 KiB and 64 KiB batches over 4 partitions; the broker
//     side reports its throughput as a percentage of raw badger's
//     (pct-of-raw).
//   - BenchmarkFetch: a consumer's Fetch stream reading a pre-filled set of
//     partitions.
//   - BenchmarkProduceLatency: per-request latency (p50, p99) at a moderate
//     fixed rate and at saturation.
//   - BenchmarkBrokerRSS (bench_rss_test.go): the memory of a real
//     strata-broker process under produce load.
//
// MB/s counts record batch bytes as sent (uncompressed here), 10^6 bytes a
// second. The client runs in the same process as the broker and shares its
// CPUs, as raw badger's writers do not: the ratio is a lower bound of what
// a broker with its own machine would reach. To keep its share small, the
// throughput benchmarks' client encodes its requests once and sends them
// again and again (grpc.PreparedMsg). cpu-s/GB is the CPU time the process
// spent per GB written (the broker's includes its client's): unlike MB/s,
// it hardly depends on what else runs on the machine.
//
//	go test -run '^$' -bench 'ProduceVsBadger|Fetch$|ProduceLatency|BrokerRSS' -count=5 ./cluster

// benchPartitions is the partition count of the produce and fetch benchmarks.
const benchPartitions = 4

// produceShape is a record size and a batch size.
type produceShape struct {
	record, batch int // bytes
}

func (s produceShape) String() string {
	return fmt.Sprintf("record=%s/batch=%s", sizeName(s.record), sizeName(s.batch))
}

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%dKiB", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}

var produceShapes = []produceShape{
	{record: 100, batch: 16 << 10},
	{record: 100, batch: 64 << 10},
	{record: 1024, batch: 16 << 10},
	{record: 1024, batch: 64 << 10},
}

// shapeBatches builds one uncompressed batch for each of n partitions:
// records with no key and a value of shape.record random letters, as many
// as fit in shape.batch bytes (a producer's batch.size). It returns the
// batches and the records in each.
func shapeBatches(b testing.TB, shape produceShape, n int) ([][]byte, int) {
	rng := rand.New(rand.NewPCG(uint64(shape.record), uint64(shape.batch)))
	now := time.Now().UnixMilli()
	out := make([][]byte, n)
	count := 0
	for p := range out {
		bld := recordbatch.NewBuilder(recordbatch.None, nil)
		v := make([]byte, shape.record)
		for {
			for j := range v {
				v[j] = 'a' + byte(rng.IntN(26))
			}
			// A record adds its value and at most 16 bytes of framing.
			if bld.Len() > 0 && bld.Size()+len(v)+16 > shape.batch {
				break
			}
			bld.Append(recordbatch.Record{Value: v, Timestamp: now})
		}
		count = bld.Len()
		batch, err := bld.Build(nil)
		if err != nil {
			b.Fatal(err)
		}
		out[p] = batch
	}
	return out, count
}

// rawBadgerOptions are the options of the broker's badger database
// (partlog.Options.badgerOptions with the defaults and --fsync=never),
// repeated here because partlog is internal to the broker module. Keep
// them in step.
func rawBadgerOptions(dir string) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(nil).
		WithSyncWrites(false).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithValueThreshold(1 << 10).
		WithValueLogFileSize(32 << 20).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(32 << 20).
		WithNumCompactors(2).
		WithDetectConflicts(false).
		WithMetricsEnabled(false)
}

// rawKey is a partition log's data key: 16 bytes of topic id, the
// partition and the base offset, big-endian.
func rawKey(partition int, offset int64) []byte {
	k := make([]byte, 28)
	k[0] = 0x5b // a topic id
	binary.BigEndian.PutUint32(k[16:], uint32(partition))
	binary.BigEndian.PutUint64(k[20:], uint64(offset))
	return k
}

// BenchmarkProduceVsBadger measures, for each shape, raw badger writing
// the batches and then the broker taking the same batches through
// ProduceStream, one after the other in the same process.
//
// raw: one writer per partition, each writing its partition's batch under
// the next key in its own transaction (db.Update), as the partition log
// does; badger commits concurrent transactions together.
//
// broker: one ProduceStream with 16 requests in flight, each request one
// batch for each of the 4 partitions (what a producer sends a broker that
// leads them all), acks=1. pct-of-raw is the broker's MB/s as a percentage
// of the raw sub-benchmark's that ran just before.
//
// Each shape gets a broker of its own whose data is deleted afterwards, as
// raw badger's database is: a broker does not write while the kernel
// writes back the pages the shapes before it left dirty.
func BenchmarkProduceVsBadger(b *testing.B) {
	c := Start(b, Options{Controllers: 1})
	for i, shape := range produceShapes {
		batches, perBatch := shapeBatches(b, shape, benchPartitions)
		var raw float64
		b.Run(shape.String()+"/raw", func(b *testing.B) {
			raw = benchRawBadger(b, batches[0], perBatch)
		})
		id := int32(101 + i)
		br := c.AddBroker(id, "", nil)
		topic := fmt.Sprintf("produce-%d", i)
		assignment := make([][]int32, benchPartitions)
		for p := range assignment {
			assignment[p] = []int32{id}
		}
		createTopics(b, c, id, topicSpec{name: topic, assignment: assignment})
		b.Run(shape.String()+"/broker", func(b *testing.B) {
			mbps := benchStreamProduce(b, c.BrokerClient(id), topic, batches, perBatch, 16)
			if raw > 0 {
				b.ReportMetric(100*mbps/raw, "pct-of-raw")
			}
		})
		c.StopRealBroker(id)
		if err := os.RemoveAll(br.Dir); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRawBadger writes batch b.N times into a fresh badger database from
// benchPartitions writers, and reports and returns MB/s.
func benchRawBadger(b *testing.B, batch []byte, perBatch int) float64 {
	db, err := badger.Open(rawBadgerOptions(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	}()
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime(b)
	for p := range benchPartitions {
		wg.Go(func() {
			off := int64(0)
			for next.Add(1) <= int64(b.N) {
				k := rawKey(p, off)
				if err := db.Update(func(txn *badger.Txn) error { return txn.Set(k, batch) }); err != nil {
					failed.Store(&err)
					return
				}
				off += int64(perBatch)
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	mbps := float64(b.N*len(batch)) / el / 1e6
	b.ReportMetric(mbps, "MB/s")
	b.ReportMetric(float64(b.N*perBatch)/el, "records/s")
	b.ReportMetric((cpuTime(b)-cpu).Seconds()/(float64(b.N*len(batch))/1e9), "cpu-s/GB")
	return mbps
}

// cpuTime is the CPU time (user and system) the process used so far. Per
// byte written, it measures the cost of a path whatever else loads the
// machine, where MB/s depends on the CPU left to the benchmark.
func cpuTime(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchStreamProduce sends b.N requests over one ProduceStream, inflight at
// a time, each with one batch for each partition of topic (batches[p] to
// partition p), and reports and returns MB/s over the acknowledged
// requests.
func benchStreamProduce(b *testing.B, cl stratav1.BrokerServiceClient, topic string, batches [][]byte, perBatch, inflight int) float64 {
	req := &stratav1.ProduceRequest{Acks: 1, TimeoutMs: 10000, Topics: []*stratav1.ProduceTopic{{Name: topic}}}
	reqBytes := 0
	for p, batch := range batches {
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, &stratav1.ProducePartition{PartitionId: int32(p), Records: batch})
		reqBytes += len(batch)
	}
	var acked atomic.Int64
	p := newPipeline(b, cl, inflight, func(resp *stratav1.ProduceStreamResponse) error {
		for _, t := range resp.GetResponse().GetTopics() {
			for _, r := range t.GetPartitions() {
				if r.GetErrorCode() != errNone {
					return fmt.Errorf("%s-%d: %v %s", t.GetName(), r.GetPartitionId(), r.GetErrorCode(), r.GetErrorMessage())
				}
			}
		}
		acked.Add(1)
		return nil
	})
	p.prepare(req, 2*inflight)
	start, cpu := time.Now(), cpuTime(b)
	for b.Loop() {
		p.send(req)
	}
	p.close()
	el := time.Since(start).Seconds()
	n := acked.Load()
	mbps := float64(n*int64(reqBytes)) / el / 1e6
	b.ReportMetric(mbps, "MB/s")
	b.ReportMetric(float64(n*int64(len(batches)*perBatch))/el, "records/s")
	b.ReportMetric((cpuTime(b)-cpu).Seconds()/(float64(n*int64(reqBytes))/1e9), "cpu-s/GB")
	return mbps
}

// pipeline is a client's ProduceStream with a bounded number of requests in
// flight; a goroutine receives the answers, checks that they come in order
// and hands each to onAnswer with its send time.
//
// After prepare, the pipeline sends requests encoded once
// (grpc.PreparedMsg) instead of encoding each: the client shares the CPUs
// with the broker, and a producer's encoding is not the broker's work.
type pipeline struct {
	b        *testing.B
	stream   stratav1.BrokerService_ProduceStreamClient
	cancel   context.CancelFunc
	slots    chan struct{}
	done     chan error
	next     int64
	prepared []*grpc.PreparedMsg // request i has correlation id i; nil: encode each

	mu   sync.Mutex
	sent map[int64]time.Time // by sequence number, for latency
}

func newPipeline(b *testing.B, cl stratav1.BrokerServiceClient, inflight int, onAnswer func(*stratav1.ProduceStreamResponse) error) *pipeline {
	return newTimedPipeline(b, cl, inflight, func(resp *stratav1.ProduceStreamResponse, _ time.Duration) error { return onAnswer(resp) })
}

func newTimedPipeline(b *testing.B, cl stratav1.BrokerServiceClient, inflight int, onAnswer func(*stratav1.ProduceStreamResponse, time.Duration) error) *pipeline {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := cl.ProduceStream(ctx)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	p := &pipeline{b: b, stream: stream, cancel: cancel, slots: make(chan struct{}, inflight), done: make(chan error, 1), sent: make(map[int64]time.Time)}
	go func() {
		seq := int64(0)
		for {
			resp, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				p.done <- err
				return
			}
			p.mu.Lock()
			at, want := p.sent[seq], seq
			delete(p.sent, seq)
			if n := len(p.prepared); n > 0 {
				want = seq % int64(n)
			}
			p.mu.Unlock()
			if resp.GetCorrelationId() != want {
				p.done <- fmt.Errorf("answer %d has correlation id %d, want %d: answers out of order", seq, resp.GetCorrelationId(), want)
				return
			}
			seq++
			if err := onAnswer(resp, time.Since(at)); err != nil {
				p.done <- err
				return
			}
			<-p.slots
		}
	}()
	return p
}

// prepare encodes req n times, with correlation ids 0 to n-1; send then
// sends these in turns, whatever request it is given.
func (p *pipeline) prepare(req *stratav1.ProduceRequest, n int) {
	prepared := make([]*grpc.PreparedMsg, n)
	for i := range prepared {
		prepared[i] = &grpc.PreparedMsg{}
		if err := prepared[i].Encode(p.stream, &stratav1.ProduceStreamRequest{CorrelationId: int64(i), Request: req}); err != nil {
			p.cancel()
			p.b.Fatal(err)
		}
	}
	p.mu.Lock()
	p.prepared = prepared
	p.mu.Unlock()
}

// send sends req once fewer than inflight requests wait for their answer.
func (p *pipeline) send(req *stratav1.ProduceRequest) {
	select {
	case p.slots <- struct{}{}:
	case err := <-p.done:
		p.cancel()
		p.b.Fatalf("produce stream ended early: %v", err)
	}
	seq := p.next
	p.next++
	p.mu.Lock()
	p.sent[seq] = time.Now()
	p.mu.Unlock()
	var err error
	if n := len(p.prepared); n > 0 {
		err = p.stream.SendMsg(p.prepared[seq%int64(n)])
	} else {
		err = p.stream.Send(&stratav1.ProduceStreamRequest{CorrelationId: seq, Request: req})
	}
	if err != nil {
		p.cancel()
		p.b.Fatal(err)
	}
}

// close ends the sending side and waits for every answer.
func (p *pipeline) close() {
	defer p.cancel()
	if err := p.stream.CloseSend(); err != nil {
		p.b.Fatal(err)
	}
	if err := <-p.done; err != nil {
		p.b.Fatal(err)
	}
}

// BenchmarkFetch measures a consumer reading 4 partitions pre-filled with
// 32 MiB each of 1 KiB records in 64 KiB batches, from offset 0 to their
// end through one Fetch stream per pass (max_bytes 4 MiB, 1 MiB per
// partition, as a Kafka consumer's defaults scaled down).
func BenchmarkFetch(b *testing.B) {
	c := Start(b, Options{Controllers: 1})
	c.AddBroker(101, "", nil)
	const topic = "fetch"
	createTopics(b, c, 101, topicSpec{name: topic, partitions: benchPartitions, rf: 1})
	cl := c.BrokerClient(101)
	batches, perBatch := shapeBatches(b, produceShape{record: 1024, batch: 64 << 10}, benchPartitions)
	const perPartition = 32 << 20
	req := &stratav1.ProduceRequest{Acks: 1, TimeoutMs: 10000, Topics: []*stratav1.ProduceTopic{{Name: topic}}}
	for p, batch := range batches {
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, &stratav1.ProducePartition{PartitionId: int32(p), Records: batch})
	}
	rounds := perPartition / len(batches[0])
	fill := newPipeline(b, cl, 8, func(*stratav1.ProduceStreamResponse) error { return nil })
	for range rounds {
		fill.send(req)
	}
	fill.close()
	end := int64(rounds * perBatch) // each partition's log end offset
	var total int64
	start := time.Now()
	for b.Loop() {
		total += fetchAll(b, cl, topic, end)
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(total)/el/1e6, "MB/s")
	b.ReportMetric(float64(b.N)*float64(end*benchPartitions)/el, "records/s")
}

// fetchAll reads every partition of topic from offset 0 to end through one
// Fetch stream and returns the bytes of batches received.
func fetchAll(b *testing.B, cl stratav1.BrokerServiceClient, topic string, end int64) int64 {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ft := &stratav1.FetchTopic{Name: topic}
	for p := range benchPartitions {
		ft.Partitions = append(ft.Partitions, &stratav1.FetchPartition{PartitionId: int32(p), CurrentLeaderEpoch: -1, PartitionMaxBytes: 1 << 20})
	}
	stream, err := cl.Fetch(ctx, &stratav1.FetchRequest{MaxBytes: 4 << 20, MaxWaitMs: 500, Topics: []*stratav1.FetchTopic{ft}})
	if err != nil {
		b.Fatal(err)
	}
	next := make([]int64, benchPartitions)
	var n int64
	for slices.Min(next) < end {
		resp, err := stream.Recv()
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range resp.GetTopics() {
			for _, r := range t.GetPartitions() {
				if r.GetErrorCode() != errNone {
					b.Fatalf("fetch %s-%d: %v %s", t.GetName(), r.GetPartitionId(), r.GetErrorCode(), r.GetErrorMessage())
				}
				recs := r.GetRecords()
				n += int64(len(recs))
				for batch, err := range recordbatch.All(recs) {
					if err != nil {
						b.Fatal(err)
					}
					h, _ := recordbatch.ParseHeader(batch)
					if h.BaseOffset != next[r.GetPartitionId()] {
						b.Fatalf("partition %d: batch at %d, want %d", r.GetPartitionId(), h.BaseOffset, next[r.GetPartitionId()])
					}
					next[r.GetPartitionId()] = h.LastOffset() + 1
				}
			}
		}
	}
	return n
}

// BenchmarkProduceLatency measures the time from sending a produce request
// on a ProduceStream to its answer: 16 KiB batches of 1 KiB records, one
// partition per request in turns over 4 partitions, acks=1. rate=N sends N
// requests a second (16 KiB x N a second), saturated keeps 16 requests in
// flight. p50-us and p99-us are over every request of the run.
func BenchmarkProduceLatency(b *testing.B) {
	c := Start(b, Options{Controllers: 1})
	c.AddBroker(101, "", nil)
	const topic = "latency"
	createTopics(b, c, 101, topicSpec{name: topic, partitions: benchPartitions, rf: 1})
	cl := c.BrokerClient(101)
	batches, _ := shapeBatches(b, produceShape{record: 1024, batch: 16 << 10}, benchPartitions)
	reqs := make([]*stratav1.ProduceRequest, benchPartitions)
	for p := range reqs {
		reqs[p] = produceReq(topic, int32(p), 1, batches[p])
	}
	for _, mode := range []struct {
		name     string
		rate     int // requests a second; 0 is as fast as inflight allows
		inflight int
	}{{"rate=1000", 1000, 16}, {"saturated", 0, 16}} {
		b.Run(mode.name, func(b *testing.B) {
			var mu sync.Mutex
			var lat []time.Duration
			p := newTimedPipeline(b, cl, mode.inflight, func(resp *stratav1.ProduceStreamResponse, d time.Duration) error {
				r := resp.GetResponse().GetTopics()[0].GetPartitions()[0]
				if r.GetErrorCode() != errNone {
					return fmt.Errorf("%v %s", r.GetErrorCode(), r.GetErrorMessage())
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				return nil
			})
			var tick <-chan time.Time
			if mode.rate > 0 {
				t := time.NewTicker(time.Second / time.Duration(mode.rate))
				defer t.Stop()
				tick = t.C
			}
			i := 0
			for b.Loop() {
				if tick != nil {
					<-tick
				}
				p.send(reqs[i%benchPartitions])
				i++
			}
			p.close()
			mu.Lock()
			defer mu.Unlock()
			b.ReportMetric(float64(percentile(lat, 0.5).Nanoseconds())/1e3, "p50-us")
			b.ReportMetric(float64(percentile(lat, 0.99).Nanoseconds())/1e3, "p99-us")
		})
	}
}
