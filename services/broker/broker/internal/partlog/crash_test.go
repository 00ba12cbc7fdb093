package partlog

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
)

// The crash writer: the test binary run again with these variables set.
const (
	crashDirEnv   = "STRATA_PARTLOG_CRASH_DIR"
	crashFsyncEnv = "STRATA_PARTLOG_CRASH_FSYNC"
	crashTopicEnv = "STRATA_PARTLOG_CRASH_TOPIC"
	// crashModeEnv is crashProducers for a writer of idempotent batches
	// (buildProducerCrashAppend), empty for plain ones.
	crashModeEnv = "STRATA_PARTLOG_CRASH_MODE"
)

const crashProducers = "producers"

// crashAppend is what the writer appends each time: batches in the value
// log and inline in the LSM tree; 12 offsets.
var crashAppend = []batchSpec{
	{records: 4, valueSize: 2000}, {records: 1, valueSize: 100}, {records: 3, valueSize: 2000},
	{records: 2, valueSize: 100}, {records: 2, valueSize: 3000},
}

const crashAppendOffsets = 12

// crashPartitions is the number of partitions the writer appends to, each
// from its own goroutine, so that when the kill comes after one partition's
// acknowledgement the others are somewhere inside an append.
const crashPartitions = 3

// runCrashWriter appends to partitions until it is killed, printing
// "ack PARTITION FIRST LAST" after each append returns. It returns an exit
// code.
func runCrashWriter(dir, fsync string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "crash writer:", err)
		return 2
	}
	opts := Options{}
	if fsync == FsyncEveryBatch.String() {
		opts.Fsync = FsyncEveryBatch
	}
	raw, err := hex.DecodeString(os.Getenv(crashTopicEnv))
	if err != nil {
		return fail(err)
	}
	topic, err := metadata.TopicIDFromBytes(raw)
	if err != nil {
		return fail(err)
	}
	s, err := Open(dir, opts)
	if err != nil {
		return fail(err)
	}
	var mu sync.Mutex // serializes the acks on stdout
	errs := make(chan error, crashPartitions)
	for p := range int32(crashPartitions) {
		l, err := s.Partition(topic, p)
		if err != nil {
			return fail(err)
		}
		build := buildCrashAppend
		if os.Getenv(crashModeEnv) == crashProducers {
			build = func(leo int64) []byte { return buildProducerCrashAppend(p, leo) }
		}
		go func() {
			for range 1_000_000 {
				leo := l.LogEndOffset()
				info, err := l.Append(build(leo), 1)
				first, last := info.FirstOffset, info.LastOffset
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				_, err = fmt.Fprintf(os.Stdout, "ack %d %d %d\n", p, first, last)
				mu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- errors.New("not killed")
		}()
	}
	return fail(<-errs)
}

func buildCrashAppend(start int64) []byte { return buildCrashLike(start, crashAppend) }

// buildCrashLike is build for any goroutine (and the crash writer, which has
// no testing.T); it panics on a Builder error, which cannot happen here.
func buildCrashLike(start int64, specs []batchSpec) []byte {
	var out []byte
	b := recordbatch.NewBuilder(recordbatch.None, nil)
	off := start
	for _, s := range specs {
		b.Reset(recordbatch.None, nil)
		for range s.records {
			b.Append(recordbatch.Record{Value: recordValue(off, s.valueSize), Timestamp: recordTime(off)})
			off++
		}
		var err error
		if out, err = b.Build(out); err != nil {
			panic(err)
		}
	}
	return out
}

// TestCrashKeepsAcknowledgedAppends kills a writer with SIGKILL in the middle
// of its appends and checks, after reopening, that every append it
// acknowledged is there, whole, and that the log has no gap and no partial
// append or batch.
func TestCrashKeepsAcknowledgedAppends(t *testing.T) {
	for i := range 8 {
		fsync := []FsyncPolicy{FsyncEveryBatch, FsyncNever}[i%2]
		t.Run(fmt.Sprintf("%s/%d", fsync, i), func(t *testing.T) {
			dir, topic, lastAck := crashWriter(t, "", fsync)
			s := reopen(t, dir, Options{})
			for p := range int32(crashPartitions) {
				checkCrashedPartition(t, partition(t, s, topic, p), lastAck[p])
			}
		})
	}
}

// crashWriter runs the crash writer in mode on a new directory, kills it
// with SIGKILL at a random point of its appends, and returns the directory,
// the topic and the last offset acknowledged in each partition.
func crashWriter(t *testing.T, mode string, fsync FsyncPolicy) (string, metadata.TopicID, []int64) {
	t.Helper()
	// Kill at a different point each time.
	killAfter := 30 + rand.IntN(600)
	dir := t.TempDir()
	topic := metadata.NewTopicID()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashFsyncEnv+"="+fsync.String(),
		crashTopicEnv+"="+hex.EncodeToString(topic[:]), crashModeEnv+"="+mode)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lastAck := make([]int64, crashPartitions)
	for p := range lastAck {
		lastAck[p] = -1
	}
	acks, killed := 0, false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var p int
		var first, last int64
		if _, err := fmt.Sscanf(sc.Text(), "ack %d %d %d", &p, &first, &last); err != nil || p < 0 || p >= crashPartitions {
			t.Fatalf("writer printed %q", sc.Text())
		}
		if first != lastAck[p]+1 {
			t.Fatalf("writer acknowledged [%d, %d] of partition %d after %d", first, last, p, lastAck[p])
		}
		lastAck[p], acks = last, acks+1
		if acks == killAfter && !killed {
			// Kill -9 in the middle of the load; the acks already in
			// the pipe still count.
			if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("writer exited after %d acks: %v\n%s", acks, err, stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("writer ended with %v, not SIGKILL\n%s", err, stderr.String())
	}
	return dir, topic, lastAck
}

// checkCrashedPartition checks a partition the crash writer appended to, up
// to lastAck acknowledged: every acknowledged append is there, whole, and the
// log has no gap, no partial append and no partial batch.
func checkCrashedPartition(t *testing.T, l *Log, lastAck int64) {
	t.Helper()
	leo := l.LogEndOffset()
	t.Logf("partition %d: acknowledged up to %d, recovered LEO %d", l.Partition(), lastAck, leo)
	if leo <= lastAck {
		t.Fatalf("partition %d: recovered LEO %d, but offset %d was acknowledged", l.Partition(), leo, lastAck)
	}
	if leo%crashAppendOffsets != 0 {
		t.Fatalf("partition %d: recovered LEO %d is not at the end of an append (a torn append is visible)", l.Partition(), leo)
	}
	batches := readAll(t, l, 0, leo, 4<<20) // gapless, whole, CRC-valid, right values
	if len(batches) != int(leo/crashAppendOffsets)*len(crashAppend) {
		t.Fatalf("partition %d: %d batches for %d offsets", l.Partition(), len(batches), leo)
	}
	if got := sumSizes(batches); got != l.Size() {
		t.Fatalf("partition %d: Size() = %d after recovery, batches hold %d", l.Partition(), l.Size(), got)
	}
	if h := l.EpochHistory(); len(h) != 1 || h[0] != (EpochEntry{1, 0}) {
		t.Fatalf("partition %d: epoch history after recovery = %v", l.Partition(), h)
	}
	info, err := l.Append(buildCrashAppend(leo), 1)
	if first := info.FirstOffset; err != nil || first != leo {
		t.Fatalf("partition %d: append after recovery at %d: %v", l.Partition(), first, err)
	}
}
