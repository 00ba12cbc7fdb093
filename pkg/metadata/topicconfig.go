package metadata

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// ErrInvalidConfig is wrapped by every error about topic configs: an unknown
// name, a value of the wrong type or out of range, configs that conflict, or
// an alteration that cannot be applied. The error's text is Kafka's
// INVALID_CONFIG message as it is, without a prefix, so that it can go into
// a response unchanged.
var ErrInvalidConfig = errors.New("invalid config")

// configError is an INVALID_CONFIG error whose text is exactly msg.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }
func (e *configError) Unwrap() error { return ErrInvalidConfig }

func configErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// invalidValue is Kafka's ConfigException text.
func invalidValue(name, value, why string) error {
	return configErrorf("Invalid value %s for configuration %s: %s", value, name, why)
}

// ConfigType is the type of a config's value, as Kafka's ConfigDef.Type.
type ConfigType int

// The config types. The values are not stable across versions: do not
// store them.
const (
	ConfigTypeBoolean ConfigType = iota + 1
	ConfigTypeString
	ConfigTypeInt
	ConfigTypeLong
	ConfigTypeDouble
	ConfigTypeList
)

// String is Kafka's name of the type (BOOLEAN, STRING, INT, LONG, DOUBLE,
// LIST).
func (t ConfigType) String() string {
	switch t {
	case ConfigTypeBoolean:
		return "BOOLEAN"
	case ConfigTypeString:
		return "STRING"
	case ConfigTypeInt:
		return "INT"
	case ConfigTypeLong:
		return "LONG"
	case ConfigTypeDouble:
		return "DOUBLE"
	case ConfigTypeList:
		return "LIST"
	default:
		return "ConfigType(" + strconv.Itoa(int(t)) + ")"
	}
}

// TimestampType is the message.timestamp.type of a topic.
type TimestampType string

// The timestamp types, spelled as in Kafka.
const (
	TimestampCreateTime    TimestampType = "CreateTime"
	TimestampLogAppendTime TimestampType = "LogAppendTime"
)

// CompressionType is the compression.type of a topic: "producer" keeps the
// producer's codec, anything else is the codec the topic's batches must have.
type CompressionType string

// The compression types, spelled as in Kafka.
const (
	CompressionUncompressed CompressionType = "uncompressed"
	CompressionZstd         CompressionType = "zstd"
	CompressionLZ4          CompressionType = "lz4"
	CompressionSnappy       CompressionType = "snappy"
	CompressionGzip         CompressionType = "gzip"
	CompressionProducer     CompressionType = "producer"
)

// TopicConfigDef describes one supported topic config. Values are checked
// as Kafka's ConfigDef checks them: surrounding white space is ignored,
// booleans are case-insensitive, enumerated strings are case-sensitive, and
// list elements are separated by commas.
type TopicConfigDef struct {
	Name string
	Type ConfigType
	// Default is the built-in default, as Kafka prints it.
	Default string
	// Doc is one line of documentation.
	Doc string

	// For INT and LONG: the inclusive bounds (the type's limits when
	// unbounded). For DOUBLE: minF and maxF.
	min, max   int64
	minF, maxF float64
	// For STRING and LIST: the allowed values, in the order messages list
	// them. Nil allows any string.
	oneOf []string
	// extra checks a parsed value further; it returns the reason it is
	// invalid, or "".
	extra func(configValue) string
	// synonyms are the broker configs that set this config's cluster
	// default, in precedence order.
	synonyms []synonym
}

// synonym is a broker-level config that gives a topic config's default.
// scale converts its unit to the topic config's (minutes and hours to ms).
type synonym struct {
	name  string
	scale int64
}

// BrokerSynonyms are the broker configs that give the cluster-wide default
// of this config, in precedence order (as Kafka's
// log.retention.ms > log.retention.minutes > log.retention.hours).
func (d TopicConfigDef) BrokerSynonyms() []string {
	names := make([]string, len(d.synonyms))
	for i, s := range d.synonyms {
		names[i] = s.name
	}
	return names
}

// Validate checks a value for this config. Errors wrap ErrInvalidConfig.
func (d TopicConfigDef) Validate(value string) error {
	_, err := d.parse(d.Name, value)
	return err
}

// configValue is a parsed value; the field that is set depends on the type.
type configValue struct {
	b    bool
	i    int64
	f    float64
	s    string
	list []string
}

