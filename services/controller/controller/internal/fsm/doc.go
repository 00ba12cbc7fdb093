// Package fsm is the controllers' metadata state machine: a dragonboat
// IConcurrentStateMachine whose Update turns commands into metadata records
// and applies them to the image.
//
// Determinism: everything Update does is a function of the image and the
// command. No clock, no randomness, no map-order iteration; values that must
// vary (topic ids, defaults from a controller's configuration) are chosen by
// the proposer and travel inside the command. The command handlers are pure
// functions (image, command) -> (records, result), so validate-only requests
// run the same code on the local image without proposing anything.
//
// Concurrency: dragonboat calls Update, PrepareSnapshot and
// RecoverFromSnapshot with mutual exclusion; Lookup and SaveSnapshot may run
// at the same time as Update. All state that readers see is published as
// one immutable *State through an atomic pointer, so PrepareSnapshot just
// captures that pointer and a snapshot never blocks Update.
package fsm
