package broker

import (
	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// brokerService serves BrokerService: metadata, produce, fetch and list
// offsets (Replicate comes with replication).
type brokerService struct {
	stratav1.UnimplementedBrokerServiceServer
	s *Server
}