// parse parses and validates value; name is the config named in errors (a
// broker synonym's name when the value came from one).
func (d TopicConfigDef) parse(name, value string) (configValue, error) {
	v, shown, why := d.check(value)
	if why != "" {
		return v, invalidValue(name, shown, why)
	}
	return v, nil
}

// check parses and validates value. When it is invalid, why says why and
// shown is what the message shows: the value, or the offending list element.
func (d TopicConfigDef) check(value string) (v configValue, shown, why string) {
	trimmed := strings.TrimSpace(value)
	switch d.Type {
	case ConfigTypeBoolean:
		switch {
		case strings.EqualFold(trimmed, "true"):
			v.b = true
		case strings.EqualFold(trimmed, "false"):
		default:
			return v, value, "Expected value to be either true or false"
		}
	case ConfigTypeInt, ConfigTypeLong:
		bits := 64
		if d.Type == ConfigTypeInt {
			bits = 32
		}
		n, err := strconv.ParseInt(trimmed, 10, bits)
		switch {
		case err != nil:
			return v, value, "Not a number of type " + d.Type.String()
		case n < d.min:
			return v, value, "Value must be at least " + strconv.FormatInt(d.min, 10)
		case n > d.max:
			return v, value, "Value must be no more than " + strconv.FormatInt(d.max, 10)
		}
		v.i = n
	case ConfigTypeDouble:
		f, err := strconv.ParseFloat(trimmed, 64)
		switch {
		case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
			return v, value, "Not a number of type DOUBLE"
		case f < d.minF:
			return v, value, "Value must be at least " + formatFloat(d.minF)
		case f > d.maxF:
			return v, value, "Value must be no more than " + formatFloat(d.maxF)
		}
		v.f = f
	case ConfigTypeString:
		if d.oneOf != nil && !slices.Contains(d.oneOf, trimmed) {
			return v, value, "String must be one of: " + strings.Join(d.oneOf, ", ")
		}
		v.s = trimmed
	case ConfigTypeList:
		list := splitList(trimmed)
		if len(list) == 0 {
			return v, value, "List must not be empty; valid values are: " + strings.Join(d.oneOf, ", ")
		}
		for i, e := range list {
			if d.oneOf != nil && !slices.Contains(d.oneOf, e) {
				return v, e, "String must be one of: " + strings.Join(d.oneOf, ", ")
			}
			if slices.Contains(list[:i], e) {
				return v, value, "Values must not be duplicated"
			}
		}
		v.list = list
	default:
		return v, value, "Unknown config type " + d.Type.String()
	}
	if d.extra != nil {
		if why := d.extra(v); why != "" {
			return v, value, why
		}
	}
	return v, "", ""
}

// splitList splits a trimmed list value on commas, trimming each element.
// An empty value is an empty list.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// Config names, units and values the table and the resolver use.
const (
	cfgCleanupPolicy           = "cleanup.policy"
	cfgCompressionType         = "compression.type"
	cfgDeleteRetentionMs       = "delete.retention.ms"
	cfgFileDeleteDelayMs       = "file.delete.delay.ms"
	cfgFlushMessages           = "flush.messages"
	cfgFlushMs                 = "flush.ms"
	cfgIndexIntervalBytes      = "index.interval.bytes"
	cfgLocalRetentionBytes     = "local.retention.bytes"
	cfgLocalRetentionMs        = "local.retention.ms"
	cfgMaxCompactionLagMs      = "max.compaction.lag.ms"
	cfgMaxMessageBytes         = "max.message.bytes"
	cfgTimestampAfterMaxMs     = "message.timestamp.after.max.ms"
	cfgTimestampBeforeMaxMs    = "message.timestamp.before.max.ms"
	cfgTimestampDifferenceMax  = "message.timestamp.difference.max.ms"
	cfgTimestampType           = "message.timestamp.type"
	cfgMinCleanableDirtyRatio  = "min.cleanable.dirty.ratio"
	cfgMinCompactionLagMs      = "min.compaction.lag.ms"
	cfgMinInsyncReplicas       = "min.insync.replicas"
	cfgPreallocate             = "preallocate"
	cfgRemoteStorageEnable     = "remote.storage.enable"
	cfgReplicaLagTimeMaxMs     = "replica.lag.time.max.ms"
	cfgRetentionBytes          = "retention.bytes"
	cfgRetentionMs             = "retention.ms"
	cfgSegmentBytes            = "segment.bytes"
	cfgSegmentIndexBytes       = "segment.index.bytes"
	cfgSegmentJitterMs         = "segment.jitter.ms"
	cfgSegmentMs               = "segment.ms"
	cfgUncleanLeaderElection   = "unclean.leader.election.enable"
	msPerMinute                = 60 * 1000
	msPerHour                  = 60 * msPerMinute
	maxLongString              = "9223372036854775807"
	cleanupDelete              = "delete"
	cleanupCompact             = "compact"
	tieredStorageDisabledError = "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
)

