package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/testutil"
)

// TestControllerSurvivesKill9: kill -9 the active controller; another one
// takes writes at once; the killed one restarts from its Raft log and
// snapshots with the same topics as the others.
func TestControllerSurvivesKill9(t *testing.T) {
	bin := build(t)
	clusterID := strings.TrimSpace(mustRun(t, bin.strata, "storage", "random-uuid"))
	set := startControllers(t, bin, clusterID, 3)
	admin, err := client.NewAdmin(client.BootstrapControllers(set.grpc...), client.RetryBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	active := func() int {
		t.Helper()
		var id int32
		testutil.WaitFor(t, 20*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			cl, err := admin.DescribeCluster(ctx)
			if err != nil {
				return err
			}
			if _, ok := cl.ActiveController(); !ok || len(cl.Controllers) != 3 {
				return fmt.Errorf("active %d, %d controllers known", cl.ActiveControllerID, len(cl.Controllers))
			}
			id = cl.ActiveControllerID
			return nil
		})
		return int(id) - 1
	}
	killed := active()
	startBroker(t, clusterID, set.grpc, 101, "")
	bootstrap := "--bootstrap-controller=" + strings.Join(set.grpc, ",")
	create := func(name string) {
		t.Helper()
		testutil.WaitFor(t, 20*time.Second, func() error {
			r := run(t, nil, bin.strata, bootstrap, "topics", "create", "--topic", name, "--partitions", "2",
				"--replication-factor", "1", "--if-not-exists")
			if r.code != 0 {
				return fmt.Errorf("exit %d: %s", r.code, r.stderr)
			}
			return nil
		})
	}
	for i := range 5 {
		create(fmt.Sprintf("before-%d", i))
	}

	set.procs[killed].kill()
	create("after-kill")
	if now := active(); now == killed {
		t.Fatalf("the killed controller %d is still active", killed+1)
	}

	set.start(t, killed)
	want := []string{"after-kill", "before-0", "before-1", "before-2", "before-3", "before-4"}
	only := "--bootstrap-controller=" + set.grpc[killed]
	testutil.WaitFor(t, 20*time.Second, func() error {
		r := run(t, nil, bin.strata, only, "--timeout=2s", "topics", "list")
		if got := strings.Fields(r.stdout); r.code != 0 || !slices.Equal(got, want) {
			return fmt.Errorf("restarted controller lists %v (exit %d, %s)", got, r.code, r.stderr)
		}
		return nil
	})
	for _, p := range set.procs {
		p.stop(t, 20*time.Second)
	}
}
