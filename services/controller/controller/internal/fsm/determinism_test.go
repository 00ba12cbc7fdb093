package fsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

// gen makes random commands, mostly valid for the current image and
// sometimes wrong in the ways clients and brokers get them wrong.
type gen struct {
	r *rand.Rand
}

func (g *gen) pick(n int) int { return g.r.IntN(n) }

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func pickOne[T any](g *gen, xs []T) T { return xs[g.pick(len(xs))] }

var (
	genTopicNames = []string{"t0", "t1", "t2", "t3", "t4", "t5", "a.b", "a_b", "orders", "logs.app", "logs_app",
		metadata.ConsumerOffsetsTopic, "", "..", "bad/name", strings.Repeat("x", 250)}
	genConfigs = []string{"retention.ms=1000", "retention.ms=-1", "cleanup.policy=compact", "cleanup.policy=compact,delete",
		"min.insync.replicas=1", "min.insync.replicas=2", "min.insync.replicas=3", "min.insync.replicas=0", "no.such.option=1",
		"unclean.leader.election.enable=true", "segment.bytes=1048576", "retention.ms=soon", "max.compaction.lag.ms=5", "min.compaction.lag.ms=10"}
	genBrokerConfigs = []string{"min.insync.replicas=1", "min.insync.replicas=2", "unclean.leader.election.enable=true",
		"unclean.leader.election.enable=false", "log.retention.hours=1", "no.such.option=1", "min.insync.replicas=0"}
)

func (g *gen) topicID() metadata.TopicID {
	var id metadata.TopicID
	for i := range id {
		id[i] = byte(g.r.Uint32())
	}
	return id
}

// brokerEpoch is the broker's epoch, or now and then a wrong one.
func (g *gen) brokerEpoch(img *metadata.Image, id int32) int64 {
	if b, ok := img.Broker(id); ok && !g.chance(0.1) {
		return b.Epoch
	}
	return int64(g.pick(int(img.Offset()) + 2))
}

func (g *gen) brokerID() int32 { return int32(1 + g.pick(7)) }

func (g *gen) existingTopic(img *metadata.Image) (*metadata.Topic, bool) {
	var ts []*metadata.Topic
	for t := range img.Topics() {
		ts = append(ts, t)
	}
	if len(ts) == 0 {
		return nil, false
	}
	return pickOne(g, ts), true
}

func (g *gen) topicName(img *metadata.Image) string {
	if t, ok := g.existingTopic(img); ok && g.chance(0.3) {
		return t.Name
	}
	return pickOne(g, genTopicNames)
}

func (g *gen) configOps(list []string) []*stratav1.AlterConfigOp {
	var ops []*stratav1.AlterConfigOp
	for range 1 + g.pick(3) {
		k, v, _ := strings.Cut(pickOne(g, list), "=")
		switch g.pick(5) {
		case 0:
			ops = append(ops, del(k))
		case 1:
			ops = append(ops, appendOp(k, v))
		case 2:
			ops = append(ops, subtractOp(k, v))
		default:
			ops = append(ops, set(k, v))
		}
	}
	return ops
}