func syn(names ...string) []synonym {
	s := make([]synonym, len(names))
	for i, n := range names {
		s[i] = synonym{name: n, scale: 1}
	}
	return s
}

func longDef(name, def string, lo int64, doc string, synonyms ...synonym) TopicConfigDef {
	return TopicConfigDef{Name: name, Type: ConfigTypeLong, Default: def, Doc: doc,
		min: lo, max: math.MaxInt64, synonyms: synonyms}
}

func intDef(name, def string, lo int64, doc string, synonyms ...synonym) TopicConfigDef {
	return TopicConfigDef{Name: name, Type: ConfigTypeInt, Default: def, Doc: doc,
		min: lo, max: math.MaxInt32, synonyms: synonyms}
}

func boolDef(name, def, doc string, synonyms ...synonym) TopicConfigDef {
	return TopicConfigDef{Name: name, Type: ConfigTypeBoolean, Default: def, Doc: doc, synonyms: synonyms}
}

func stringDef(name, def string, oneOf []string, doc string, synonyms ...synonym) TopicConfigDef {
	return TopicConfigDef{Name: name, Type: ConfigTypeString, Default: def, Doc: doc, oneOf: oneOf, synonyms: synonyms}
}

// topicConfigDefs is the table of supported topic configs, sorted by name.
var topicConfigDefs = sortedDefs([]TopicConfigDef{
	{
		Name: cfgCleanupPolicy, Type: ConfigTypeList, Default: cleanupDelete,
		Doc:      "How old segments are removed: delete (by retention.ms and retention.bytes), compact (keep the last record of each key), or both.",
		oneOf:    []string{cleanupCompact, cleanupDelete},
		synonyms: syn("log.cleanup.policy"),
	},
	stringDef(cfgCompressionType, string(CompressionProducer),
		[]string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"},
		"The codec of the topic's batches; producer keeps the codec the producer chose.",
		syn("compression.type")...),
	longDef(cfgDeleteRetentionMs, "86400000", 0,
		"How long delete tombstones stay readable on compacted topics.",
		syn("log.cleaner.delete.retention.ms")...),
	longDef(cfgFileDeleteDelayMs, "60000", 0,
		"How long a deleted segment waits before its data is removed.",
		syn("log.segment.delete.delay.ms")...),
	longDef(cfgFlushMessages, maxLongString, 1,
		"Force a sync to disk after this many messages.",
		syn("log.flush.interval.messages")...),
	longDef(cfgFlushMs, maxLongString, 0,
		"Force a sync to disk when data is older than this.",
		syn("log.flush.interval.ms", "log.flush.scheduler.interval.ms")...),
	intDef(cfgIndexIntervalBytes, "4096", 0,
		"Bytes of log between two offset index entries.",
		syn("log.index.interval.bytes")...),
	longDef(cfgLocalRetentionBytes, "-2", -2,
		"Bytes kept locally when remote storage is on; -2 means retention.bytes.",
		syn("log.local.retention.bytes")...),
	longDef(cfgLocalRetentionMs, "-2", -2,
		"Time kept locally when remote storage is on; -2 means retention.ms.",
		syn("log.local.retention.ms")...),
	longDef(cfgMaxCompactionLagMs, maxLongString, 1,
		"Longest time a record stays uncompacted on a compacted topic.",
		syn("log.cleaner.max.compaction.lag.ms")...),
	intDef(cfgMaxMessageBytes, "1048588", 0,
		"Largest record batch size the topic accepts, in bytes.",
		syn("message.max.bytes")...),
	longDef(cfgTimestampAfterMaxMs, "3600000", 0,
		"How far a CreateTime timestamp may be ahead of the broker's clock.",
		syn("log.message.timestamp.after.max.ms")...),
	longDef(cfgTimestampBeforeMaxMs, maxLongString, 0,
		"How far a CreateTime timestamp may be behind the broker's clock.",
		syn("log.message.timestamp.before.max.ms")...),
	longDef(cfgTimestampDifferenceMax, maxLongString, 0,
		"Deprecated: both before.max.ms and after.max.ms when they are not set.",
		syn("log.message.timestamp.difference.max.ms")...),
	stringDef(cfgTimestampType, string(TimestampCreateTime),
		[]string{string(TimestampCreateTime), string(TimestampLogAppendTime)},
		"Whether record timestamps are the producer's (CreateTime) or the broker's (LogAppendTime).",
		syn("log.message.timestamp.type")...),
	{
		Name: cfgMinCleanableDirtyRatio, Type: ConfigTypeDouble, Default: "0.5",
		Doc:      "Smallest share of uncompacted log that triggers compaction.",
		minF:     0,
		maxF:     1,
		synonyms: syn("log.cleaner.min.cleanable.ratio"),
	},
	longDef(cfgMinCompactionLagMs, "0", 0,
		"Shortest time a record stays uncompacted on a compacted topic.",
		syn("log.cleaner.min.compaction.lag.ms")...),
	intDef(cfgMinInsyncReplicas, "1", 1,
		"Fewest in-sync replicas for an acks=all write to succeed.",
		syn("min.insync.replicas")...),
	boolDef(cfgPreallocate, "false",
		"Preallocate space for new segments.",
		syn("log.preallocate")...),
	{
		Name: cfgRemoteStorageEnable, Type: ConfigTypeBoolean, Default: "false",
		Doc: "Tiered storage; Strata has none, so only false is accepted.",
		extra: func(v configValue) string {
			if v.b {
				return tieredStorageDisabledError
			}
			return ""
		},
	},
	longDef(cfgReplicaLagTimeMaxMs, "10000", 1,
		"How long a follower may lag before it leaves the ISR.",
		syn("replica.lag.time.max.ms")...),
	longDef(cfgRetentionBytes, "-1", -1,
		"Largest size of a partition before old segments are deleted; -1 is no limit.",
		syn("log.retention.bytes")...),
	longDef(cfgRetentionMs, "604800000", -1,
		"Longest time a segment is kept before it is deleted; -1 is no limit.",
		synonym{"log.retention.ms", 1}, synonym{"log.retention.minutes", msPerMinute}, synonym{"log.retention.hours", msPerHour}),
	intDef(cfgSegmentBytes, "1073741824", 14,
		"Size of a log segment, in bytes.",
		syn("log.segment.bytes")...),
	intDef(cfgSegmentIndexBytes, "10485760", 4,
		"Size of a segment's offset index, in bytes.",
		syn("log.index.size.max.bytes")...),
	longDef(cfgSegmentJitterMs, "0", 0,
		"Largest random jitter subtracted from segment.ms.",
		synonym{"log.roll.jitter.ms", 1}, synonym{"log.roll.jitter.hours", msPerHour}),
	longDef(cfgSegmentMs, "604800000", 1,
		"Longest time before a new segment is rolled.",
		synonym{"log.roll.ms", 1}, synonym{"log.roll.hours", msPerHour}),
	boolDef(cfgUncleanLeaderElection, "false",
		"Whether a replica outside the ISR may become leader, losing data.",
		syn("unclean.leader.election.enable")...),
})

