package broker

import (
	"testing"
	"time"
)

// TestPartitionForIsKafkas checks the group-to-partition mapping against
// Java's String.hashCode (and Kafka's abs, which maps the smallest int to
// 0): the same group lands on the same partition as in Kafka.
func TestPartitionForIsKafkas(t *testing.T) {
	for _, tc := range []struct {
		group      string
		partitions int
		want       int32
	}{
		{"hello", 50, 99162322 % 50},                // "hello".hashCode() == 99162322
		{"Aa", 50, 2112 % 50},                       // == "BB".hashCode()
		{"BB", 50, 2112 % 50},                       //
		{"polygenelubricants", 50, 0},               // hashCode() == Integer.MIN_VALUE: abs gives 0
		{"\u00e9", 7, 233 % 7},                      // one UTF-16 unit
		{"\U0001F600", 50, (55357*31 + 56832) % 50}, // a surrogate pair: two units
		{"x", 1, 0},
	} {
		if got := partitionFor(tc.group, tc.partitions); got != tc.want {
			t.Errorf("partitionFor(%q, %d) = %d, want %d", tc.group, tc.partitions, got, tc.want)
		}
	}
	// A negative hash code: its absolute value.
	// "zzzzzzzz".hashCode() overflows; compute it as Java would.
	var h int32
	for _, c := range "zzzzzzzz" {
		h = 31*h + c
	}
	if h >= 0 {
		t.Fatalf("the fixture's hash %d is not negative", h)
	}
	if got := partitionFor("zzzzzzzz", 50); got != -h%50 {
		t.Fatalf("a negative hash code: %d, want %d", got, -h%50)
	}
}

func TestGroupConfig(t *testing.T) {
	var c GroupConfig
	c.setDefaults()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.OffsetsTopicPartitions != 50 || c.SessionTimeout != 45*time.Second || c.DefaultAssignor != "uniform" {
		t.Fatalf("defaults %+v", c)
	}
	if got := c.heartbeatInterval(3 * time.Second); got != time.Second {
		t.Fatalf("heartbeat interval for a 3 s session: %v", got)
	}
	if got := c.heartbeatInterval(time.Minute); got != 5*time.Second {
		t.Fatalf("heartbeat interval for a 1 min session: %v", got)
	}
	short := GroupConfig{MinSessionTimeout: 100 * time.Millisecond, MaxSessionTimeout: time.Second}
	short.setDefaults()
	if short.SessionTimeout != time.Second {
		t.Fatalf("the default session timeout within [100ms, 1s]: %v", short.SessionTimeout)
	}
	for _, bad := range []GroupConfig{
		{OffsetsTopicReplicationFactor: -1},
		{MinSessionTimeout: time.Minute, MaxSessionTimeout: time.Second},
		{DefaultAssignor: "sticky"},
	} {
		bad.setDefaults()
		if err := bad.validate(); err == nil {
			t.Errorf("%+v was accepted", bad)
		}
	}
}
