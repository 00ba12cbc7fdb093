package metadata

import (
	"cmp"
	"iter"
	"slices"

	"github.com/benbjohnson/immutable"
)

// NoLeader is the leader id of a partition without a leader.
const NoLeader int32 = -1

// Controller is a controller's registration.
type Controller struct {
	ID            int32
	IncarnationID string
	Address       string
	RaftAddress   string
}

// Broker is a broker's registration.
type Broker struct {
	ID                   int32
	Epoch                int64
	IncarnationID        string
	Address              string
	Rack                 string
	Fenced               bool
	InControlledShutdown bool
}

// Partition is one partition's replica set and leadership. Values reachable
// from an Image are shared between images and must not be modified.
type Partition struct {
	ID       int32
	Replicas []int32
	ISR      []int32
	// Leader is a broker id, or NoLeader.
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
}

// PreferredLeader is the first replica.
func (p *Partition) PreferredLeader() int32 {
	if len(p.Replicas) == 0 {
		return NoLeader
	}
	return p.Replicas[0]
}

// InISR reports whether a broker is in the ISR.
func (p *Partition) InISR(broker int32) bool { return slices.Contains(p.ISR, broker) }

// IsReplica reports whether a broker holds a replica.
func (p *Partition) IsReplica(broker int32) bool { return slices.Contains(p.Replicas, broker) }

// Topic is a topic with its partitions (index = partition id) and the
// configs set on it. Values reachable from an Image must not be modified.
type Topic struct {
	ID         TopicID
	Name       string
	Partitions []*Partition
	Configs    map[string]string
}

// Partition returns a partition by id.
func (t *Topic) Partition(id int32) (*Partition, bool) {
	if id < 0 || int(id) >= len(t.Partitions) {
		return nil, false
	}
	return t.Partitions[id], true
}

// Image is the cluster metadata at one offset. It is immutable: Apply
// returns a new image. The zero value is not usable; start from Empty.
type Image struct {
	offset      int64
	controllers *immutable.SortedMap[int32, *Controller]
	brokers     *immutable.SortedMap[int32, *Broker]
	topics      *immutable.SortedMap[TopicID, *Topic]
	names       *immutable.SortedMap[string, TopicID]
	// unified maps UnifyTopicName(name) to the name that holds it.
	unified *immutable.SortedMap[string, string]
	// brokerConfigs maps a broker id in decimal ("" for the cluster default)
	// to its configs.
	brokerConfigs *immutable.SortedMap[string, map[string]string]
	partitions    int
	// nextProducerID is the first producer id no broker has been given.
	nextProducerID int64
}

type ordered[K cmp.Ordered] struct{}

func (ordered[K]) Compare(a, b K) int { return cmp.Compare(a, b) }

type topicIDOrder struct{}

func (topicIDOrder) Compare(a, b TopicID) int { return a.Compare(b) }

var empty = &Image{
	controllers:   immutable.NewSortedMap[int32, *Controller](ordered[int32]{}),
	brokers:       immutable.NewSortedMap[int32, *Broker](ordered[int32]{}),
	topics:        immutable.NewSortedMap[TopicID, *Topic](topicIDOrder{}),
	names:         immutable.NewSortedMap[string, TopicID](ordered[string]{}),
	unified:       immutable.NewSortedMap[string, string](ordered[string]{}),
	brokerConfigs: immutable.NewSortedMap[string, map[string]string](ordered[string]{}),
}

// Empty returns the image at offset 0, before any record.
func Empty() *Image { return empty }

// Offset is the offset of the last record applied.
func (im *Image) Offset() int64 { return im.offset }

// Controller returns a controller's registration.
func (im *Image) Controller(id int32) (*Controller, bool) { return im.controllers.Get(id) }

// Controllers yields the registered controllers by id.
func (im *Image) Controllers() iter.Seq[*Controller] { return values(im.controllers) }

// Broker returns a broker's registration.
func (im *Image) Broker(id int32) (*Broker, bool) { return im.brokers.Get(id) }

// Brokers yields the registered brokers by id.
func (im *Image) Brokers() iter.Seq[*Broker] { return values(im.brokers) }

// BrokerCount is the number of registered brokers.
func (im *Image) BrokerCount() int { return im.brokers.Len() }

// Topic returns a topic by name.
func (im *Image) Topic(name string) (*Topic, bool) {
	id, ok := im.names.Get(name)
	if !ok {
		return nil, false
	}
	return im.topics.Get(id)
}

// TopicByID returns a topic by id.
func (im *Image) TopicByID(id TopicID) (*Topic, bool) { return im.topics.Get(id) }

// TopicCount is the number of topics.
func (im *Image) TopicCount() int { return im.topics.Len() }

// PartitionCount is the number of partitions over all topics.
func (im *Image) PartitionCount() int { return im.partitions }

// TopicNames yields topic names in order.
func (im *Image) TopicNames() iter.Seq[string] {
	return func(yield func(string) bool) {
		it := im.names.Iterator()
		for !it.Done() {
			name, _, _ := it.Next()
			if !yield(name) {
				return
			}
		}
	}
}

// Topics yields topics by name.
func (im *Image) Topics() iter.Seq[*Topic] {
	return func(yield func(*Topic) bool) {
		it := im.names.Iterator()
		for !it.Done() {
			_, id, _ := it.Next()
			t, _ := im.topics.Get(id)
			if !yield(t) {
				return
			}
		}
	}
}

// TopicsByID yields topics in topic id order.
func (im *Image) TopicsByID() iter.Seq[*Topic] { return values(im.topics) }

// CollidingTopic returns the existing topic whose name differs from name but
// becomes the same when '.' is replaced by '_', if there is one.
func (im *Image) CollidingTopic(name string) (string, bool) {
	other, ok := im.unified.Get(UnifyTopicName(name))
	if !ok || other == name {
		return "", false
	}
	return other, true
}

// BrokerConfigs returns the dynamic configs of a broker ("" for the
// cluster-wide default). The map must not be modified.
func (im *Image) BrokerConfigs(resource string) map[string]string {
	c, _ := im.brokerConfigs.Get(resource)
	return c
}

// NextProducerID is the first producer id that no ProducerIdsRecord has
// allocated yet: the controllers give the next block from there.
func (im *Image) NextProducerID() int64 { return im.nextProducerID }

// BrokerConfigResources yields the broker config resources that have
// configs, in order.
func (im *Image) BrokerConfigResources() iter.Seq[string] {
	return func(yield func(string) bool) {
		it := im.brokerConfigs.Iterator()
		for !it.Done() {
			k, _, _ := it.Next()
			if !yield(k) {
				return
			}
		}
	}
}

func values[K, V any](m *immutable.SortedMap[K, V]) iter.Seq[V] {
	return func(yield func(V) bool) {
		it := m.Iterator()
		for !it.Done() {
			_, v, _ := it.Next()
			if !yield(v) {
				return
			}
		}
	}
}