func sortedDefs(defs []TopicConfigDef) []TopicConfigDef {
	slices.SortFunc(defs, func(a, b TopicConfigDef) int { return cmp.Compare(a.Name, b.Name) })
	return defs
}

// LookupTopicConfig returns the definition of a supported topic config.
func LookupTopicConfig(name string) (TopicConfigDef, bool) {
	i, ok := slices.BinarySearchFunc(topicConfigDefs, name, func(d TopicConfigDef, n string) int {
		return cmp.Compare(d.Name, n)
	})
	if !ok {
		return TopicConfigDef{}, false
	}
	return topicConfigDefs[i], true
}

// TopicConfigDefs returns every supported topic config, sorted by name. The
// slice is a copy.
func TopicConfigDefs() []TopicConfigDef { return slices.Clone(topicConfigDefs) }

// ValidateTopicConfig checks one topic config, as Kafka does on CreateTopics
// and AlterConfigs. Errors wrap ErrInvalidConfig and read as Kafka's:
//
//	Unknown topic config name: no.such.option
//	Invalid value 0 for configuration min.insync.replicas: Value must be at least 1
func ValidateTopicConfig(name, value string) error {
	def, ok := LookupTopicConfig(name)
	if !ok {
		return configErrorf("Unknown topic config name: %s", name)
	}
	return def.Validate(value)
}

