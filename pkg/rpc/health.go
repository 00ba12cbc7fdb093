package rpc

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// Health is the server's gRPC health service (grpc.health.v1.Health), as
// probed by grpc_health_probe, Kubernetes and load balancers. The empty
// service name is the server as a whole.
type Health struct {
	srv *health.Server
}

// RegisterHealth registers the health service on s. The server as a whole
// starts NOT_SERVING: call SetServing("") once the node can serve (a broker
// after catching up with the metadata log), so nobody routes to it before.
func RegisterHealth(s grpc.ServiceRegistrar) *Health {
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	return &Health{srv: hs}
}

// SetServing reports service ("" for the whole server) as SERVING. It has no
// effect after Shutdown.
func (h *Health) SetServing(service string) {
	h.srv.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
}

// SetNotServing reports service ("" for the whole server) as NOT_SERVING.
func (h *Health) SetNotServing(service string) {
	h.srv.SetServingStatus(service, healthpb.HealthCheckResponse_NOT_SERVING)
}

// Shutdown reports every service NOT_SERVING and ignores later changes; call
// it first when stopping (GracefulStop does). It is idempotent, and a no-op
// on a nil *Health.
func (h *Health) Shutdown() {
	if h == nil {
		return
	}
	h.srv.Shutdown()
}

// RegisterReflection registers the server reflection service, so grpcurl
// and similar tools can list and call the services without proto files.
func RegisterReflection(s reflection.GRPCServer) {
	reflection.Register(s)
}

// Register registers the health and reflection services on s and returns
// the health service.
func Register(s *grpc.Server) *Health {
	RegisterReflection(s)
	return RegisterHealth(s)
}
