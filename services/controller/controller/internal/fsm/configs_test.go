package fsm

import (
	"maps"
	"testing"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// alterFails runs an AlterConfigs command whose resources must all fail
// with code and fragment, and change nothing.
func alterFails(t *testing.T, h *harness, cmd *stratav1.MetadataCommand, code stratav1.ErrorCode, fragment string) {
	t.Helper()
	res := h.unchanged(cmd)
	if res.GetErrorCode() != codeNone {
		t.Fatalf("command failed as a whole: %v", res)
	}
	rs := res.GetAlterConfigs().GetResults()
	if len(rs) != len(cmd.GetAlterConfigs().GetResources()) {
		t.Fatalf("%d results for %d resources", len(rs), len(cmd.GetAlterConfigs().GetResources()))
	}
	for _, r := range rs {
		checkError(t, "resource "+r.GetResource().GetName(), r.GetErrorCode(), r.GetErrorMessage(), code, fragment)
	}
}

func TestAlterTopicConfigs(t *testing.T) {
	h := fourBrokers(t)
	h.create(newTopic("t", 1, 3, "cleanup.policy=compact", "retention.ms=1000"))
	want := map[string]string{"cleanup.policy": "compact", "retention.ms": "1000"}
	steps := []struct {
		name  string
		ops   []*stratav1.AlterConfigOp
		kinds int // config records written
		after map[string]string
	}{
		{"set new", []*stratav1.AlterConfigOp{set("segment.bytes", "1048576")}, 1,
			map[string]string{"segment.bytes": "1048576"}},
		{"set existing", []*stratav1.AlterConfigOp{set("retention.ms", "5000")}, 1,
			map[string]string{"retention.ms": "5000"}},
		{"set the same value", []*stratav1.AlterConfigOp{set("retention.ms", "5000")}, 0, nil},
		{"delete", []*stratav1.AlterConfigOp{del("segment.bytes")}, 1, map[string]string{"segment.bytes": ""}},
		{"delete unset", []*stratav1.AlterConfigOp{del("segment.bytes")}, 0, nil},
		{"delete unknown name", []*stratav1.AlterConfigOp{del("no.such.option")}, 0, nil},
		{"append to list", []*stratav1.AlterConfigOp{appendOp("cleanup.policy", "delete")}, 1,
			map[string]string{"cleanup.policy": "compact,delete"}},
		{"append present element", []*stratav1.AlterConfigOp{appendOp("cleanup.policy", "delete")}, 0, nil},
		{"subtract from list", []*stratav1.AlterConfigOp{subtractOp("cleanup.policy", "compact")}, 1,
			map[string]string{"cleanup.policy": "delete"}},
		{"several at once", []*stratav1.AlterConfigOp{set("retention.ms", "-1"), set("max.message.bytes", "2048"), del("cleanup.policy")}, 3,
			map[string]string{"retention.ms": "-1", "max.message.bytes": "2048", "cleanup.policy": ""}},
		{"append to unset list starts from the default", []*stratav1.AlterConfigOp{appendOp("cleanup.policy", "compact")}, 1,
			map[string]string{"cleanup.policy": "delete,compact"}},
		{"min.insync.replicas up to the replication factor", []*stratav1.AlterConfigOp{set("min.insync.replicas", "3")}, 1,
			map[string]string{"min.insync.replicas": "3"}},
	}
	for _, s := range steps {
		recs, res := h.run(alterConfigsCmd(topicResource("t", s.ops...)))
		rs := res.GetAlterConfigs().GetResults()
		if res.GetErrorCode() != codeNone || len(rs) != 1 || rs[0].GetErrorCode() != codeNone {
			t.Fatalf("%s: %v", s.name, res)
		}
		if rs[0].GetResource().GetName() != "t" || rs[0].GetResource().GetType() != stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_TOPIC {
			t.Errorf("%s: resource %v", s.name, rs[0].GetResource())
		}
		if len(recs) != s.kinds {
			t.Errorf("%s: %d records, want %d", s.name, len(recs), s.kinds)
		}
		for _, r := range recs {
			c := r.GetConfig()
			if c == nil || c.GetResourceName() != "t" || c.GetResourceType() != stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_TOPIC {
				t.Errorf("%s: record %v", s.name, r)
			}
			if _, deleted := s.after[c.GetName()]; deleted && s.after[c.GetName()] == "" && c.Value != nil {
				t.Errorf("%s: a deletion record carries value %q", s.name, c.GetValue())
			}
		}
		for k, v := range s.after {
			if v == "" {
				delete(want, k)
			} else {
				want[k] = v
			}
		}
		if got := h.topic("t").Configs; !maps.Equal(got, want) {
			t.Errorf("%s: configs %v, want %v", s.name, got, want)
		}
	}
}

func TestAlterTopicConfigsErrors(t *testing.T) {
	tests := []struct {
		name     string
		resource *stratav1.AlterConfigsResource
		code     stratav1.ErrorCode
		fragment string
	}{
		{"unknown topic", topicResource("nope", set("retention.ms", "1")), codeUnknownTopic, unknownTopicMsg},
		{"non-numeric value", topicResource("t", set("retention.ms", "soon")), codeInvalidConfig,
			"Invalid value soon for configuration retention.ms: Not a number of type LONG"},
		{"value out of range", topicResource("t", set("min.insync.replicas", "0")), codeInvalidConfig,
			"Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{"unknown name", topicResource("t", set("no.such.option", "1")), codeInvalidConfig, "Unknown topic config name: no.such.option"},
		{"append to a non-list", topicResource("t", appendOp("retention.ms", "1")), codeInvalidConfig,
			"Config value append is not allowed for config key: retention.ms"},
		{"subtract from a non-list", topicResource("t", subtractOp("retention.ms", "1")), codeInvalidConfig,
			"Config value subtract is not allowed for config key: retention.ms"},
		{"append a bad element", topicResource("t", appendOp("cleanup.policy", "forever")), codeInvalidConfig,
			"Invalid value forever for configuration cleanup.policy"},
		{"subtract everything", topicResource("t", subtractOp("cleanup.policy", "delete")), codeInvalidConfig,
			"List must not be empty"},
		{"min.insync.replicas above replication factor", topicResource("t", set("min.insync.replicas", "4")), codeInvalidConfig,
			"Value must be no more than the replication factor 3"},
		{"conflicting compaction lags", topicResource("t", set("min.compaction.lag.ms", "10"), set("max.compaction.lag.ms", "5")), codeInvalidConfig,
			"conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"},
		{"duplicate keys", topicResource("t", set("retention.ms", "1"), del("retention.ms")), codeInvalidConfig,
			"Error due to duplicate config keys"},
		{"unknown operation", topicResource("t", &stratav1.AlterConfigOp{Name: "retention.ms", Value: "1"}), codeInvalidConfig,
			"Unknown alter config operation"},
		// A resource is all or nothing: the good op does not apply either.
		{"good op and bad op", topicResource("t", set("retention.ms", "1"), set("no.such.option", "1")), codeInvalidConfig,
			"Unknown topic config name: no.such.option"},
		{"broker resource not an id", brokerResource("abc", set("min.insync.replicas", "1")), codeInvalidRequest,
			`broker resource "abc" is not a broker id`},
		{"broker resource with a leading zero", brokerResource("01", set("min.insync.replicas", "1")), codeInvalidRequest,
			`broker resource "01" is not a broker id`},
		{"negative broker resource", brokerResource("-1", set("min.insync.replicas", "1")), codeInvalidRequest,
			`broker resource "-1" is not a broker id`},
		{"broker resource too large", brokerResource("4294967296", set("min.insync.replicas", "1")), codeInvalidRequest,
			`broker resource "4294967296" is not a broker id`},
		{"unknown broker config", brokerResource("", set("no.such.option", "1")), codeInvalidConfig, "Unknown broker config name: no.such.option"},
		{"topic name as broker config", brokerResource("1", set("retention.ms", "1")), codeInvalidConfig, "Unknown broker config name: retention.ms"},
		{"bad broker config value", brokerResource("", set("min.insync.replicas", "0")), codeInvalidConfig,
			"Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{"bad broker config in hours", brokerResource("", set("log.retention.hours", "x")), codeInvalidConfig,
			"Invalid value x for configuration log.retention.hours"},
		{"append to a broker config", brokerResource("", appendOp("log.cleanup.policy", "compact")), codeInvalidRequest,
			"is not supported for broker config log.cleanup.policy"},
		{"duplicate broker keys", brokerResource("", set("min.insync.replicas", "1"), del("min.insync.replicas")), codeInvalidRequest,
			"Error due to duplicate config keys: min.insync.replicas"},
		{"unsupported resource type", &stratav1.AlterConfigsResource{Resource: &stratav1.ConfigResource{Name: "t"}, Ops: []*stratav1.AlterConfigOp{set("retention.ms", "1")}},
			codeInvalidRequest, "unsupported config resource type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fourBrokers(t)
			h.create(newTopic("t", 1, 3, "retention.ms=1000"))
			alterFails(t, h, alterConfigsCmd(tt.resource), tt.code, tt.fragment)
		})
	}
}

// Each resource succeeds or fails alone.
func TestAlterConfigsResourcesAreIndependent(t *testing.T) {
	h := fourBrokers(t)
	h.create(newTopic("t", 1, 1))
	recs, res := h.run(alterConfigsCmd(
		topicResource("nope", set("retention.ms", "1")),
		topicResource("t", set("retention.ms", "2")),
		brokerResource("x", set("min.insync.replicas", "1")),
		brokerResource("", set("min.insync.replicas", "2")),
	))
	rs := res.GetAlterConfigs().GetResults()
	codes := []stratav1.ErrorCode{codeUnknownTopic, codeNone, codeInvalidRequest, codeNone}
	if len(rs) != len(codes) {
		t.Fatalf("results %v", rs)
	}
	for i, c := range codes {
		if rs[i].GetErrorCode() != c {
			t.Errorf("result %d: %v, want %v", i, rs[i], c)
		}
	}
	wantKinds(t, recs, "Config", "Config")
	if h.topic("t").Configs["retention.ms"] != "2" || h.img.BrokerConfigs("")["min.insync.replicas"] != "2" {
		t.Errorf("topic configs %v, cluster configs %v", h.topic("t").Configs, h.img.BrokerConfigs(""))
	}
}

func TestAlterBrokerConfigs(t *testing.T) {
	h := fourBrokers(t)
	recs := h.ok(alterConfigsCmd(brokerResource("", set("min.insync.replicas", "2"), set("log.retention.hours", "48"))))
	wantKinds(t, recs, "Config", "Config")
	for _, r := range recs {
		if c := r.GetConfig(); c.GetResourceType() != stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_BROKER || c.GetResourceName() != "" {
			t.Errorf("record %v", c)
		}
	}
	if got := h.img.BrokerConfigs(""); !maps.Equal(got, map[string]string{"min.insync.replicas": "2", "log.retention.hours": "48"}) {
		t.Errorf("cluster configs %v", got)
	}
	// One broker's configs, including a broker that is not registered.
	h.ok(alterConfigsCmd(brokerResource("1", set("log.retention.ms", "1000")), brokerResource("7", set("message.max.bytes", "2000"))))
	if h.img.BrokerConfigs("1")["log.retention.ms"] != "1000" || h.img.BrokerConfigs("7")["message.max.bytes"] != "2000" {
		t.Errorf("broker configs %v %v", h.img.BrokerConfigs("1"), h.img.BrokerConfigs("7"))
	}
	// Deleting the last one removes the resource.
	recs = h.ok(alterConfigsCmd(brokerResource("1", del("log.retention.ms"))))
	if len(recs) != 1 || recs[0].GetConfig().Value != nil {
		t.Errorf("records %v", recs)
	}
	if len(h.img.BrokerConfigs("1")) != 0 {
		t.Errorf("broker 1 configs %v", h.img.BrokerConfigs("1"))
	}
	// Nothing to do.
	if res := h.unchanged(alterConfigsCmd(brokerResource("1", del("log.retention.ms")), brokerResource("", set("min.insync.replicas", "2")))); res.GetErrorCode() != codeNone {
		t.Errorf("no-op alter: %v", res)
	}
	// The cluster default min.insync.replicas applies to new topics.
	h.createFails(newTopic("small", 1, 1), codeInvalidConfig, "must not exceed the replication factor 1")
	h.create(newTopic("big", 1, 2))
}

// A resource named twice in one command: each copy would be checked
// against the configs before the command, so together they could set what
// neither may (here min.compaction.lag.ms above max.compaction.lag.ms).
// Every copy fails.
func TestAlterConfigsDuplicateResource(t *testing.T) {
	h := fourBrokers(t)
	h.create(newTopic("t", 1, 1))
	alterFails(t, h, alterConfigsCmd(
		topicResource("t", set("min.compaction.lag.ms", "10")),
		topicResource("t", set("max.compaction.lag.ms", "5")),
	), codeInvalidRequest, "Duplicate resource.")
	alterFails(t, h, alterConfigsCmd(
		brokerResource("", set("min.insync.replicas", "2")),
		brokerResource("", del("min.insync.replicas")),
	), codeInvalidRequest, "Duplicate resource.")
	// The same name as a topic and as a broker is two resources.
	recs, res := h.run(alterConfigsCmd(
		topicResource("1", set("retention.ms", "1")),
		brokerResource("1", set("log.retention.ms", "1")),
	))
	rs := res.GetAlterConfigs().GetResults()
	if rs[0].GetErrorCode() != codeUnknownTopic || rs[1].GetErrorCode() != codeNone {
		t.Errorf("results %v", rs)
	}
	wantKinds(t, recs, "Config")
}