// ValidateTopicConfigs checks a topic's whole set of configs: each one, in
// name order (so the error is the same whatever the map's order), then the
// rules between configs: min.compaction.lag.ms must not exceed
// max.compaction.lag.ms, and, when replicationFactor > 0, min.insync.replicas
// must not exceed it (Strata's choice: Kafka accepts such a topic and then
// refuses every acks=all write). Errors wrap ErrInvalidConfig.
func ValidateTopicConfigs(configs map[string]string, replicationFactor int) error {
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		if err := ValidateTopicConfig(name, configs[name]); err != nil {
			return err
		}
	}
	minLag, maxLag := builtin(cfgMinCompactionLagMs, configs).i, builtin(cfgMaxCompactionLagMs, configs).i
	if minLag > maxLag {
		return configErrorf("conflict topic config setting %s (%d) > %s (%d)",
			cfgMinCompactionLagMs, minLag, cfgMaxCompactionLagMs, maxLag)
	}
	if v, ok := configs[cfgMinInsyncReplicas]; ok && replicationFactor > 0 {
		if minISR := builtin(cfgMinInsyncReplicas, configs).i; minISR > int64(replicationFactor) {
			return invalidValue(cfgMinInsyncReplicas, v,
				fmt.Sprintf("Value must be no more than the replication factor %d", replicationFactor))
		}
	}
	return nil
}

// builtin is the value of a config in configs, or its built-in default.
// configs must have been validated.
func builtin(name string, configs map[string]string) configValue {
	def, _ := LookupTopicConfig(name)
	if s, ok := configs[name]; ok {
		if v, err := def.parse(name, s); err == nil {
			return v
		}
	}
	v, _ := def.parse(name, def.Default)
	return v
}

// AlterTopicConfigs applies IncrementalAlterConfigs operations, in order, to a
// topic's current configs and returns the new configs; current is not
// modified. SET replaces a value; DELETE removes it (any name, so that a
// config no longer supported can still be removed); APPEND and SUBTRACT add
// or remove elements of a LIST config, starting from the built-in default
// when the topic does not set it, as Kafka's KRaft controller does. The
// result is checked as a whole with ValidateTopicConfigs, and any error
// (wrapping ErrInvalidConfig) means nothing may be applied. The caller turns
// the differences between current and the result into config records, in
// name order.
func AlterTopicConfigs(current map[string]string, ops []*stratav1.AlterConfigOp, replicationFactor int) (map[string]string, error) {
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.GetName()] {
			return nil, configErrorf("Error due to duplicate config keys")
		}
		seen[op.GetName()] = true
	}
	next := maps.Clone(current)
	if next == nil {
		next = make(map[string]string, len(ops))
	}
	for _, op := range ops {
		name := op.GetName()
		switch op.GetOp() {
		case stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_SET:
			if err := ValidateTopicConfig(name, op.GetValue()); err != nil {
				return nil, err
			}
			next[name] = op.GetValue()
		case stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_DELETE:
			delete(next, name)
		case stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_APPEND,
			stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_SUBTRACT:
			appending := op.GetOp() == stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_APPEND
			verb := "subtract"
			if appending {
				verb = "append"
			}
			def, ok := LookupTopicConfig(name)
			if !ok {
				return nil, configErrorf("Unknown topic config name: %s", name)
			}
			if def.Type != ConfigTypeList {
				return nil, configErrorf("Config value %s is not allowed for config key: %s", verb, name)
			}
			old, ok := next[name]
			if !ok {
				old = def.Default
			}
			list := splitList(strings.TrimSpace(old))
			for _, e := range splitList(strings.TrimSpace(op.GetValue())) {
				switch {
				case !appending:
					list = slices.DeleteFunc(list, func(x string) bool { return x == e })
				case !slices.Contains(list, e):
					list = append(list, e)
				}
			}
			next[name] = strings.Join(list, ",")
		default:
			return nil, configErrorf("Unknown alter config operation %v for config key: %s", op.GetOp(), name)
		}
	}
	if err := ValidateTopicConfigs(next, replicationFactor); err != nil {
		return nil, err
	}
	return next, nil
}

