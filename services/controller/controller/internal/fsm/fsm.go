package fsm

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

// DefaultWindow is how many recent records the machine keeps for watchers.
const DefaultWindow = 50000

// State is what readers see: the image, the recent records and the Raft
// index they reflect. A State is immutable once published.
type State struct {
	Image        *metadata.Image
	Window       *Window
	AppliedIndex uint64
}

// Machine is the metadata state machine. One Machine lives per controller;
// dragonboat gets it through Factory.
type Machine struct {
	window int
	state  atomic.Pointer[State]

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when a new State is published
}

// New returns a machine at the empty image. window bounds the records kept
// for watchers (DefaultWindow when <= 0).
func New(window int) *Machine {
	if window <= 0 {
		window = DefaultWindow
	}
	m := &Machine{window: window, changed: make(chan struct{})}
	m.state.Store(&State{Image: metadata.Empty()})
	return m
}

// State returns the latest published state.
func (m *Machine) State() *State { return m.state.Load() }

// Changed returns a channel closed at the next publication.
func (m *Machine) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *Machine) publish(s *State) {
	m.state.Store(s)
	m.mu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// Factory returns the dragonboat constructor; it hands out this machine.
func (m *Machine) Factory() sm.CreateConcurrentStateMachineFunc {
	return func(uint64, uint64) sm.IConcurrentStateMachine { return m }
}

// Update applies committed commands in order. A command that fails its
// validation changes nothing and reports why in its result.
func (m *Machine) Update(entries []sm.Entry) ([]sm.Entry, error) {
	cur := m.state.Load()
	img := cur.Image
	var added []*stratav1.MetadataRecord
	for i := range entries {
		var cmd stratav1.MetadataCommand
		var res *stratav1.CommandResult
		if err := proto.Unmarshal(entries[i].Cmd, &cmd); err != nil {
			res = failure(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "undecodable command: %v", err)
		} else {
			var recs []*stratav1.MetadataRecord
			img, recs, res = Execute(img, &cmd)
			added = append(added, recs...)
		}
		res.Offset = img.Offset()
		data, err := proto.Marshal(res)
		if err != nil {
			return nil, fmt.Errorf("fsm: encode result: %w", err)
		}
		entries[i].Result = sm.Result{Value: uint64(res.GetErrorCode()), Data: data}
	}
	last := entries[len(entries)-1].Index
	m.publish(&State{Image: img, Window: cur.Window.append(added, m.window), AppliedIndex: last})
	return entries, nil
}

// Execute runs one command against img: it returns the image after the
// command's records, the records (with offsets) and the result. On failure
// the image is img and there are no records.
func Execute(img *metadata.Image, cmd *stratav1.MetadataCommand) (*metadata.Image, []*stratav1.MetadataRecord, *stratav1.CommandResult) {
	recs, res := plan(img, cmd)
	if res.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE || len(recs) == 0 {
		return img, nil, res
	}
	d := metadata.NewDelta(img)
	for i, r := range recs {
		r.Offset = img.Offset() + int64(i) + 1
		if err := d.Replay(r); err != nil {
			// A handler produced a record the image refuses: a bug, but
			// one that must not diverge the replicas. Every replica
			// refuses the same way.
			return img, nil, failure(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR, "internal error: %v", err)
		}
	}
	return d.Apply(), recs, res
}

// Plan is Execute without applying: the records the command would write
// (without offsets) and its result. Validate-only requests use it.
func Plan(img *metadata.Image, cmd *stratav1.MetadataCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	return plan(img, cmd)
}

func plan(img *metadata.Image, cmd *stratav1.MetadataCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	var b batch
	b.img = img
	switch c := cmd.GetCommand().(type) {
	case *stratav1.MetadataCommand_RegisterController:
		return b.registerController(c.RegisterController)
	case *stratav1.MetadataCommand_CreateTopics:
		return b.createTopics(c.CreateTopics)
	case *stratav1.MetadataCommand_DeleteTopics:
		return b.deleteTopics(c.DeleteTopics)
	case *stratav1.MetadataCommand_CreatePartitions:
		return b.createPartitions(c.CreatePartitions)
	case *stratav1.MetadataCommand_AlterConfigs:
		return b.alterConfigs(c.AlterConfigs)
	case *stratav1.MetadataCommand_RegisterBroker:
		return b.registerBroker(c.RegisterBroker)
	case *stratav1.MetadataCommand_UnfenceBroker:
		return b.unfenceBroker(c.UnfenceBroker)
	case *stratav1.MetadataCommand_FenceBroker:
		return b.fenceBroker(c.FenceBroker)
	case *stratav1.MetadataCommand_ControlledShutdown:
		return b.controlledShutdown(c.ControlledShutdown)
	case *stratav1.MetadataCommand_UnregisterBroker:
		return b.unregisterBroker(c.UnregisterBroker)
	case *stratav1.MetadataCommand_AlterPartition:
		return b.alterPartition(c.AlterPartition)
	case *stratav1.MetadataCommand_ElectLeaders:
		return b.electLeaders(c.ElectLeaders)
	case *stratav1.MetadataCommand_AllocateProducerIds:
		return b.allocateProducerIDs(c.AllocateProducerIds)
	case *stratav1.MetadataCommand_NoOp:
		return []*stratav1.MetadataRecord{{Record: &stratav1.MetadataRecord_NoOp{NoOp: &stratav1.NoOpRecord{}}}}, ok()
	default:
		return nil, failure(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "unknown command %T", c)
	}
}

// Lookup answers local reads: it returns the current *State for any query.
func (m *Machine) Lookup(any) (any, error) { return m.state.Load(), nil }

// PrepareSnapshot captures the current state; SaveSnapshot writes it while
// Update goes on.
func (m *Machine) PrepareSnapshot() (any, error) { return m.state.Load(), nil }

// SaveSnapshot writes the captured image.
func (m *Machine) SaveSnapshot(ctx any, w io.Writer, _ sm.ISnapshotFileCollection, stopped <-chan struct{}) error {
	s, ok := ctx.(*State)
	if !ok {
		return fmt.Errorf("fsm: snapshot context is %T", ctx)
	}
	select {
	case <-stopped:
		return sm.ErrSnapshotStopped
	default:
	}
	return s.Image.WriteSnapshot(w)
}

// RecoverFromSnapshot replaces the state with a saved image. The window
// starts empty: watchers behind the image get the image.
func (m *Machine) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, stopped <-chan struct{}) error {
	img, err := metadata.ReadSnapshot(r)
	if err != nil {
		return err
	}
	select {
	case <-stopped:
		return sm.ErrSnapshotStopped
	default:
	}
	m.publish(&State{Image: img, AppliedIndex: m.state.Load().AppliedIndex})
	return nil
}

// Close is called when the replica stops.
func (m *Machine) Close() error { return nil }

// ErrBadResult is returned by DecodeResult for bytes that are no result.
var ErrBadResult = errors.New("fsm: undecodable command result")

// DecodeResult decodes the Data of a dragonboat result.
func DecodeResult(r sm.Result) (*stratav1.CommandResult, error) {
	var res stratav1.CommandResult
	if err := proto.Unmarshal(r.Data, &res); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResult, err)
	}
	return &res, nil
}
