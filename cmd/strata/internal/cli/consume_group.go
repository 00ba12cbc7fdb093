package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/strata-log/strata/pkg/client"
)

// The consumer properties `consume --group` takes, Kafka's names.
var groupConsumerProperties = []string{"session.timeout.ms", "auto.commit.interval.ms", "enable.auto.commit", "group.remote.assignor", "client.id"}

// groupOptions turns --consumer-property flags into client options.
func groupOptions(props []string) ([]client.Opt, error) {
	kv, err := parseProperties(props, groupConsumerProperties)
	if err != nil {
		return nil, fmt.Errorf("--consumer-%s", err.Error()[2:]) // "--property ..." names the flag
	}
	var opts []client.Opt
	ms := func(k, v string) (time.Duration, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("--consumer-property %s=%s: want a positive number of milliseconds", k, v)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	for _, k := range groupConsumerProperties {
		v, ok := kv[k]
		if !ok {
			continue
		}
		switch k {
		case "session.timeout.ms":
			d, err := ms(k, v)
			if err != nil {
				return nil, err
			}
			opts = append(opts, client.SessionTimeout(d))
		case "auto.commit.interval.ms":
			d, err := ms(k, v)
			if err != nil {
				return nil, err
			}
			opts = append(opts, client.AutoCommitInterval(d))
		case "enable.auto.commit":
			on, err := parseBoolProperty(k, v)
			if err != nil {
				return nil, fmt.Errorf("--consumer-%s", err.Error()[2:])
			}
			opts = append(opts, client.AutoCommit(on))
		case "group.remote.assignor":
			opts = append(opts, client.GroupAssignor(v))
		case "client.id":
			opts = append(opts, client.ClientID(v))
		}
	}
	return opts, nil
}

// consumeGroup prints the records the group gives the consumer.
func consumeGroup(ctx context.Context, s *session, c *client.Consumer, a consumeArgs) error {
	if err := c.Subscribe(a.topic); err != nil {
		return err
	}
	return printRecords(ctx, s, c, a)
}
