package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/strata-log/strata/pkg/client"
)

func quorumCommand() *command {
	return group("quorum", "describe the controller quorum", quorumDescribe())
}

func quorumDescribe() *command {
	return &command{
		name: "describe", summary: "print the quorum's status or its replication", admin: true,
		synopsis: "strata quorum describe --status | --replication",
		help: `Describe the controllers' Raft quorum as kafka-metadata-quorum does.

--status prints "Key:<TAB>value" lines:

ClusterId:	<id>
LeaderId:	1
LeaderEpoch:	5
HighWatermark:	123
MaxFollowerLag:	0
MaxFollowerLagTimeMs:	0
CurrentVoters:	[1,2,3]
CurrentObservers:	[]

MaxFollowerLag is the leader's log end offset minus the lowest voter's,
and MaxFollowerLagTimeMs how long ago that voter was last caught up
compared with the leader (-1 when unknown).

--replication prints a tab-separated table, the leader first:

NodeId	LogEndOffset	Lag	LastFetchTimestamp	LastCaughtUpTimestamp	Status
1	123	0	1712860203036	1712860203036	Leader

Timestamps are milliseconds since the Unix epoch, -1 when unknown; Status
is Leader, Follower or Observer.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			status := fs.Bool("status", false, "print the quorum's status")
			replication := fs.Bool("replication", false, "print each replica's replication state")
			return func(ctx context.Context) error {
				if *status == *replication {
					return s.usage("give one of --status and --replication")
				}
				admin, err := s.admin()
				if err != nil {
					return err
				}
				ctx, cancel := s.withTimeout(ctx)
				defer cancel()
				q, err := admin.DescribeQuorum(ctx)
				if err != nil {
					return err
				}
				if *replication {
					writeQuorumReplication(s.stdout(), q)
					return nil
				}
				cl, err := admin.DescribeCluster(ctx)
				if err != nil {
					return err
				}
				writeQuorumStatus(s.stdout(), cl.ID, q)
				return nil
			}
		},
	}
}

// writeQuorumStatus prints kafka-metadata-quorum describe --status.
func writeQuorumStatus(w io.Writer, clusterID string, q client.Quorum) {
	lag, lagTime := maxFollowerLag(q)
	fmt.Fprintf(w, "ClusterId:\t%s\n", clusterID)
	fmt.Fprintf(w, "LeaderId:\t%d\n", q.LeaderID)
	fmt.Fprintf(w, "LeaderEpoch:\t%d\n", q.LeaderEpoch)
	fmt.Fprintf(w, "HighWatermark:\t%d\n", q.HighWatermark)
	fmt.Fprintf(w, "MaxFollowerLag:\t%d\n", lag)
	fmt.Fprintf(w, "MaxFollowerLagTimeMs:\t%d\n", lagTime)
	fmt.Fprintf(w, "CurrentVoters:\t[%s]\n", replicaIDs(q.Voters))
	fmt.Fprintf(w, "CurrentObservers:\t[%s]\n", replicaIDs(q.Observers))
}

// maxFollowerLag computes the status fields as kafka-metadata-quorum does:
// the voter with the lowest log end offset against the leader.
func maxFollowerLag(q client.Quorum) (lag, lagTimeMs int64) {
	if len(q.Voters) == 0 {
		return 0, -1
	}
	leader := client.QuorumReplica{ID: q.LeaderID, LogEndOffset: q.HighWatermark}
	found := false
	for _, v := range q.Voters {
		if v.ID == q.LeaderID {
			leader, found = v, true
		}
	}
	lowest := q.Voters[0]
	for _, v := range q.Voters[1:] {
		if v.LogEndOffset < lowest.LogEndOffset {
			lowest = v
		}
	}
	lag = leader.LogEndOffset - lowest.LogEndOffset
	switch {
	case found && lowest.ID == leader.ID:
		lagTimeMs = 0
	case found && !leader.LastCaughtUp.IsZero() && !lowest.LastCaughtUp.IsZero():
		lagTimeMs = leader.LastCaughtUp.Sub(lowest.LastCaughtUp).Milliseconds()
	default:
		lagTimeMs = -1
	}
	return max(lag, 0), lagTimeMs
}

func replicaIDs(rs []client.QuorumReplica) string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = strconv.Itoa(int(r.ID))
	}
	return strings.Join(ids, ",")
}

// writeQuorumReplication prints kafka-metadata-quorum describe
// --replication: the leader, the other voters, then the observers.
func writeQuorumReplication(w io.Writer, q client.Quorum) {
	fmt.Fprintln(w, "NodeId\tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus")
	row := func(r client.QuorumReplica, status string) {
		fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.LogEndOffset, r.Lag, millis(r.LastFetch), millis(r.LastCaughtUp), status)
	}
	for _, v := range q.Voters {
		if v.ID == q.LeaderID {
			row(v, "Leader")
		}
	}
	for _, v := range q.Voters {
		if v.ID != q.LeaderID {
			row(v, "Follower")
		}
	}
	for _, o := range q.Observers {
		row(o, "Observer")
	}
}

// millis prints a timestamp as Kafka's tools do: milliseconds since the
// epoch, -1 when unknown.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}
