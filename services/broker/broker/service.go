package broker

import (
	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// brokerService serves BrokerService: metadata, produce, fetch, list
// offsets and the followers' Replicate.
type brokerService struct {
	stratav1.UnimplementedBrokerServiceServer
	s *Server
}
