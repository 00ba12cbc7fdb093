package metadata

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strconv"
	"testing"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

func TestTopicConfigDefsTable(t *testing.T) {
	want := []struct {
		name string
		typ  ConfigType
		def  string
	}{
		{"cleanup.policy", ConfigTypeList, "delete"},
		{"compression.type", ConfigTypeString, "producer"},
		{"delete.retention.ms", ConfigTypeLong, "86400000"},
		{"file.delete.delay.ms", ConfigTypeLong, "60000"},
		{"flush.messages", ConfigTypeLong, "9223372036854775807"},
		{"flush.ms", ConfigTypeLong, "9223372036854775807"},
		{"index.interval.bytes", ConfigTypeInt, "4096"},
		{"local.retention.bytes", ConfigTypeLong, "-2"},
		{"local.retention.ms", ConfigTypeLong, "-2"},
		{"max.compaction.lag.ms", ConfigTypeLong, "9223372036854775807"},
		{"max.message.bytes", ConfigTypeInt, "1048588"},
		{"message.timestamp.after.max.ms", ConfigTypeLong, "3600000"},
		{"message.timestamp.before.max.ms", ConfigTypeLong, "9223372036854775807"},
		{"message.timestamp.difference.max.ms", ConfigTypeLong, "9223372036854775807"},
		{"message.timestamp.type", ConfigTypeString, "CreateTime"},
		{"min.cleanable.dirty.ratio", ConfigTypeDouble, "0.5"},
		{"min.compaction.lag.ms", ConfigTypeLong, "0"},
		{"min.insync.replicas", ConfigTypeInt, "1"},
		{"preallocate", ConfigTypeBoolean, "false"},
		{"remote.storage.enable", ConfigTypeBoolean, "false"},
		{"replica.lag.time.max.ms", ConfigTypeLong, "10000"},
		{"retention.bytes", ConfigTypeLong, "-1"},
		{"retention.ms", ConfigTypeLong, "604800000"},
		{"segment.bytes", ConfigTypeInt, "1073741824"},
		{"segment.index.bytes", ConfigTypeInt, "10485760"},
		{"segment.jitter.ms", ConfigTypeLong, "0"},
		{"segment.ms", ConfigTypeLong, "604800000"},
		{"unclean.leader.election.enable", ConfigTypeBoolean, "false"},
	}
	defs := TopicConfigDefs()
	if len(defs) != len(want) {
		t.Fatalf("%d configs, want %d", len(defs), len(want))
	}
	for i, w := range want {
		d := defs[i]
		if d.Name != w.name || d.Type != w.typ || d.Default != w.def {
			t.Errorf("defs[%d] = %s %v %q, want %s %v %q", i, d.Name, d.Type, d.Default, w.name, w.typ, w.def)
		}
		if d.Doc == "" {
			t.Errorf("%s has no documentation", d.Name)
		}
		if err := d.Validate(d.Default); err != nil {
			t.Errorf("default of %s does not validate: %v", d.Name, err)
		}
		got, ok := LookupTopicConfig(w.name)
		if !ok || got.Name != w.name {
			t.Errorf("LookupTopicConfig(%q) = %q, %v", w.name, got.Name, ok)
		}
	}
	if !slices.IsSortedFunc(defs, func(a, b TopicConfigDef) int { return cmpString(a.Name, b.Name) }) {
		t.Error("TopicConfigDefs is not sorted")
	}
	for _, name := range []string{"", "no.such.option", "Retention.ms", "log.retention.ms", "retention.ms "} {
		if _, ok := LookupTopicConfig(name); ok {
			t.Errorf("LookupTopicConfig(%q) found a config", name)
		}
	}
	// The returned slice is a copy.
	defs[0].Name = "changed"
	if TopicConfigDefs()[0].Name != "cleanup.policy" {
		t.Error("TopicConfigDefs shares its table")
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestConfigTypeString(t *testing.T) {
	for typ, want := range map[ConfigType]string{
		ConfigTypeBoolean: "BOOLEAN", ConfigTypeString: "STRING", ConfigTypeInt: "INT",
		ConfigTypeLong: "LONG", ConfigTypeDouble: "DOUBLE", ConfigTypeList: "LIST", 0: "ConfigType(0)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(typ), got, want)
		}
	}
}

func TestBrokerSynonyms(t *testing.T) {
	for name, want := range map[string][]string{
		"retention.ms":          {"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
		"retention.bytes":       {"log.retention.bytes"},
		"max.message.bytes":     {"message.max.bytes"},
		"cleanup.policy":        {"log.cleanup.policy"},
		"min.insync.replicas":   {"min.insync.replicas"},
		"segment.ms":            {"log.roll.ms", "log.roll.hours"},
		"remote.storage.enable": {},
	} {
		d, _ := LookupTopicConfig(name)
		if got := d.BrokerSynonyms(); !slices.Equal(got, want) {
			t.Errorf("%s synonyms = %v, want %v", name, got, want)
		}
	}
}

func TestValidateTopicConfig(t *testing.T) {
	tests := []struct {
		name, value string
		err         string // "" when valid
	}{
		// Unknown names.
		{"no.such.option", "1", "Unknown topic config name: no.such.option"},
		{"", "1", "Unknown topic config name: "},
		{"log.retention.ms", "1", "Unknown topic config name: log.retention.ms"},

		// BOOLEAN.
		{"unclean.leader.election.enable", "true", ""},
		{"unclean.leader.election.enable", "FALSE", ""},
		{"preallocate", " True ", ""},
		{"preallocate", "yes", "Invalid value yes for configuration preallocate: Expected value to be either true or false"},
		{"preallocate", "", "Invalid value  for configuration preallocate: Expected value to be either true or false"},
		{"remote.storage.enable", "false", ""},
		{"remote.storage.enable", "true", "Invalid value true for configuration remote.storage.enable: Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."},

		// INT.
		{"min.insync.replicas", "2", ""},
		{"min.insync.replicas", " 2 ", ""},
		{"min.insync.replicas", "+3", ""},
		{"min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{"min.insync.replicas", "-1", "Invalid value -1 for configuration min.insync.replicas: Value must be at least 1"},
		{"min.insync.replicas", "2147483647", ""},
		{"min.insync.replicas", "2147483648", "Invalid value 2147483648 for configuration min.insync.replicas: Not a number of type INT"},
		{"min.insync.replicas", "1.5", "Invalid value 1.5 for configuration min.insync.replicas: Not a number of type INT"},
		{"min.insync.replicas", "two", "Invalid value two for configuration min.insync.replicas: Not a number of type INT"},
		{"max.message.bytes", "0", ""},
		{"max.message.bytes", "-1", "Invalid value -1 for configuration max.message.bytes: Value must be at least 0"},
		{"segment.bytes", "14", ""},
		{"segment.bytes", "13", "Invalid value 13 for configuration segment.bytes: Value must be at least 14"},
		{"segment.index.bytes", "3", "Invalid value 3 for configuration segment.index.bytes: Value must be at least 4"},
		{"index.interval.bytes", "0", ""},

		// LONG.
		{"retention.ms", "-1", ""},
		{"retention.ms", "9223372036854775807", ""},
		{"retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"},
		{"retention.ms", "abc", "Invalid value abc for configuration retention.ms: Not a number of type LONG"},
		{"retention.ms", "", "Invalid value  for configuration retention.ms: Not a number of type LONG"},
		{"retention.ms", "9223372036854775808", "Invalid value 9223372036854775808 for configuration retention.ms: Not a number of type LONG"},
		{"retention.ms", "1_000", "Invalid value 1_000 for configuration retention.ms: Not a number of type LONG"},
		{"retention.ms", "0x10", "Invalid value 0x10 for configuration retention.ms: Not a number of type LONG"},
		{"retention.bytes", "-1", ""},
		{"retention.bytes", "-2", "Invalid value -2 for configuration retention.bytes: Value must be at least -1"},
		{"segment.ms", "0", "Invalid value 0 for configuration segment.ms: Value must be at least 1"},
		{"replica.lag.time.max.ms", "1", ""},
		{"replica.lag.time.max.ms", "0", "Invalid value 0 for configuration replica.lag.time.max.ms: Value must be at least 1"},
		{"max.compaction.lag.ms", "0", "Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1"},
		{"delete.retention.ms", "-1", "Invalid value -1 for configuration delete.retention.ms: Value must be at least 0"},
		{"flush.messages", "0", "Invalid value 0 for configuration flush.messages: Value must be at least 1"},
		{"local.retention.ms", "-2", ""},
		{"local.retention.bytes", "-3", "Invalid value -3 for configuration local.retention.bytes: Value must be at least -2"},
		{"message.timestamp.difference.max.ms", "-1", "Invalid value -1 for configuration message.timestamp.difference.max.ms: Value must be at least 0"},
		{"message.timestamp.after.max.ms", "0", ""},

		// DOUBLE.
		{"min.cleanable.dirty.ratio", "0", ""},
		{"min.cleanable.dirty.ratio", "1", ""},
		{"min.cleanable.dirty.ratio", "0.75", ""},
		{"min.cleanable.dirty.ratio", "1e-1", ""},
		{"min.cleanable.dirty.ratio", "1.5", "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"},
		{"min.cleanable.dirty.ratio", "-0.1", "Invalid value -0.1 for configuration min.cleanable.dirty.ratio: Value must be at least 0"},
		{"min.cleanable.dirty.ratio", "NaN", "Invalid value NaN for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE"},
		{"min.cleanable.dirty.ratio", "Inf", "Invalid value Inf for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE"},
		{"min.cleanable.dirty.ratio", "half", "Invalid value half for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE"},

		// STRING with a set of values (case-sensitive, as Kafka's ValidString).
		{"message.timestamp.type", "LogAppendTime", ""},
		{"message.timestamp.type", "logappendtime", "Invalid value logappendtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"},
		{"compression.type", "zstd", ""},
		{"compression.type", "brotli", "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},

		// LIST.
		{"cleanup.policy", "delete", ""},
		{"cleanup.policy", "compact", ""},
		{"cleanup.policy", "compact,delete", ""},
		{"cleanup.policy", " delete , compact ", ""},
		{"cleanup.policy", "x", "Invalid value x for configuration cleanup.policy: String must be one of: compact, delete"},
		{"cleanup.policy", "delete,x", "Invalid value x for configuration cleanup.policy: String must be one of: compact, delete"},
		{"cleanup.policy", "Delete", "Invalid value Delete for configuration cleanup.policy: String must be one of: compact, delete"},
		{"cleanup.policy", "delete,", "Invalid value  for configuration cleanup.policy: String must be one of: compact, delete"},
		{"cleanup.policy", "delete,delete", "Invalid value delete,delete for configuration cleanup.policy: Values must not be duplicated"},
		{"cleanup.policy", "", "Invalid value  for configuration cleanup.policy: List must not be empty; valid values are: compact, delete"},
		{"cleanup.policy", "  ", "Invalid value    for configuration cleanup.policy: List must not be empty; valid values are: compact, delete"},
	}
	for _, tt := range tests {
		err := ValidateTopicConfig(tt.name, tt.value)
		if tt.err == "" {
			if err != nil {
				t.Errorf("ValidateTopicConfig(%q, %q) = %v, want nil", tt.name, tt.value, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.err {
			t.Errorf("ValidateTopicConfig(%q, %q) = %v, want %q", tt.name, tt.value, err, tt.err)
			continue
		}
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ValidateTopicConfig(%q, %q) = %v does not wrap ErrInvalidConfig", tt.name, tt.value, err)
		}
	}
}

func TestValidateTopicConfigs(t *testing.T) {
	tests := []struct {
		configs map[string]string
		rf      int
		err     string
	}{
		{nil, 3, ""},
		{map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}, 3, ""},
		// The first error in name order, whatever the map's order.
		{map[string]string{"segment.ms": "0", "retention.ms": "x", "zzz": "1"}, 3,
			"Invalid value x for configuration retention.ms: Not a number of type LONG"},
		{map[string]string{"zzz": "1", "aaa": "1"}, 3, "Unknown topic config name: aaa"},
		{map[string]string{"min.compaction.lag.ms": "100", "max.compaction.lag.ms": "100"}, 3, ""},
		{map[string]string{"min.compaction.lag.ms": "101", "max.compaction.lag.ms": "100"}, 3,
			"conflict topic config setting min.compaction.lag.ms (101) > max.compaction.lag.ms (100)"},
		{map[string]string{"min.insync.replicas": "3"}, 3, ""},
		{map[string]string{"min.insync.replicas": "4"}, 3,
			"Invalid value 4 for configuration min.insync.replicas: Value must be no more than the replication factor 3"},
		{map[string]string{"min.insync.replicas": "4"}, 0, ""}, // replication factor unknown
	}
	for _, tt := range tests {
		err := ValidateTopicConfigs(tt.configs, tt.rf)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ValidateTopicConfigs(%v, %d) = %v, want nil", tt.configs, tt.rf, err)
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("ValidateTopicConfigs(%v, %d) = %v, want %q", tt.configs, tt.rf, err, tt.err)
		case tt.err != "" && !errors.Is(err, ErrInvalidConfig):
			t.Errorf("ValidateTopicConfigs(%v, %d) = %v does not wrap ErrInvalidConfig", tt.configs, tt.rf, err)
		}
	}
}

func alterOp(op stratav1.AlterConfigOpType, name, value string) *stratav1.AlterConfigOp {
	return &stratav1.AlterConfigOp{Op: op, Name: name, Value: value}
}

func TestAlterTopicConfigs(t *testing.T) {
	const (
		set      = stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_SET
		del      = stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_DELETE
		appendOp = stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_APPEND
		subtract = stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_SUBTRACT
	)
	tests := []struct {
		name    string
		current map[string]string
		ops     []*stratav1.AlterConfigOp
		want    map[string]string
		err     string
	}{
		{"set", nil, []*stratav1.AlterConfigOp{alterOp(set, "retention.ms", "1000")},
			map[string]string{"retention.ms": "1000"}, ""},
		{"set replaces", map[string]string{"retention.ms": "5"}, []*stratav1.AlterConfigOp{alterOp(set, "retention.ms", "6")},
			map[string]string{"retention.ms": "6"}, ""},
		{"delete", map[string]string{"retention.ms": "5", "segment.ms": "7"}, []*stratav1.AlterConfigOp{alterOp(del, "retention.ms", "")},
			map[string]string{"segment.ms": "7"}, ""},
		{"delete absent", nil, []*stratav1.AlterConfigOp{alterOp(del, "retention.ms", "")}, map[string]string{}, ""},
		{"delete unsupported name", map[string]string{"old.config": "1"}, []*stratav1.AlterConfigOp{alterOp(del, "old.config", "")},
			map[string]string{}, ""},
		{"append to default", nil, []*stratav1.AlterConfigOp{alterOp(appendOp, "cleanup.policy", "compact")},
			map[string]string{"cleanup.policy": "delete,compact"}, ""},
		{"append present", map[string]string{"cleanup.policy": "compact"}, []*stratav1.AlterConfigOp{alterOp(appendOp, "cleanup.policy", "compact")},
			map[string]string{"cleanup.policy": "compact"}, ""},
		{"append two", map[string]string{"cleanup.policy": "compact"}, []*stratav1.AlterConfigOp{alterOp(appendOp, "cleanup.policy", "compact, delete")},
			map[string]string{"cleanup.policy": "compact,delete"}, ""},
		{"subtract", map[string]string{"cleanup.policy": "compact,delete"}, []*stratav1.AlterConfigOp{alterOp(subtract, "cleanup.policy", "delete")},
			map[string]string{"cleanup.policy": "compact"}, ""},
		{"subtract absent element", map[string]string{"cleanup.policy": "compact"}, []*stratav1.AlterConfigOp{alterOp(subtract, "cleanup.policy", "delete")},
			map[string]string{"cleanup.policy": "compact"}, ""},
		{"subtract everything", nil, []*stratav1.AlterConfigOp{alterOp(subtract, "cleanup.policy", "delete")}, nil,
			"Invalid value  for configuration cleanup.policy: List must not be empty; valid values are: compact, delete"},
		{"append bad element", nil, []*stratav1.AlterConfigOp{alterOp(appendOp, "cleanup.policy", "x")}, nil,
			"Invalid value x for configuration cleanup.policy: String must be one of: compact, delete"},
		{"append to non-list", nil, []*stratav1.AlterConfigOp{alterOp(appendOp, "retention.ms", "1")}, nil,
			"Config value append is not allowed for config key: retention.ms"},
		{"subtract from non-list", nil, []*stratav1.AlterConfigOp{alterOp(subtract, "retention.ms", "1")}, nil,
			"Config value subtract is not allowed for config key: retention.ms"},
		{"append unknown", nil, []*stratav1.AlterConfigOp{alterOp(appendOp, "no.such.option", "1")}, nil,
			"Unknown topic config name: no.such.option"},
		{"set unknown", nil, []*stratav1.AlterConfigOp{alterOp(set, "no.such.option", "1")}, nil,
			"Unknown topic config name: no.such.option"},
		{"set invalid", nil, []*stratav1.AlterConfigOp{alterOp(set, "min.insync.replicas", "0")}, nil,
			"Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{"set beyond replication factor", nil, []*stratav1.AlterConfigOp{alterOp(set, "min.insync.replicas", "4")}, nil,
			"Invalid value 4 for configuration min.insync.replicas: Value must be no more than the replication factor 3"},
		{"conflict with current", map[string]string{"max.compaction.lag.ms": "10"}, []*stratav1.AlterConfigOp{alterOp(set, "min.compaction.lag.ms", "11")}, nil,
			"conflict topic config setting min.compaction.lag.ms (11) > max.compaction.lag.ms (10)"},
		{"duplicate keys", nil, []*stratav1.AlterConfigOp{alterOp(set, "retention.ms", "1"), alterOp(del, "retention.ms", "")}, nil,
			"Error due to duplicate config keys"},
		{"unspecified op", nil, []*stratav1.AlterConfigOp{alterOp(stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_UNSPECIFIED, "retention.ms", "1")}, nil,
			"Unknown alter config operation ALTER_CONFIG_OP_TYPE_UNSPECIFIED for config key: retention.ms"},
		{"several", map[string]string{"retention.ms": "5", "segment.ms": "7"}, []*stratav1.AlterConfigOp{
			alterOp(set, "retention.bytes", "100"), alterOp(del, "segment.ms", ""), alterOp(appendOp, "cleanup.policy", "compact"),
		}, map[string]string{"retention.ms": "5", "retention.bytes": "100", "cleanup.policy": "delete,compact"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(tt.current)
			got, err := AlterTopicConfigs(tt.current, tt.ops, 3)
			if !maps.Equal(tt.current, before) {
				t.Errorf("current changed to %v", tt.current)
			}
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("err = %v, want %q wrapping ErrInvalidConfig", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func defaultTopicConfig() TopicConfig {
	return TopicConfig{
		CleanupDelete:                   true,
		CompressionType:                 CompressionProducer,
		DeleteRetentionMs:               86400000,
		FileDeleteDelayMs:               60000,
		FlushMessages:                   math.MaxInt64,
		FlushMs:                         math.MaxInt64,
		IndexIntervalBytes:              4096,
		LocalRetentionBytes:             -2,
		LocalRetentionMs:                -2,
		MaxCompactionLagMs:              math.MaxInt64,
		MaxMessageBytes:                 1048588,
		MinCleanableDirtyRatio:          0.5,
		MinCompactionLagMs:              0,
		MinInsyncReplicas:               1,
		MessageTimestampType:            TimestampCreateTime,
		MessageTimestampBeforeMaxMs:     math.MaxInt64,
		MessageTimestampAfterMaxMs:      3600000,
		MessageTimestampDifferenceMaxMs: math.MaxInt64,
		ReplicaLagTimeMaxMs:             10000,
		RetentionBytes:                  -1,
		RetentionMs:                     604800000,
		SegmentBytes:                    1073741824,
		SegmentIndexBytes:               10485760,
		SegmentMs:                       604800000,
	}
}

func TestEffectiveTopicConfigDefaults(t *testing.T) {
	if got, want := EffectiveTopicConfig(nil, nil), defaultTopicConfig(); got != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestEffectiveTopicConfigPrecedence(t *testing.T) {
	tests := []struct {
		name          string
		topic, broker map[string]string
		check         func(TopicConfig) bool
	}{
		{"topic beats broker", map[string]string{"retention.ms": "1000"}, map[string]string{"log.retention.ms": "2000"},
			func(c TopicConfig) bool { return c.RetentionMs == 1000 }},
		{"broker beats built-in", nil, map[string]string{"log.retention.ms": "2000"},
			func(c TopicConfig) bool { return c.RetentionMs == 2000 }},
		{"broker minutes", nil, map[string]string{"log.retention.minutes": "3"},
			func(c TopicConfig) bool { return c.RetentionMs == 3*60000 }},
		{"broker hours", nil, map[string]string{"log.retention.hours": "168"},
			func(c TopicConfig) bool { return c.RetentionMs == 604800000 }},
		{"broker ms beats minutes beats hours", nil, map[string]string{"log.retention.ms": "5", "log.retention.minutes": "3", "log.retention.hours": "1"},
			func(c TopicConfig) bool { return c.RetentionMs == 5 }},
		{"broker minutes beat hours", nil, map[string]string{"log.retention.minutes": "3", "log.retention.hours": "1"},
			func(c TopicConfig) bool { return c.RetentionMs == 180000 }},
		{"negative hours is unlimited", nil, map[string]string{"log.retention.hours": "-1"},
			func(c TopicConfig) bool { return c.RetentionMs == -1 }},
		{"roll hours", nil, map[string]string{"log.roll.hours": "2"},
			func(c TopicConfig) bool { return c.SegmentMs == 2*3600000 }},
		{"jitter hours", nil, map[string]string{"log.roll.jitter.hours": "1"},
			func(c TopicConfig) bool { return c.SegmentJitterMs == 3600000 }},
		{"retention bytes", nil, map[string]string{"log.retention.bytes": "1024"},
			func(c TopicConfig) bool { return c.RetentionBytes == 1024 }},
		{"min ISR", map[string]string{"min.insync.replicas": "2"}, map[string]string{"min.insync.replicas": "3"},
			func(c TopicConfig) bool { return c.MinInsyncReplicas == 2 }},
		{"min ISR from broker", nil, map[string]string{"min.insync.replicas": "3"},
			func(c TopicConfig) bool { return c.MinInsyncReplicas == 3 }},
		{"message.max.bytes", nil, map[string]string{"message.max.bytes": "2048"},
			func(c TopicConfig) bool { return c.MaxMessageBytes == 2048 }},
		{"max.message.bytes is not a broker name", nil, map[string]string{"max.message.bytes": "2048"},
			func(c TopicConfig) bool { return c.MaxMessageBytes == 1048588 }},
		{"unclean from broker", nil, map[string]string{"unclean.leader.election.enable": "true"},
			func(c TopicConfig) bool { return c.UncleanLeaderElectionEnable }},
		{"unclean topic false beats broker true", map[string]string{"unclean.leader.election.enable": "false"},
			map[string]string{"unclean.leader.election.enable": "true"},
			func(c TopicConfig) bool { return !c.UncleanLeaderElectionEnable }},
		{"cleanup policy from broker", nil, map[string]string{"log.cleanup.policy": "compact"},
			func(c TopicConfig) bool { return c.CleanupCompact && !c.CleanupDelete }},
		{"cleanup policy both", map[string]string{"cleanup.policy": "compact,delete"}, nil,
			func(c TopicConfig) bool { return c.CleanupCompact && c.CleanupDelete }},
		{"timestamp type", map[string]string{"message.timestamp.type": "LogAppendTime"}, nil,
			func(c TopicConfig) bool { return c.MessageTimestampType == TimestampLogAppendTime }},
		{"replica lag", nil, map[string]string{"replica.lag.time.max.ms": "30000"},
			func(c TopicConfig) bool { return c.ReplicaLagTimeMaxMs == 30000 }},
		{"white space", map[string]string{"retention.ms": " 42 "}, nil,
			func(c TopicConfig) bool { return c.RetentionMs == 42 }},
		{"difference stands in for before and after", map[string]string{"message.timestamp.difference.max.ms": "500"}, nil,
			func(c TopicConfig) bool {
				return c.MessageTimestampBeforeMaxMs == 500 && c.MessageTimestampAfterMaxMs == 500 && c.MessageTimestampDifferenceMaxMs == 500
			}},
		{"before and after beat difference", map[string]string{"message.timestamp.difference.max.ms": "500", "message.timestamp.after.max.ms": "7"}, nil,
			func(c TopicConfig) bool {
				return c.MessageTimestampBeforeMaxMs == 500 && c.MessageTimestampAfterMaxMs == 7
			}},
		{"topic difference beats broker after", map[string]string{"message.timestamp.difference.max.ms": "500"},
			map[string]string{"log.message.timestamp.after.max.ms": "9"},
			func(c TopicConfig) bool { return c.MessageTimestampAfterMaxMs == 500 }},
		{"broker difference", nil, map[string]string{"log.message.timestamp.difference.max.ms": "600"},
			func(c TopicConfig) bool {
				return c.MessageTimestampBeforeMaxMs == 600 && c.MessageTimestampAfterMaxMs == 600
			}},
		{"unknown names ignored", map[string]string{"no.such": "x"}, map[string]string{"no.such": "y"},
			func(c TopicConfig) bool { return c == defaultTopicConfig() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := EffectiveTopicConfig(tt.topic, tt.broker); !tt.check(c) {
				t.Errorf("got %+v", c)
			}
		})
	}
}

func TestEffectiveTopicConfigSkipsInvalid(t *testing.T) {
	c := EffectiveTopicConfig(
		map[string]string{"retention.ms": "abc", "min.insync.replicas": "0", "remote.storage.enable": "true",
			"cleanup.policy": "", "segment.bytes": "1024"},
		map[string]string{"log.retention.ms": "-5", "log.retention.minutes": "2", "min.insync.replicas": "2",
			"log.roll.hours": "0", "message.max.bytes": "big", "log.cleanup.policy": "compact,compact",
			"log.segment.bytes": "2048"},
	)
	want := defaultTopicConfig()
	want.RetentionMs = 120000  // topic invalid, log.retention.ms invalid, log.retention.minutes
	want.MinInsyncReplicas = 2 // topic invalid
	want.SegmentBytes = 1024   // topic valid
	if c != want {
		t.Errorf("got\n %+v\nwant\n %+v", c, want)
	}
}

// nonDefault returns a valid value of d other than its default.
func nonDefault(t *testing.T, d TopicConfigDef) string {
	t.Helper()
	switch d.Type {
	case ConfigTypeBoolean:
		return "true"
	case ConfigTypeString, ConfigTypeList:
		for _, v := range d.oneOf {
			if v != d.Default {
				return v
			}
		}
	case ConfigTypeInt, ConfigTypeLong:
		n, _ := strconv.ParseInt(d.Default, 10, 64)
		if n == d.max {
			return strconv.FormatInt(n-1, 10)
		}
		return strconv.FormatInt(n+1, 10)
	case ConfigTypeDouble:
		return "0.25"
	}
	t.Fatalf("no other value for %s", d.Name)
	return ""
}

// Every config reaches a field of TopicConfig, from the topic and from its
// first broker synonym.
func TestEffectiveTopicConfigCoversEveryConfig(t *testing.T) {
	for _, d := range TopicConfigDefs() {
		if d.Name == "remote.storage.enable" {
			continue // always false
		}
		v := nonDefault(t, d)
		if c := EffectiveTopicConfig(map[string]string{d.Name: v}, nil); c == defaultTopicConfig() {
			t.Errorf("topic %s=%s: no effect", d.Name, v)
		}
		syns := d.BrokerSynonyms()
		if len(syns) == 0 {
			t.Errorf("%s has no broker synonym", d.Name)
			continue
		}
		if c := EffectiveTopicConfig(nil, map[string]string{syns[0]: v}); c == defaultTopicConfig() {
			t.Errorf("broker %s=%s: no effect", syns[0], v)
		}
		for _, sy := range syns {
			if err := ValidateBrokerConfig(sy, d.Default); sy == syns[0] && err != nil {
				t.Errorf("ValidateBrokerConfig(%s, %s) = %v", sy, d.Default, err)
			}
		}
	}
}

func TestValidateBrokerConfig(t *testing.T) {
	tests := []struct {
		name, value string
		err         string
	}{
		{"log.retention.ms", "-1", ""},
		{"log.retention.ms", "x", "Invalid value x for configuration log.retention.ms: Not a number of type LONG"},
		{"log.retention.ms", "-2", "Invalid value -2 for configuration log.retention.ms: Value must be at least -1"},
		{"log.retention.hours", "168", ""},
		{"log.retention.hours", "-1", ""},
		{"log.retention.minutes", "3000000000", "Invalid value 3000000000 for configuration log.retention.minutes: Not a number of type INT"},
		{"log.roll.hours", "0", "Invalid value 0 for configuration log.roll.hours: Value must be at least 1 (as 0 ms)"},
		{"log.roll.hours", "1", ""},
		{"message.max.bytes", "2048", ""},
		{"min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{"unclean.leader.election.enable", "maybe", "Invalid value maybe for configuration unclean.leader.election.enable: Expected value to be either true or false"},
		{"log.cleanup.policy", "compact,delete", ""},
		{"log.cleanup.policy", "x", "Invalid value x for configuration log.cleanup.policy: String must be one of: compact, delete"},
		{"compression.type", "lz4", ""},
		{"replica.lag.time.max.ms", "30000", ""},
		{"retention.ms", "1", "Unknown broker config name: retention.ms"},
		{"max.message.bytes", "1", "Unknown broker config name: max.message.bytes"},
		{"no.such.option", "1", "Unknown broker config name: no.such.option"},
	}
	for _, tt := range tests {
		err := ValidateBrokerConfig(tt.name, tt.value)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ValidateBrokerConfig(%q, %q) = %v, want nil", tt.name, tt.value, err)
		case tt.err != "" && (err == nil || err.Error() != tt.err || !errors.Is(err, ErrInvalidConfig)):
			t.Errorf("ValidateBrokerConfig(%q, %q) = %v, want %q wrapping ErrInvalidConfig", tt.name, tt.value, err, tt.err)
		}
	}
}

func TestIsListConfig(t *testing.T) {
	for name, want := range map[string]bool{
		"cleanup.policy": true, "log.cleanup.policy": true,
		"retention.ms": false, "log.retention.ms": false, "compression.type": false, "no.such": false, "": false,
	} {
		if got := IsListConfig(name); got != want {
			t.Errorf("IsListConfig(%q) = %v, want %v", name, got, want)
		}
	}
}
