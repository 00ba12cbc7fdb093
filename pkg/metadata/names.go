package metadata

import (
	"errors"
	"fmt"
	"strings"
)

// MaxTopicNameLength is Kafka's limit on topic names.
const MaxTopicNameLength = 249

// ConsumerOffsetsTopic is the internal topic of consumer group offsets.
const ConsumerOffsetsTopic = "__consumer_offsets"

// ErrInvalidTopicName is wrapped by every error of ValidateTopicName.
var ErrInvalidTopicName = errors.New("invalid topic name")

// ValidateTopicName checks a topic name as Kafka does: 1 to 249 characters
// of ASCII letters, digits, '.', '_' and '-', and neither "." nor "..".
// Names never reach file paths (storage keys use topic ids), but the rules
// keep names portable between Kafka and Strata.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: Topic name is illegal, it can't be empty", ErrInvalidTopicName)
	case name == "." || name == "..":
		return fmt.Errorf(`%w: Topic name cannot be "." or ".."`, ErrInvalidTopicName)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("%w: Topic name is illegal, it can't be longer than %d characters, topic name: %s",
			ErrInvalidTopicName, MaxTopicNameLength, name)
	}
	for i := 0; i < len(name); i++ {
		if !legalTopicChar(name[i]) {
			return fmt.Errorf("%w: Topic name %q is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'",
				ErrInvalidTopicName, name)
		}
	}
	return nil
}

func legalTopicChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// UnifyTopicName maps '.' to '_': two topics whose names unify to the same
// string would collide in metric names, so only one of them may exist.
func UnifyTopicName(name string) string {
	return strings.ReplaceAll(name, ".", "_")
}

// IsInternalTopic reports whether clients may not create or delete the
// topic themselves.
func IsInternalTopic(name string) bool {
	return name == ConsumerOffsetsTopic
}
