package broker

import (
	"context"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// adminService serves AdminService on the broker by forwarding every call
// to the controllers, so tools need only bootstrap servers.
type adminService struct {
	stratav1.UnimplementedAdminServiceServer
	s *Server
}

// forward calls one AdminService method on the controllers.
func forward[Req, Resp any](ctx context.Context, s *Server, req Req,
	call func(stratav1.AdminServiceClient, context.Context, Req, ...grpc.CallOption) (Resp, error)) (Resp, error) {
	var resp Resp
	err := s.ctl.call(ctx, func(ctx context.Context, cc *grpc.ClientConn) error {
		var err error
		resp, err = call(stratav1.NewAdminServiceClient(cc), ctx, req)
		return err
	})
	return resp, err
}

func (a *adminService) CreateTopics(ctx context.Context, r *stratav1.CreateTopicsRequest) (*stratav1.CreateTopicsResponse, error) {
	return forward(ctx, a.s, r, stratav1.AdminServiceClient.CreateTopics)
}

func (a *adminService) DeleteTopics(ctx context.Context, r *stratav1.DeleteTopicsRequest) (*stratav1.DeleteTopicsResponse, error) {
	return forward(ctx, a.s, r, stratav1.AdminServiceClient.DeleteTopics)
}

func (a *adminService) CreatePartitions(ctx context.Context, r *stratav1.CreatePartitionsRequest) (*stratav1.CreatePartitionsResponse, error) {
	return forward(ctx, a.s, r, stratav1.AdminServiceClient.CreatePartitions)
}

func (a *adminService) ListTopics(ctx context.Context, r *stratav1.ListTopicsRequest) (*stratav1.ListTopicsResponse, error) {
	return forward(ctx, a.s, r, stratav1.AdminServiceClient.ListTopics)
}

func (a *adminService) DescribeTopics(ctx context.Context, r *stratav1.DescribeTopicsRequest) (*stratav1.DescribeTopicsResponse, error) {
	return forward(ctx, a.s, r, stratav1.AdminServiceClient.DescribeTopics)
}

func (a *adminService) DescribeCluster(ctx context.Context, r *stratav1.DescribeClusterRequest) (*stratav1.DescribeClusterResponse, error) {
	return forward(ctx, a.s, r, stratav1.AdminServiceClient.DescribeCluster)
}

func (a *adminService) DescribeQuorum(ctx context.Context, r *stratav1.DescribeQuorumRequest) (*stratav1.DescribeQuorumResponse, error) {
	return forward(ctx, a.s, r, stratav1.AdminServiceClient.DescribeQuorum)
}

func (a *adminService) DescribeConfigs(ctx context.Context, r *stratav1.DescribeConfigsRequest) (*stratav1.DescribeConfigsResponse, error) {
	return forward(ctx, a.s, r, stratav1.AdminServiceClient.DescribeConfigs)
}

func (a *adminService) IncrementalAlterConfigs(ctx context.Context, r *stratav1.IncrementalAlterConfigsRequest) (*stratav1.IncrementalAlterConfigsResponse, error) {
	return forward(ctx, a.s, r, stratav1.AdminServiceClient.IncrementalAlterConfigs)
}

func (a *adminService) ElectLeaders(ctx context.Context, r *stratav1.ElectLeadersRequest) (*stratav1.ElectLeadersResponse, error) {
	return forward(ctx, a.s, r, stratav1.AdminServiceClient.ElectLeaders)
}
