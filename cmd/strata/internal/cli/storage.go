package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/strata-log/strata/pkg/metaprops"
)

func storageCommand() *command {
	return group("storage", "storage tools: make a cluster id", storageRandomUUID())
}

func storageRandomUUID() *command {
	return &command{
		name: "random-uuid", summary: "print a new cluster id",
		synopsis: "strata storage random-uuid",
		help: `Print a new random cluster id (22 characters of URL-safe base64), for
strata-controller format --cluster-id and strata-broker format
--cluster-id, as kafka-storage random-uuid does.`,
		setup: func(_ *flag.FlagSet, s *session) func(context.Context) error {
			return func(context.Context) error {
				fmt.Fprintln(s.stdout(), metaprops.NewClusterID())
				return nil
			}
		},
	}
}
