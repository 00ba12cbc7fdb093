package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/strata-log/strata/pkg/client"
)

func clusterCommand() *command {
	return group("cluster", "describe the cluster: its id, brokers and controllers", clusterDescribe())
}

func clusterDescribe() *command {
	return &command{
		name: "describe", summary: "print the cluster id, controllers and brokers", admin: true,
		synopsis: "strata cluster describe",
		help: `Describe the cluster. The first lines are "Key:<TAB>value"; then one line
per controller and per broker, in id order, of tab-separated "Key: value"
fields (as kafka-topics --describe), so that grep and awk -F'\t' read it:

ClusterId:	<id>
ActiveControllerId:	1            (none during an election)
MetadataOffset:	57               (the metadata offset the answer reflects)
Controller: 1	Address: 127.0.0.1:9201	RaftAddress: 127.0.0.1:9301	Active: true
Broker: 101	Address: 10.0.0.1:9092	Rack: r1	Fenced: false	InControlledShutdown: false	Epoch: 12

Rack is "none" for a broker without one.`,
		setup: func(_ *flag.FlagSet, s *session) func(context.Context) error {
			return func(ctx context.Context) error {
				admin, err := s.admin()
				if err != nil {
					return err
				}
				ctx, cancel := s.withTimeout(ctx)
				defer cancel()
				cl, err := admin.DescribeCluster(ctx)
				if err != nil {
					return err
				}
				writeCluster(s.stdout(), cl)
				return nil
			}
		},
	}
}

// writeCluster prints a cluster description; see clusterDescribe's help.
func writeCluster(w io.Writer, cl client.Cluster) {
	fmt.Fprintf(w, "ClusterId:\t%s\n", cl.ID)
	fmt.Fprintf(w, "ActiveControllerId:\t%s\n", idOrNone(cl.ActiveControllerID))
	fmt.Fprintf(w, "MetadataOffset:\t%d\n", cl.MetadataOffset)
	for _, c := range cl.Controllers {
		fmt.Fprintf(w, "Controller: %d\tAddress: %s\tRaftAddress: %s\tActive: %t\n",
			c.ID, orNone(c.Address), orNone(c.RaftAddress), c.ID == cl.ActiveControllerID)
	}
	for _, b := range cl.Brokers {
		fmt.Fprintf(w, "Broker: %d\tAddress: %s\tRack: %s\tFenced: %t\tInControlledShutdown: %t\tEpoch: %d\n",
			b.ID, orNone(b.Address), orNone(b.Rack), b.Fenced, b.InControlledShutdown, b.Epoch)
	}
}

func idOrNone(id int32) string {
	if id < 0 {
		return "none"
	}
	return strconv.Itoa(int(id))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
