package cluster

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

// The replication benchmarks of issue #5, on three in-process brokers that
// share this machine's CPUs with each other and with the client:
//
//   - BenchmarkReplicatedProduce: RF=1 with acks=1 next to RF=3 with
//     acks=all (min.insync.replicas 2), in the same run, for 100 B and 1 KiB
//     records in 64 KiB batches over 4 partitions led by one broker, 16
//     requests in flight on one ProduceStream; throughput and per-request
//     latency (p50, p99).
//   - BenchmarkISRRejoin: how long a restarted follower takes to rejoin the
//     ISR as a function of how far behind it is.
//
//	go test -run '^$' -bench 'ReplicatedProduce|ISRRejoin' -count=5 ./cluster

func BenchmarkReplicatedProduce(b *testing.B) {
	c := Start(b, Options{Controllers: 1})
	for _, id := range []int32{101, 102, 103} {
		c.AddBroker(id, "", nil)
	}
	cl := c.BrokerClient(101)
	for _, mode := range []struct {
		name     string
		replicas []int32
		acks     int32
	}{
		{"rf=1/acks=1", []int32{101}, 1},
		{"rf=3/acks=all", []int32{101, 102, 103}, -1},
	} {
		for _, record := range []int{100, 1024} {
			shape := produceShape{record: record, batch: 64 << 10}
			b.Run(mode.name+"/"+shape.String(), func(b *testing.B) {
				topic := fmt.Sprintf("rep-%d-%d-%d", len(mode.replicas), record, time.Now().UnixNano())
				assignment := make([][]int32, benchPartitions)
				for i := range assignment {
					assignment[i] = mode.replicas
				}
				createTopics(b, c, 101, topicSpec{name: topic, assignment: assignment, configs: map[string]string{"min.insync.replicas": fmt.Sprint(min(2, len(mode.replicas)))}})
				for p := range int32(benchPartitions) {
					waitISR(b, c, topic, p, mode.replicas)
				}
				batches, perBatch := shapeBatches(b, shape, benchPartitions)
				req := &stratav1.ProduceRequest{Acks: mode.acks, TimeoutMs: 30000, Topics: []*stratav1.ProduceTopic{{Name: topic}}}
				reqBytes := 0
				for p, batch := range batches {
					req.Topics[0].Partitions = append(req.Topics[0].Partitions, &stratav1.ProducePartition{PartitionId: int32(p), Records: batch})
					reqBytes += len(batch)
				}
				// One acknowledged request first: the followers start
				// fetching a new topic's partitions within a fetch round
				// trip, which is not the steady state measured here.
				warm := produceReq(topic, 0, mode.acks, batches[0])
				warm.TimeoutMs = 30000
				mustProduce(b, cl, warm)
				var mu sync.Mutex
				var lat []time.Duration
				pl := newTimedPipeline(b, cl, 16, func(resp *stratav1.ProduceStreamResponse, d time.Duration) error {
					for _, t := range resp.GetResponse().GetTopics() {
						for _, r := range t.GetPartitions() {
							if r.GetErrorCode() != errNone {
								return fmt.Errorf("%s-%d: %v %s", t.GetName(), r.GetPartitionId(), r.GetErrorCode(), r.GetErrorMessage())
							}
						}
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
					return nil
				})
				start := time.Now()
				for b.Loop() {
					pl.send(req)
				}
				pl.close()
				el := time.Since(start).Seconds()
				mu.Lock()
				defer mu.Unlock()
				n := float64(len(lat))
				b.ReportMetric(n*float64(reqBytes)/el/1e6, "MB/s")
				b.ReportMetric(n*float64(benchPartitions*perBatch)/el, "records/s")
				slices.Sort(lat)
				b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
			})
		}
	}
}

// BenchmarkISRRejoin stops a follower of a 3-replica partition, has the
// leader take behind bytes of 1 KiB records (acks=1) meanwhile, and measures
// from the follower's restart until the controllers have it back in the ISR
// (the restart itself, registration and unfencing, is included: it is what
// an operator waits for).
func BenchmarkISRRejoin(b *testing.B) {
	for _, behind := range []int{0, 16 << 20, 64 << 20} {
		b.Run(fmt.Sprintf("behind=%dMiB", behind>>20), func(b *testing.B) {
			c := Start(b, Options{Controllers: 1, BrokerSessionTimeout: 2 * time.Second})
			for _, id := range []int32{101, 102, 103} {
				c.AddBroker(id, "", nil)
			}
			const topic = "rejoin"
			createTopics(b, c, 101, topicSpec{name: topic, assignment: [][]int32{{101, 102, 103}}, configs: map[string]string{"min.insync.replicas": "1"}})
			waitISR(b, c, topic, 0, []int32{101, 102, 103})
			batches, _ := shapeBatches(b, produceShape{record: 1024, batch: 64 << 10}, 1)
			req := &stratav1.ProduceRequest{Acks: 1, TimeoutMs: 30000, Topics: []*stratav1.ProduceTopic{{Name: topic,
				Partitions: []*stratav1.ProducePartition{{PartitionId: 0, Records: batches[0]}}}}}
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				c.StopRealBroker(103)
				waitISR(b, c, topic, 0, []int32{101, 102})
				pl := newPipeline(b, c.BrokerClient(101), 8, func(*stratav1.ProduceStreamResponse) error { return nil })
				for range behind / len(batches[0]) {
					pl.send(req)
				}
				pl.close()
				b.StartTimer()
				start := time.Now()
				c.StartRealBroker(103)
				c.WaitPartition(topic, 0, func(p *metadata.Partition) error {
					if !p.InISR(103) {
						return fmt.Errorf("ISR %v", p.ISR)
					}
					return nil
				})
				total += time.Since(start)
			}
			b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/rejoin")
		})
	}
}
