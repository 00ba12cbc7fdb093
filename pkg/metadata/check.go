package metadata

import "fmt"

// Check verifies every invariant of the image, in time linear in its size.
// Images built by Apply always pass; Check is for tests and for a loaded
// snapshot that should be trusted no further than it can be checked.
func (im *Image) Check() error {
	if im.names.Len() != im.topics.Len() || im.unified.Len() != im.topics.Len() {
		return fmt.Errorf("metadata: %d topic names, %d unified names, %d topic ids", im.names.Len(), im.unified.Len(), im.topics.Len())
	}
	partitions := 0
	for t := range im.TopicsByID() {
		if id, ok := im.names.Get(t.Name); !ok || id != t.ID {
			return fmt.Errorf("metadata: topic %q (id %s) is not found by its name", t.Name, t.ID)
		}
		if name, ok := im.unified.Get(UnifyTopicName(t.Name)); !ok || name != t.Name {
			return fmt.Errorf("metadata: topic %q is missing from the collision index", t.Name)
		}
		for i, p := range t.Partitions {
			if p.ID != int32(i) {
				return fmt.Errorf("metadata: %s: partition at index %d has id %d", t.Name, i, p.ID)
			}
			if err := checkPartition(p); err != nil {
				return fmt.Errorf("metadata: %s-%d: %w", t.Name, p.ID, err)
			}
		}
		partitions += len(t.Partitions)
	}
	if partitions != im.partitions {
		return fmt.Errorf("metadata: partition count %d, counted %d", im.partitions, partitions)
	}
	if im.nextProducerID < 0 {
		return fmt.Errorf("metadata: next producer id %d is negative", im.nextProducerID)
	}
	return nil
}
