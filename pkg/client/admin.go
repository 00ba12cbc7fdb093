package client

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// Admin is the administration client: topics, partitions, configs, leader
// elections, and descriptions of the cluster and of the controller quorum.
// It is safe for concurrent use. Close it when done.
type Admin struct {
	c *caller
}

// NewAdmin returns an admin client. It checks the options but does not
// connect: the first call does. BootstrapServers or BootstrapControllers is
// required.
func NewAdmin(opts ...Opt) (*Admin, error) {
	c, err := newCaller(opts)
	if err != nil {
		return nil, err
	}
	return &Admin{c: c}, nil
}

// Close closes the client's connections; calls in flight and later calls
// fail with ErrClosed. It is idempotent.
func (a *Admin) Close() error { return a.c.close() }

// call runs one AdminService call with retries.
func (a *Admin) call(ctx context.Context, op string, fn func(context.Context, stratav1.AdminServiceClient) error) error {
	return a.c.do(ctx, op, func(ctx context.Context, cc grpc.ClientConnInterface) error {
		return fn(ctx, stratav1.NewAdminServiceClient(cc))
	})
}

// RequestOpt tunes one admin request. Each method lists the options it
// takes and refuses the others.
type RequestOpt interface {
	applyRequest(*requestCfg)
}

type requestCfg struct {
	validateOnly    bool
	includeInternal bool
	given           []string // option names, for the check
}

type requestOptFunc struct {
	name string
	fn   func(*requestCfg)
}

func (o requestOptFunc) applyRequest(c *requestCfg) {
	o.fn(c)
	c.given = append(c.given, o.name)
}

// ValidateOnly makes CreateTopics, CreatePartitions and
// IncrementalAlterConfigs check the request against the cluster and change
// nothing; the results say what would have failed.
func ValidateOnly() RequestOpt {
	return requestOptFunc{"ValidateOnly", func(c *requestCfg) { c.validateOnly = true }}
}

// IncludeInternal makes ListTopics, and DescribeTopics without names,
// include internal topics such as __consumer_offsets.
func IncludeInternal() RequestOpt {
	return requestOptFunc{"IncludeInternal", func(c *requestCfg) { c.includeInternal = true }}
}

// requestOpts applies opts and refuses those op does not take.
func requestOpts(op string, opts []RequestOpt, allowed ...string) (requestCfg, error) {
	var rc requestCfg
	for _, o := range opts {
		if o != nil {
			o.applyRequest(&rc)
		}
	}
	for _, name := range rc.given {
		if !slices.Contains(allowed, name) {
			return rc, fmt.Errorf("client: %s does not take the %s option", op, name)
		}
	}
	return rc, nil
}
