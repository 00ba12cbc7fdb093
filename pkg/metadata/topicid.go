package metadata

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// TopicID identifies a topic for its whole life: a random 16-byte UUID. A
// topic deleted and created again under the same name gets a new id.
type TopicID [16]byte

// ZeroTopicID is the id no topic has.
var ZeroTopicID TopicID

// NewTopicID returns a random (version 4) UUID that is not zero.
func NewTopicID() TopicID {
	var id TopicID
	for id == ZeroTopicID {
		_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
	}
	return id
}

// TopicIDFromBytes converts the 16 bytes of a proto topic_id field.
func TopicIDFromBytes(b []byte) (TopicID, error) {
	var id TopicID
	if len(b) != len(id) {
		return id, fmt.Errorf("topic id must be %d bytes, got %d", len(id), len(b))
	}
	copy(id[:], b)
	return id, nil
}

// ParseTopicID parses the form String prints.
func ParseTopicID(s string) (TopicID, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return ZeroTopicID, fmt.Errorf("topic id %q: %w", s, err)
	}
	return TopicIDFromBytes(b)
}

// String prints the id as Kafka does: URL-safe base64 without padding
// (22 characters).
func (id TopicID) String() string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// Bytes returns a copy of the id for a proto field.
func (id TopicID) Bytes() []byte {
	b := make([]byte, len(id))
	copy(b, id[:])
	return b
}

// Compare orders ids bytewise.
func (id TopicID) Compare(other TopicID) int {
	return bytes.Compare(id[:], other[:])
}