func (g *gen) command(img *metadata.Image) *stratav1.MetadataCommand {
	switch n := g.pick(100); {
	case n < 10:
		cmd := registerCmd(g.brokerID(), pickOne(g, []string{"a", "b", "c"}))
		cmd.GetRegisterBroker().PreviousSessionExpired = g.chance(0.3)
		if g.chance(0.95) {
			// Racks for all brokers, but now and then one without:
			// placement must refuse a mix.
			cmd.GetRegisterBroker().Rack = fmt.Sprintf("r%d", cmd.GetRegisterBroker().GetBrokerId()%2)
		}
		return cmd
	case n < 22:
		id := g.brokerID()
		return unfenceCmd(id, g.brokerEpoch(img, id))
	case n < 28:
		id := g.brokerID()
		return fenceCmd(id, g.brokerEpoch(img, id))
	case n < 31:
		id := g.brokerID()
		return shutdownCmd(id, g.brokerEpoch(img, id))
	case n < 32:
		return unregisterCmd(g.brokerID())
	case n < 46:
		return g.createTopics(img)
	case n < 50:
		var names []string
		for range 1 + g.pick(2) {
			names = append(names, g.topicName(img))
		}
		return deleteCmd(names...)
	case n < 56:
		t, ok := g.existingTopic(img)
		if !ok {
			return noOp()
		}
		ct := &stratav1.CreatePartitionsTopic{Name: t.Name, Count: int32(len(t.Partitions) + g.pick(5) - 1)}
		if g.chance(0.3) && ct.Count > int32(len(t.Partitions)) {
			for range int(ct.Count) - len(t.Partitions) {
				ct.Assignments = append(ct.Assignments, &stratav1.ReplicaAssignment{BrokerIds: g.replicas(len(t.Partitions[0].Replicas))})
			}
		}
		return createPartitionsCmd(ct)
	case n < 64:
		var res []*stratav1.AlterConfigsResource
		for range 1 + g.pick(2) {
			if g.chance(0.7) {
				res = append(res, topicResource(g.topicName(img), g.configOps(genConfigs)...))
			} else {
				res = append(res, brokerResource(pickOne(g, []string{"", "", "1", "2", "x"}), g.configOps(genBrokerConfigs)...))
			}
		}
		return alterConfigsCmd(res...)
	case n < 88:
		return g.alterPartition(img)
	case n < 94:
		typ := pickOne(g, []stratav1.ElectionType{preferred, preferred, unclean, stratav1.ElectionType_ELECTION_TYPE_UNSPECIFIED})
		if t, ok := g.existingTopic(img); ok && g.chance(0.7) {
			return electCmd(typ, t.Name, int32(g.pick(len(t.Partitions)+1)))
		}
		return electCmd(typ, "")
	case n < 96:
		return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_RegisterController{RegisterController: &stratav1.RegisterControllerCommand{
			Controller: &stratav1.ControllerRegistrationRecord{ControllerId: int32(g.pick(4)) - 1, Address: fmt.Sprintf("c%d", g.pick(3))},
		}}}
	case n < 98:
		id := g.brokerID()
		return allocateCmd(id, g.brokerEpoch(img, id))
	default:
		return noOp()
	}
}

func (g *gen) replicas(n int) []int32 {
	ids := []int32{1, 2, 3, 4, 5, 6, 7}
	g.r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return slices.Clone(ids[:max(1, n)])
}

func (g *gen) createTopics(img *metadata.Image) *stratav1.MetadataCommand {
	c := &stratav1.CreateTopicsCommand{
		DefaultPartitions:        int32(g.pick(4)),
		DefaultReplicationFactor: int32(g.pick(4)),
		AllowInternal:            g.chance(0.2),
	}
	if g.chance(0.2) {
		c.DefaultMinInsyncReplicas = int32(g.pick(4))
	}
	for range 1 + g.pick(3) {
		t := &stratav1.CreatableTopic{
			Name:              g.topicName(img),
			NumPartitions:     pickOne(g, []int32{-1, -1, 1, 2, 3, 5, 0, -2}),
			ReplicationFactor: pickOne(g, []int32{-1, 1, 2, 2, 3, 3, 0, 8}),
		}
		if g.chance(0.2) {
			t.NumPartitions, t.ReplicationFactor = -1, -1
			rf := 1 + g.pick(3)
			for p := range 1 + g.pick(3) {
				t.Assignments = append(t.Assignments, &stratav1.ReplicaAssignment{PartitionId: int32(p), BrokerIds: g.replicas(rf)})
			}
		}
		for range g.pick(3) {
			k, v, _ := strings.Cut(pickOne(g, genConfigs), "=")
			t.Configs = append(t.Configs, &stratav1.ConfigEntry{Name: k, Value: v})
		}
		c.Topics = append(c.Topics, t)
		id := g.topicID()
		if existing, ok := img.Topic(t.Name); ok && g.chance(0.5) {
			id = existing.ID // a retried command
		}
		c.TopicIds = append(c.TopicIds, id.Bytes())
	}
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_CreateTopics{CreateTopics: c}}
}

