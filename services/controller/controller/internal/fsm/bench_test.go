package fsm

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"runtime"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

// brokersImage is an image with brokers 1..n registered and unfenced,
// built through Execute.
func brokersImage(tb testing.TB, n int32) *metadata.Image {
	tb.Helper()
	img := metadata.Empty()
	for id := int32(1); id <= n; id++ {
		var res *stratav1.CommandResult
		img, _, res = Execute(img, registerCmd(id, "inc"))
		if res.GetErrorCode() != codeNone {
			tb.Fatalf("register %d: %v", id, res)
		}
		if img, _, res = Execute(img, unfenceCmd(id, res.GetBrokerEpoch())); res.GetErrorCode() != codeNone {
			tb.Fatalf("unfence %d: %v", id, res)
		}
	}
	return img
}

// benchTopicCmd creates topic i with a topic id derived from i.
func benchTopicCmd(i int, partitions, rf int32) *stratav1.MetadataCommand {
	var id metadata.TopicID
	id[0] = 0x5a
	binary.BigEndian.PutUint64(id[8:], uint64(i)*0x9e3779b97f4a7c15) // spread the placement seeds
	binary.BigEndian.PutUint32(id[1:], uint32(i))
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_CreateTopics{CreateTopics: &stratav1.CreateTopicsCommand{
		Topics:   []*stratav1.CreatableTopic{{Name: fmt.Sprintf("topic-%07d", i), NumPartitions: partitions, ReplicationFactor: rf}},
		TopicIds: [][]byte{id.Bytes()},
	}}}
}

func mustCreate(tb testing.TB, img *metadata.Image, cmd *stratav1.MetadataCommand) *metadata.Image {
	img, _, res := Execute(img, cmd)
	if res.GetErrorCode() != codeNone || res.GetCreateTopics().GetTopics()[0].GetErrorCode() != codeNone {
		tb.Fatalf("create: %v", res)
	}
	return img
}

// BenchmarkCreateTopics creates one-partition topics (replication factor
// 3 over 6 brokers), one command at a time, on an image that grows.
func BenchmarkCreateTopics(b *testing.B) {
	img := brokersImage(b, 6)
	cmds := make([]*stratav1.MetadataCommand, b.N)
	for i := range cmds {
		cmds[i] = benchTopicCmd(i, 1, 3)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		img = mustCreate(b, img, cmds[i])
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "topics/s")
	if img.TopicCount() != b.N {
		b.Fatalf("%d topics", img.TopicCount())
	}
}

// BenchmarkImage100kPartitions builds an image of 1,000 topics x 100
// partitions (replication factor 3 over 6 brokers) and reports the heap it
// holds per partition, and the time to save it as a snapshot and to
// restore a machine from it. Goals: under 1 KiB per partition, save and
// restore under a second each. -image-partitions sets another size (a
// multiple of 100), e.g. 1000000.
var imagePartitions = flag.Int("image-partitions", 100000, "partitions in BenchmarkImage100kPartitions")

func BenchmarkImage100kPartitions(b *testing.B) {
	const perTopic = 100
	topics := *imagePartitions / perTopic
	partitions := topics * perTopic
	cmds := make([]*stratav1.MetadataCommand, topics)
	for i := range cmds {
		cmds[i] = benchTopicCmd(i, perTopic, 3)
	}
	var heap, restoredHeap, saveNs, restoreNs, size float64
	for range b.N {
		h, s, snap := buildAndSave(b, cmds, partitions)
		heap += h
		saveNs += s
		size += float64(len(snap))

		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := New(0)
		start := time.Now()
		if err := m.RecoverFromSnapshot(bytes.NewReader(snap), nil, make(chan struct{})); err != nil {
			b.Fatal(err)
		}
		restoreNs += float64(time.Since(start).Nanoseconds())
		runtime.GC()
		runtime.ReadMemStats(&after)
		restoredHeap += float64(after.HeapAlloc) - float64(before.HeapAlloc)
		if m.State().Image.PartitionCount() != partitions {
			b.Fatalf("restored %d partitions", m.State().Image.PartitionCount())
		}
		runtime.KeepAlive(m)
		runtime.KeepAlive(snap) // counted in before: it must not be freed before after
	}
	n := float64(b.N)
	b.ReportMetric(heap/n/float64(partitions), "B/partition")
	b.ReportMetric(restoredHeap/n/float64(partitions), "restored-B/partition")
	b.ReportMetric(saveNs/n, "save-ns")
	b.ReportMetric(restoreNs/n, "restore-ns")
	b.ReportMetric(size/n, "snapshot-B")
}

// buildAndSave builds the image of cmds and returns the heap it holds, the
// time a machine took to save it, and the snapshot. The image is garbage
// once it returns.
func buildAndSave(b *testing.B, cmds []*stratav1.MetadataCommand, partitions int) (heap, saveNs float64, snap []byte) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	img := brokersImage(b, 6)
	for _, c := range cmds {
		img = mustCreate(b, img, c)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap = float64(after.HeapAlloc) - float64(before.HeapAlloc)
	if img.PartitionCount() != partitions {
		b.Fatalf("%d partitions", img.PartitionCount())
	}

	m := New(0)
	m.publish(&State{Image: img})
	ctx, err := m.PrepareSnapshot()
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	buf.Grow(16 << 20)
	start := time.Now()
	if err := m.SaveSnapshot(ctx, &buf, nil, make(chan struct{})); err != nil {
		b.Fatal(err)
	}
	saveNs = float64(time.Since(start).Nanoseconds())
	return heap, saveNs, buf.Bytes()
}