// TopicConfig is a topic's effective configuration, typed, as brokers read
// it. remote.storage.enable has no field: Strata has no tiered storage, so
// it is always false.
type TopicConfig struct {
	// CleanupDelete and CleanupCompact are cleanup.policy; at least one is
	// set.
	CleanupDelete  bool
	CleanupCompact bool

	CompressionType        CompressionType
	DeleteRetentionMs      int64
	FileDeleteDelayMs      int64
	FlushMessages          int64
	FlushMs                int64
	IndexIntervalBytes     int
	LocalRetentionBytes    int64
	LocalRetentionMs       int64
	MaxCompactionLagMs     int64
	MaxMessageBytes        int
	MinCleanableDirtyRatio float64
	MinCompactionLagMs     int64
	MinInsyncReplicas      int

	MessageTimestampType TimestampType
	// MessageTimestampBeforeMaxMs and MessageTimestampAfterMaxMs bound a
	// CreateTime timestamp around the broker's clock. Where
	// message.timestamp.before.max.ms (after.max.ms) is not set but the
	// deprecated message.timestamp.difference.max.ms is, at the same level,
	// the latter is used (as Kafka 3.6 to 3.9 do).
	MessageTimestampBeforeMaxMs     int64
	MessageTimestampAfterMaxMs      int64
	MessageTimestampDifferenceMaxMs int64

	Preallocate                 bool
	ReplicaLagTimeMaxMs         int64
	RetentionBytes              int64
	RetentionMs                 int64
	SegmentBytes                int
	SegmentIndexBytes           int
	SegmentJitterMs             int64
	SegmentMs                   int64
	UncleanLeaderElectionEnable bool
}

// EffectiveTopicConfig resolves every topic config, in this order: the
// topic's own value (topicConfigs, by topic config names), then the
// cluster default set on brokers (brokerDefaults, by Kafka's broker config
// names: log.retention.ms, log.retention.minutes, log.retention.hours,
// message.max.bytes, log.cleanup.policy, min.insync.replicas, ...; see
// TopicConfigDef.BrokerSynonyms), then the built-in default. A broker
// setting in minutes or hours is converted to ms; a negative
// log.retention.minutes or log.retention.hours means no limit (-1), as in
// Kafka. Unknown names are ignored.
//
// The result is always complete and usable: a value that does not parse or
// is out of range is skipped in favour of the next level. Values that went
// through ValidateTopicConfig and ValidateBrokerConfig never are; a broker
// should check its static defaults with ValidateBrokerConfig when it starts.
func EffectiveTopicConfig(topicConfigs, brokerDefaults map[string]string) TopicConfig {
	r := resolver{topic: topicConfigs, broker: brokerDefaults}
	cleanup := r.get(cfgCleanupPolicy).list
	return TopicConfig{
		CleanupDelete:                   slices.Contains(cleanup, cleanupDelete),
		CleanupCompact:                  slices.Contains(cleanup, cleanupCompact),
		CompressionType:                 CompressionType(r.get(cfgCompressionType).s),
		DeleteRetentionMs:               r.get(cfgDeleteRetentionMs).i,
		FileDeleteDelayMs:               r.get(cfgFileDeleteDelayMs).i,
		FlushMessages:                   r.get(cfgFlushMessages).i,
		FlushMs:                         r.get(cfgFlushMs).i,
		IndexIntervalBytes:              int(r.get(cfgIndexIntervalBytes).i),
		LocalRetentionBytes:             r.get(cfgLocalRetentionBytes).i,
		LocalRetentionMs:                r.get(cfgLocalRetentionMs).i,
		MaxCompactionLagMs:              r.get(cfgMaxCompactionLagMs).i,
		MaxMessageBytes:                 int(r.get(cfgMaxMessageBytes).i),
		MinCleanableDirtyRatio:          r.get(cfgMinCleanableDirtyRatio).f,
		MinCompactionLagMs:              r.get(cfgMinCompactionLagMs).i,
		MinInsyncReplicas:               int(r.get(cfgMinInsyncReplicas).i),
		MessageTimestampType:            TimestampType(r.get(cfgTimestampType).s),
		MessageTimestampBeforeMaxMs:     r.get(cfgTimestampBeforeMaxMs, cfgTimestampDifferenceMax).i,
		MessageTimestampAfterMaxMs:      r.get(cfgTimestampAfterMaxMs, cfgTimestampDifferenceMax).i,
		MessageTimestampDifferenceMaxMs: r.get(cfgTimestampDifferenceMax).i,
		Preallocate:                     r.get(cfgPreallocate).b,
		ReplicaLagTimeMaxMs:             r.get(cfgReplicaLagTimeMaxMs).i,
		RetentionBytes:                  r.get(cfgRetentionBytes).i,
		RetentionMs:                     r.get(cfgRetentionMs).i,
		SegmentBytes:                    int(r.get(cfgSegmentBytes).i),
		SegmentIndexBytes:               int(r.get(cfgSegmentIndexBytes).i),
		SegmentJitterMs:                 r.get(cfgSegmentJitterMs).i,
		SegmentMs:                       r.get(cfgSegmentMs).i,
		UncleanLeaderElectionEnable:     r.get(cfgUncleanLeaderElection).b,
	}
}

