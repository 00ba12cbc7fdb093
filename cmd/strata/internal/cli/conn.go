package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/strata-log/strata/pkg/client"
)

// Environment variables that stand in for the connection flags.
const (
	EnvBootstrapServer     = "STRATA_BOOTSTRAP_SERVER"
	EnvBootstrapController = "STRATA_BOOTSTRAP_CONTROLLER"
)

// DefaultTimeout bounds an admin command, retries included.
const DefaultTimeout = 30 * time.Second

// Admin is the part of pkg/client's Admin the commands use.
type Admin interface {
	CreateTopics(ctx context.Context, topics []client.TopicSpec, opts ...client.RequestOpt) (client.Results[client.CreatedTopic], error)
	DeleteTopics(ctx context.Context, names ...string) (client.Results[client.DeletedTopic], error)
	CreatePartitions(ctx context.Context, topics []client.PartitionsSpec, opts ...client.RequestOpt) (client.Results[client.CreatedPartitions], error)
	ListTopics(ctx context.Context, opts ...client.RequestOpt) ([]client.TopicListing, error)
	DescribeTopics(ctx context.Context, names []string, opts ...client.RequestOpt) (client.Results[client.TopicDetail], error)
	DescribeCluster(ctx context.Context) (client.Cluster, error)
	DescribeQuorum(ctx context.Context) (client.Quorum, error)
	DescribeConfigs(ctx context.Context, resources []client.ConfigResource, names ...string) (client.Results[client.ResourceConfigs], error)
	IncrementalAlterConfigs(ctx context.Context, changes []client.AlterConfigs, opts ...client.RequestOpt) (client.Results[client.AlterConfigsResult], error)
	Close() error
}

// AdminConfig is how to reach the cluster: brokers or controllers.
type AdminConfig struct {
	Servers     []string
	Controllers []string
}

func newClientAdmin(c AdminConfig) (Admin, error) {
	opts := []client.Opt{client.ClientID("strata-cli")}
	if len(c.Servers) > 0 {
		opts = append(opts, client.BootstrapServers(c.Servers...))
	}
	if len(c.Controllers) > 0 {
		opts = append(opts, client.BootstrapControllers(c.Controllers...))
	}
	return client.NewAdmin(opts...)
}

// connFlags are the flags every admin command takes, before or after the
// command words.
type connFlags struct {
	server     setString
	controller setString
	timeout    time.Duration
}

var connFlagNames = []string{"bootstrap-server", "bootstrap-controller", "timeout"}

func isConnFlag(name string) bool { return slices.Contains(connFlagNames, name) }

// register adds the flags to fs; a value given at an earlier level of the
// command line stays unless given again.
func (c *connFlags) register(fs *flag.FlagSet) {
	fs.Var(&c.server, "bootstrap-server", "`HOST:PORT[,...]` the brokers to connect to (or $"+EnvBootstrapServer+")")
	fs.Var(&c.controller, "bootstrap-controller", "`HOST:PORT[,...]` the controllers to connect to instead; no broker needed (or $"+EnvBootstrapController+")")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "`DURATION` how long to wait for the cluster, retries included")
}

// config picks the addresses: the flags when given, else the environment.
func (c *connFlags) config(lookup func(string) (string, bool)) (AdminConfig, error) {
	if c.timeout <= 0 {
		return AdminConfig{}, fmt.Errorf("--timeout must be positive, not %v", c.timeout)
	}
	server, controller := c.server, c.controller
	if !server.set && !controller.set {
		if v, ok := lookup(EnvBootstrapServer); ok && strings.TrimSpace(v) != "" {
			server = setString{v, true}
		}
		if v, ok := lookup(EnvBootstrapController); ok && strings.TrimSpace(v) != "" {
			controller = setString{v, true}
		}
	}
	switch {
	case server.set && controller.set:
		return AdminConfig{}, errors.New("--bootstrap-server and --bootstrap-controller are both set; use one")
	case server.set:
		return AdminConfig{Servers: splitList(server.value)}, nil
	case controller.set:
		return AdminConfig{Controllers: splitList(controller.value)}, nil
	}
	return AdminConfig{}, errors.New("no cluster to talk to: set --bootstrap-server or --bootstrap-controller (or $" + EnvBootstrapServer + ")")
}

// setString is a string flag that knows whether it was given.
type setString struct {
	value string
	set   bool
}

func (s *setString) String() string { return s.value }

func (s *setString) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty value")
	}
	s.value, s.set = v, true
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// withTimeout is the context of an admin command.
func (s *session) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.conn.timeout)
}
