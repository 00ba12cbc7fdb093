package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

var _ sm.IConcurrentStateMachine = (*Machine)(nil)

func encode(t testing.TB, cmd *stratav1.MetadataCommand) []byte {
	t.Helper()
	b, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// entries numbers commands as Raft entries from index first.
func entries(first uint64, cmds ...[]byte) []sm.Entry {
	out := make([]sm.Entry, len(cmds))
	for i, c := range cmds {
		out[i] = sm.Entry{Index: first + uint64(i), Cmd: c}
	}
	return out
}

func update(t testing.TB, m *Machine, es []sm.Entry) []*stratav1.CommandResult {
	t.Helper()
	out, err := m.Update(es)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if len(out) != len(es) {
		t.Fatalf("Update returned %d entries for %d", len(out), len(es))
	}
	res := make([]*stratav1.CommandResult, len(out))
	for i, e := range out {
		r, err := DecodeResult(e.Result)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if e.Result.Value != uint64(r.GetErrorCode()) {
			t.Errorf("entry %d: result value %d, error code %v", i, e.Result.Value, r.GetErrorCode())
		}
		res[i] = r
	}
	return res
}

func noOp() *stratav1.MetadataCommand {
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_NoOp{NoOp: &stratav1.NoOpCommand{}}}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestMachineUpdate(t *testing.T) {
	m := New(0)
	if m.State().Image.Offset() != 0 || m.State().Window != nil || m.State().AppliedIndex != 0 {
		t.Fatalf("initial state %+v", m.State())
	}
	changed := m.Changed()
	if isClosed(changed) {
		t.Fatal("Changed closed before any update")
	}
	es := entries(11,
		encode(t, registerCmd(1, "a")),             // offset 1
		encode(t, registerCmd(2, "b")),             // 2
		[]byte{0x12, 0x05, 0x01},                   // undecodable: a field cut short
		encode(t, unfenceCmd(1, 1)),                // 3
		encode(t, unfenceCmd(2, 2)),                // 4
		encode(t, createCmd(newTopic("t", 2, 2))),  // 5, 6, 7
		encode(t, fenceCmd(1, 99)),                 // stale epoch
		nil,                                        // an empty command
		encode(t, noOp()),                          // 8
		encode(t, createCmd(newTopic("t/", 1, 1))), // a per-topic failure
	)
	res := update(t, m, es)
	want := []struct {
		code   stratav1.ErrorCode
		offset int64
	}{
		{codeNone, 1}, {codeNone, 2}, {codeInvalidRequest, 2}, {codeNone, 3}, {codeNone, 4},
		{codeNone, 7}, {codeStaleBrokerEpoch, 7}, {codeInvalidRequest, 7}, {codeNone, 8}, {codeNone, 8},
	}
	for i, w := range want {
		if res[i].GetErrorCode() != w.code || res[i].GetOffset() != w.offset {
			t.Errorf("entry %d: %v %q offset %d; want %v offset %d", i, res[i].GetErrorCode(), res[i].GetErrorMessage(), res[i].GetOffset(), w.code, w.offset)
		}
	}
	checkError(t, "undecodable", res[2].GetErrorCode(), res[2].GetErrorMessage(), codeInvalidRequest, "undecodable command")
	checkError(t, "empty", res[7].GetErrorCode(), res[7].GetErrorMessage(), codeInvalidRequest, "unknown command")
	if res[0].GetBrokerEpoch() != 1 || res[1].GetBrokerEpoch() != 2 {
		t.Errorf("epochs %d %d", res[0].GetBrokerEpoch(), res[1].GetBrokerEpoch())
	}
	if r := res[5].GetCreateTopics().GetTopics(); len(r) != 1 || r[0].GetErrorCode() != codeNone {
		t.Errorf("create result %v", res[5])
	}
	if r := res[9].GetCreateTopics().GetTopics(); len(r) != 1 || r[0].GetErrorCode() != codeInvalidTopic {
		t.Errorf("create result %v", res[9])
	}

	if !isClosed(changed) {
		t.Error("Changed not closed after an update")
	}
	if next := m.Changed(); next == changed || isClosed(next) {
		t.Error("Changed did not give a new open channel")
	}
	st := m.State()
	if st.AppliedIndex != 20 || st.Image.Offset() != 8 {
		t.Errorf("applied index %d, image offset %d", st.AppliedIndex, st.Image.Offset())
	}
	if err := st.Image.Check(); err != nil {
		t.Error(err)
	}
	if got, err := m.Lookup(nil); err != nil || got != st {
		t.Errorf("Lookup: %v, %v", got, err)
	}
	recs, ok := st.Window.After(0, 100)
	if !ok || len(recs) != 8 || st.Window.First() != 1 || st.Window.Last() != 8 {
		t.Fatalf("window first %d last %d, After(0): %d records, %v", st.Window.First(), st.Window.Last(), len(recs), ok)
	}
	for i, r := range recs {
		if r.GetOffset() != int64(i)+1 {
			t.Errorf("window record %d has offset %d", i, r.GetOffset())
		}
	}
	wantKinds(t, recs, "RegisterBroker", "RegisterBroker", "UnfenceBroker", "UnfenceBroker", "Topic", "Partition", "Partition", "NoOp")

	// The records rebuild the image.
	img := metadata.Empty()
	for _, r := range recs {
		var err error
		if img, err = img.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(snapshotBytes(t, img), snapshotBytes(t, st.Image)) {
		t.Error("the window's records do not rebuild the image")
	}

	// A second batch goes on from there.
	res = update(t, m, entries(21, encode(t, noOp()), encode(t, fenceCmd(2, 2))))
	if res[0].GetOffset() != 9 || res[1].GetOffset() != 12 {
		t.Errorf("offsets %d %d", res[0].GetOffset(), res[1].GetOffset())
	}
	recs, _ = m.State().Window.After(8, 100)
	wantKinds(t, recs, "NoOp", "FenceBroker", "PartitionChange", "PartitionChange")
	for i, r := range recs {
		if r.GetOffset() != int64(9+i) {
			t.Errorf("record %d offset %d", i, r.GetOffset())
		}
	}

	// A batch that writes nothing publishes its index and keeps the
	// window.
	w := m.State().Window
	changed = m.Changed()
	res = update(t, m, entries(23, []byte{0xff}))
	if res[0].GetErrorCode() != codeInvalidRequest || res[0].GetOffset() != 12 {
		t.Errorf("result %v", res[0])
	}
	if st := m.State(); st.Window != w || st.AppliedIndex != 23 || !isClosed(changed) {
		t.Errorf("state after a batch that wrote nothing: %+v", st)
	}
}

func TestMachineFactoryAndClose(t *testing.T) {
	m := New(0)
	if got := m.Factory()(1, 1); got != sm.IConcurrentStateMachine(m) {
		t.Error("Factory does not return the machine")
	}
	if err := m.Close(); err != nil {
		t.Error(err)
	}
}

func TestDecodeResult(t *testing.T) {
	if _, err := DecodeResult(sm.Result{Data: []byte{0xff}}); !errors.Is(err, ErrBadResult) {
		t.Errorf("DecodeResult of bad bytes: %v", err)
	}
	r, err := DecodeResult(sm.Result{})
	if err != nil || r.GetErrorCode() != codeNone {
		t.Errorf("DecodeResult of nothing: %v, %v", r, err)
	}
}

// buildMachine runs a varied history through a machine.
func buildMachine(t testing.TB) *Machine {
	t.Helper()
	m := New(0)
	cmds := [][]byte{
		encode(t, registerCmd(1, "a")), encode(t, registerCmd(2, "b")), encode(t, registerCmd(3, "c")),
		encode(t, unfenceCmd(1, 1)), encode(t, unfenceCmd(2, 2)), encode(t, unfenceCmd(3, 3)),
		encode(t, createCmd(newTopic("orders", 6, 3, "retention.ms=1000"), newTopic("logs.app", 2, 2))),
		encode(t, alterConfigsCmd(brokerResource("", set("min.insync.replicas", "2")))),
		encode(t, fenceCmd(2, 2)),
		encode(t, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_RegisterController{RegisterController: &stratav1.RegisterControllerCommand{
			Controller: &stratav1.ControllerRegistrationRecord{ControllerId: 1, Address: "c1", RaftAddress: "c1r"},
		}}}),
	}
	update(t, m, entries(1, cmds...))
	return m
}

func saveSnapshot(t testing.TB, m *Machine) []byte {
	t.Helper()
	ctx, err := m.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.SaveSnapshot(ctx, &buf, nil, make(chan struct{})); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	return buf.Bytes()
}

func TestMachineSnapshotRoundTrip(t *testing.T) {
	m := buildMachine(t)
	snap := saveSnapshot(t, m)
	if !bytes.Equal(snap, snapshotBytes(t, m.State().Image)) {
		t.Fatal("SaveSnapshot differs from the image's snapshot")
	}

	m2 := New(0)
	changed := m2.Changed()
	if err := m2.RecoverFromSnapshot(bytes.NewReader(snap), nil, make(chan struct{})); err != nil {
		t.Fatalf("RecoverFromSnapshot: %v", err)
	}
	if !isClosed(changed) {
		t.Error("recovery did not publish")
	}
	if got := saveSnapshot(t, m2); !bytes.Equal(got, snap) {
		t.Fatal("snapshots differ after a round trip")
	}
	st := m2.State()
	if st.Image.Offset() != m.State().Image.Offset() {
		t.Errorf("offset %d, want %d", st.Image.Offset(), m.State().Image.Offset())
	}
	if err := st.Image.Check(); err != nil {
		t.Error(err)
	}
	// The window starts empty: watchers behind the image get the image.
	if _, ok := st.Window.After(0, 10); ok || st.Window.First() != 0 {
		t.Error("recovered window is not empty")
	}

	// Both machines go on identically; the recovered window starts at the
	// first new record.
	more := [][]byte{
		encode(t, unfenceCmd(2, 2)),
		encode(t, createCmd(newTopic("more", 3, 3))),
		encode(t, deleteCmd("logs.app")),
		encode(t, registerCmd(1, "other")),
	}
	r1 := update(t, m, entries(100, more...))
	r2 := update(t, m2, entries(100, more...))
	for i := range r1 {
		if !proto.Equal(r1[i], r2[i]) {
			t.Errorf("entry %d: %v and %v", i, r1[i], r2[i])
		}
	}
	if !bytes.Equal(saveSnapshot(t, m), saveSnapshot(t, m2)) {
		t.Error("snapshots differ after more updates")
	}
	w := m2.State().Window
	if w.First() != st.Image.Offset()+1 || w.Last() != m2.State().Image.Offset() {
		t.Errorf("recovered window holds %d..%d", w.First(), w.Last())
	}
	if _, ok := w.After(st.Image.Offset()-1, 10); ok {
		t.Error("window claims records from before the snapshot")
	}
}

// A snapshot captured by PrepareSnapshot is the state at that moment, even
// when Update goes on before and while SaveSnapshot writes it.
func TestMachineSnapshotWhileUpdating(t *testing.T) {
	m := buildMachine(t)
	ctx, err := m.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	want := snapshotBytes(t, m.State().Image)

	var wg sync.WaitGroup
	var got [4][]byte
	var errs [4]error
	for i := range got {
		wg.Go(func() {
			var buf bytes.Buffer
			errs[i] = m.SaveSnapshot(ctx, &buf, nil, make(chan struct{}))
			got[i] = buf.Bytes()
		})
	}
	// Readers of the published state at the same time.
	wg.Go(func() {
		for range 200 {
			st := m.State()
			recs, _ := st.Window.After(st.Window.First()-1, 1000)
			for i, r := range recs {
				if r.GetOffset() != st.Window.First()+int64(i) {
					t.Errorf("window record %d has offset %d", i, r.GetOffset())
					return
				}
			}
		}
	})
	for i := range 50 {
		update(t, m, entries(uint64(1000+i), encode(t, createCmd(newTopic(fmt.Sprintf("x%d", i), 2, 2)))))
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || !bytes.Equal(got[i], want) {
			t.Errorf("snapshot %d: %v, equal %v", i, errs[i], bytes.Equal(got[i], want))
		}
	}
	if m.State().Image.TopicCount() != 52 {
		t.Errorf("%d topics", m.State().Image.TopicCount())
	}
}

func TestMachineSnapshotErrors(t *testing.T) {
	m := buildMachine(t)
	ctx, _ := m.PrepareSnapshot()
	stopped := make(chan struct{})
	close(stopped)
	var buf bytes.Buffer
	if err := m.SaveSnapshot(ctx, &buf, nil, stopped); !errors.Is(err, sm.ErrSnapshotStopped) {
		t.Errorf("SaveSnapshot when stopped: %v", err)
	}
	if err := m.SaveSnapshot("not a state", &buf, nil, make(chan struct{})); err == nil {
		t.Error("SaveSnapshot accepted a foreign context")
	}

	snap := saveSnapshot(t, m)
	m2 := buildMachine(t)
	update(t, m2, entries(50, encode(t, noOp())))
	before := m2.State()
	beforeSnap := saveSnapshot(t, m2)
	check := func(what string) {
		t.Helper()
		if m2.State() != before || !bytes.Equal(saveSnapshot(t, m2), beforeSnap) {
			t.Errorf("%s changed the state", what)
		}
	}
	if err := m2.RecoverFromSnapshot(bytes.NewReader(snap), nil, stopped); !errors.Is(err, sm.ErrSnapshotStopped) {
		t.Errorf("RecoverFromSnapshot when stopped: %v", err)
	}
	check("a stopped recovery")
	if err := m2.RecoverFromSnapshot(bytes.NewReader(snap[:len(snap)/2]), nil, make(chan struct{})); !errors.Is(err, metadata.ErrCorruptSnapshot) {
		t.Errorf("RecoverFromSnapshot of a truncated snapshot: %v", err)
	}
	check("a truncated snapshot")
	if err := m2.RecoverFromSnapshot(bytes.NewReader([]byte{0x05, 0xff, 0xff}), nil, make(chan struct{})); err == nil {
		t.Error("RecoverFromSnapshot accepted garbage")
	}
	check("garbage")
	if err := m2.RecoverFromSnapshot(bytes.NewReader(nil), nil, make(chan struct{})); err == nil {
		t.Error("RecoverFromSnapshot accepted nothing")
	}
	check("an empty snapshot")

	// A good one replaces the state, even going back.
	if err := m2.RecoverFromSnapshot(bytes.NewReader(snap), nil, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(saveSnapshot(t, m2), snap) {
		t.Error("recovered state differs")
	}
}

// A machine with a small window keeps only the most recent records.
func TestMachineWindowLimit(t *testing.T) {
	const limit = 4
	m := New(limit)
	for i := range 30 {
		update(t, m, entries(uint64(i+1), encode(t, noOp())))
		st := m.State()
		w := st.Window
		last := st.Image.Offset()
		if w.Last() != last {
			t.Fatalf("after %d: window ends at %d, image at %d", i+1, w.Last(), last)
		}
		held := w.Last() - w.First() + 1
		if held < min(last, limit) || held > limit+limit/2 {
			t.Fatalf("after %d: window holds %d records", i+1, held)
		}
		// The last limit records are always there.
		recs, ok := w.After(last-min(last, limit), 100)
		if !ok || int64(len(recs)) != min(last, limit) {
			t.Fatalf("after %d: After(%d) = %d records, %v", i+1, last-limit, len(recs), ok)
		}
		if _, ok := w.After(w.First()-2, 100); ok && w.First() > 1 {
			t.Fatalf("after %d: After(%d) claims dropped records", i+1, w.First()-2)
		}
	}
	// A batch larger than the window.
	cmds := make([][]byte, 3*limit)
	for i := range cmds {
		cmds[i] = encode(t, noOp())
	}
	update(t, m, entries(100, cmds...))
	w := m.State().Window
	if w.Last() != 30+3*limit || w.Last()-w.First()+1 != limit {
		t.Errorf("after a large batch: window %d..%d", w.First(), w.Last())
	}
}