// resolver looks topic configs up level by level.
type resolver struct {
	topic, broker map[string]string
}

// get resolves name; at each level, the fallbacks are tried after name.
func (r *resolver) get(name string, fallbacks ...string) configValue {
	names := append([]string{name}, fallbacks...)
	for _, n := range names {
		def, _ := LookupTopicConfig(n)
		if s, ok := r.topic[n]; ok {
			if v, err := def.parse(n, s); err == nil {
				return v
			}
		}
	}
	for _, n := range names {
		def, _ := LookupTopicConfig(n)
		for _, sy := range def.synonyms {
			if s, ok := r.broker[sy.name]; ok {
				if v, err := def.parseSynonym(sy, s); err == nil {
					return v
				}
			}
		}
	}
	def, _ := LookupTopicConfig(name)
	v, err := def.parse(name, def.Default)
	if err != nil {
		panic("metadata: invalid built-in default of " + name + ": " + err.Error())
	}
	return v
}

// parseSynonym parses the value of one of d's broker synonyms into d's
// unit; errors name the broker config.
func (d TopicConfigDef) parseSynonym(sy synonym, s string) (configValue, error) {
	if sy.scale == 1 {
		return d.parse(sy.name, s)
	}
	// Kafka's minute and hour settings are INTs.
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return configValue{}, invalidValue(sy.name, s, "Not a number of type INT")
	}
	ms := n * sy.scale // |n| < 2^31 and scale < 2^22: no overflow
	if ms < 0 {
		ms = -1
	}
	v, _, why := d.check(strconv.FormatInt(ms, 10))
	if why != "" {
		return v, invalidValue(sy.name, s, fmt.Sprintf("%s (as %d ms)", why, ms))
	}
	return v, nil
}

// brokerConfig is a broker config that gives a topic config's default.
type brokerConfig struct {
	def TopicConfigDef
	syn synonym
}

// brokerConfigs maps the name of each broker config that gives a topic
// config's default to that config and its unit.
var brokerConfigs = func() map[string]brokerConfig {
	m := make(map[string]brokerConfig)
	for _, d := range topicConfigDefs {
		for _, sy := range d.synonyms {
			m[sy.name] = brokerConfig{def: d, syn: sy}
		}
	}
	return m
}()

// ValidateBrokerConfig checks one broker-level config, dynamic (set for one
// broker or as the cluster default) or static. The broker configs Strata
// knows are those that give topic configs their cluster-wide defaults
// (log.retention.ms, log.retention.hours, message.max.bytes,
// min.insync.replicas, ...); values are checked as the topic config's
// (hours and minutes after conversion to ms). Errors wrap ErrInvalidConfig:
//
//	Unknown broker config name: no.such.option
//	Invalid value 0 for configuration min.insync.replicas: Value must be at least 1
func ValidateBrokerConfig(name, value string) error {
	b, ok := brokerConfigs[name]
	if !ok {
		return configErrorf("Unknown broker config name: %s", name)
	}
	_, err := b.def.parseSynonym(b.syn, value)
	return err
}

// IsListConfig reports whether a topic config, or a broker config that
// gives a topic config's default, is a LIST (which IncrementalAlterConfigs
// may APPEND to or SUBTRACT from).
func IsListConfig(name string) bool {
	if d, ok := LookupTopicConfig(name); ok {
		return d.Type == ConfigTypeList
	}
	if b, ok := brokerConfigs[name]; ok {
		return b.def.Type == ConfigTypeList
	}
	return false
}