func (g *gen) alterPartition(img *metadata.Image) *stratav1.MetadataCommand {
	t, ok := g.existingTopic(img)
	if !ok {
		return noOp()
	}
	p := pickOne(g, t.Partitions)
	broker := p.Leader
	if broker < 0 || g.chance(0.1) {
		broker = g.brokerID()
	}
	var isr []int32
	for _, r := range p.Replicas {
		if r == broker || g.chance(0.6) {
			isr = append(isr, r)
		}
	}
	if g.chance(0.05) {
		isr = append(isr, g.brokerID())
	}
	le, pe := p.LeaderEpoch, p.PartitionEpoch
	if g.chance(0.1) {
		le += int32(g.pick(3)) - 1
	}
	if g.chance(0.1) {
		pe += int32(g.pick(3)) - 1
	}
	id := t.ID
	if g.chance(0.03) {
		id = g.topicID()
	}
	return alterISRCmd(broker, g.brokerEpoch(img, broker), id, p.ID, le, pe, isr...)
}

// TestDeterminism applies a long random command sequence through the
// harness (which checks every intermediate image), then through two
// machines with different batching and a third one restored from a
// snapshot half way: results and snapshots must be identical.
func TestDeterminism(t *testing.T) {
	steps := 6000
	if testing.Short() {
		steps = 500
	}
	g := &gen{r: rand.New(rand.NewPCG(2024, 11))}
	h := newHarness(t)
	var cmds [][]byte
	var want []*stratav1.CommandResult
	codes := make(map[stratav1.ErrorCode]int)
	items := make(map[string]int) // per-topic, per-partition and per-resource outcomes
	for range steps {
		if g.chance(0.01) {
			// Undecodable bytes.
			cmds = append(cmds, []byte{0x12, 0x7f})
			want = append(want, &stratav1.CommandResult{ErrorCode: codeInvalidRequest, Offset: h.img.Offset()})
			continue
		}
		cmd := g.command(h.img)
		_, res := h.run(cmd)
		res = proto.CloneOf(res)
		res.Offset = h.img.Offset()
		cmds = append(cmds, encode(t, cmd))
		want = append(want, res)
		codes[res.GetErrorCode()]++
		for _, c := range itemCodes(res) {
			items[c]++
		}
		if t.Failed() {
			t.Fatalf("after %d commands", len(cmds))
		}
	}
	t.Logf("final image: offset %d, %d brokers, %d topics, %d partitions; command codes %v; item outcomes %v",
		h.img.Offset(), h.img.BrokerCount(), h.img.TopicCount(), h.img.PartitionCount(), codes, items)
	if codes[codeNone] < steps/3 || h.img.Offset() < int64(steps)/2 {
		t.Errorf("the generator is not exercising much: %v", codes)
	}
	if !testing.Short() {
		for _, k := range []string{"create NONE", "delete NONE", "partitions NONE", "config NONE", "alter NONE", "elect NONE",
			"create ERROR_CODE_TOPIC_ALREADY_EXISTS", "alter ERROR_CODE_INVALID_UPDATE_VERSION", "alter ERROR_CODE_FENCED_LEADER_EPOCH",
			"alter ERROR_CODE_INELIGIBLE_REPLICA", "config ERROR_CODE_INVALID_CONFIG"} {
			if items[k] == 0 {
				t.Errorf("no %q in the random sequence", k)
			}
		}
	}

	// Machine A: one entry per Update, every state checked.
	a := New(64)
	var mid []byte
	for i, c := range cmds {
		res := update(t, a, entries(uint64(i+1), c))
		if !equalResults(res[0], want[i]) {
			t.Fatalf("machine A, entry %d: %v, harness %v", i, res[0], want[i])
		}
		st := a.State()
		if err := st.Image.Check(); err != nil {
			t.Fatalf("machine A, entry %d: %v", i, err)
		}
		if st.Window != nil && st.Window.Last() != st.Image.Offset() {
			t.Fatalf("machine A, entry %d: window ends at %d, image at %d", i, st.Window.Last(), st.Image.Offset())
		}
		if i == len(cmds)/2 {
			mid = saveSnapshot(t, a)
		}
	}

	// Machine B: random batches.
	b := New(0)
	br := rand.New(rand.NewPCG(7, 7))
	var resB []*stratav1.CommandResult
	for i := 0; i < len(cmds); {
		n := min(len(cmds)-i, 1+br.IntN(64))
		resB = append(resB, update(t, b, entries(uint64(i+1), cmds[i:i+n]...))...)
		i += n
	}
	for i := range resB {
		if !equalResults(resB[i], want[i]) {
			t.Fatalf("machine B, entry %d: %v, harness %v", i, resB[i], want[i])
		}
	}

	// Machine C: from A's snapshot half way.
	c := New(0)
	if err := c.RecoverFromSnapshot(bytes.NewReader(mid), nil, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	for i := len(cmds)/2 + 1; i < len(cmds); i++ {
		res := update(t, c, entries(uint64(i+1), cmds[i]))
		if !equalResults(res[0], want[i]) {
			t.Fatalf("machine C, entry %d: %v, harness %v", i, res[0], want[i])
		}
	}

	final := snapshotBytes(t, h.img)
	for name, m := range map[string]*Machine{"A": a, "B": b, "C": c} {
		if got := saveSnapshot(t, m); !bytes.Equal(got, final) {
			t.Errorf("machine %s: snapshot differs from the harness image", name)
		}
	}
	// B's window holds every record; replayed on an empty image they give
	// the same image.
	recs, ok := b.State().Window.After(0, len(cmds)*1000)
	if !ok || int64(len(recs)) != h.img.Offset() {
		t.Fatalf("window of B: %d records, %v", len(recs), ok)
	}
	img := metadata.Empty()
	d := metadata.NewDelta(img)
	for _, r := range recs {
		if err := d.Replay(r); err != nil {
			t.Fatalf("replay record %d: %v", r.GetOffset(), err)
		}
	}
	if !bytes.Equal(snapshotBytes(t, d.Apply()), final) {
		t.Error("the records do not rebuild the image")
	}
}

// itemCodes lists the outcomes inside a result, as "kind CODE".
func itemCodes(res *stratav1.CommandResult) []string {
	var out []string
	add := func(kind string, c stratav1.ErrorCode) {
		name := c.String()
		if c == codeNone {
			name = "NONE"
		}
		out = append(out, kind+" "+name)
	}
	for _, r := range res.GetCreateTopics().GetTopics() {
		add("create", r.GetErrorCode())
	}
	for _, r := range res.GetDeleteTopics().GetTopics() {
		add("delete", r.GetErrorCode())
	}
	for _, r := range res.GetCreatePartitions().GetTopics() {
		add("partitions", r.GetErrorCode())
	}
	for _, r := range res.GetAlterConfigs().GetResults() {
		add("config", r.GetErrorCode())
	}
	for _, tr := range res.GetAlterPartition().GetTopics() {
		for _, r := range tr.GetPartitions() {
			add("alter", r.GetErrorCode())
		}
	}
	for _, r := range res.GetElectLeaders().GetResults() {
		add("elect", r.GetErrorCode())
	}
	return out
}

// equalResults compares results, except the text of decoding errors,
// which comes from the protobuf library.
func equalResults(a, want *stratav1.CommandResult) bool {
	if want.GetErrorMessage() == "" && a.GetErrorCode() == codeInvalidRequest && strings.HasPrefix(a.GetErrorMessage(), "undecodable command") {
		return want.GetErrorCode() == codeInvalidRequest && a.GetOffset() == want.GetOffset()
	}
	return proto.Equal(a, want)
}

// The same entries in one batch or many give byte-identical results.
func TestUpdateBatchingGivesIdenticalResults(t *testing.T) {
	g := &gen{r: rand.New(rand.NewPCG(1, 2))}
	h := newHarness(t)
	var es []sm.Entry
	for i := range 300 {
		cmd := g.command(h.img)
		h.run(cmd)
		es = append(es, sm.Entry{Index: uint64(i + 1), Cmd: encode(t, cmd)})
	}
	one, many := New(0), New(0)
	outOne, err := one.Update(slices.Clone(es))
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		outMany, err := many.Update(slices.Clone(es[i : i+1]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(outOne[i].Result.Data, outMany[0].Result.Data) || outOne[i].Result.Value != outMany[0].Result.Value {
			t.Fatalf("entry %d: results differ", i)
		}
	}
	if !bytes.Equal(saveSnapshot(t, one), saveSnapshot(t, many)) {
		t.Error("snapshots differ")
	}
}
