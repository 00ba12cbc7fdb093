package client

import "github.com/strata-log/strata/pkg/api/stratav1"

// Sentinels, one per error code, for errors.Is: an *Error (and an
// *rpc.Error) matches the sentinel of its code whatever its message, so
//
//	if errors.Is(err, client.ErrTopicAlreadyExists) { ... }
//
// holds for a per-topic result's error, for FirstError's, and for a
// whole-request failure alike. The names are those of package rpc;
// TestSentinelsMatchRPC keeps both lists the same. Do not modify them.
var (
	ErrUnknownServerError           = sentinel(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR)
	ErrOffsetOutOfRange             = sentinel(stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE)
	ErrCorruptMessage               = sentinel(stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE)
	ErrUnknownTopicOrPartition      = sentinel(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION)
	ErrInvalidFetchSize             = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_FETCH_SIZE)
	ErrLeaderNotAvailable           = sentinel(stratav1.ErrorCode_ERROR_CODE_LEADER_NOT_AVAILABLE)
	ErrNotLeaderOrFollower          = sentinel(stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER)
	ErrRequestTimedOut              = sentinel(stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT)
	ErrBrokerNotAvailable           = sentinel(stratav1.ErrorCode_ERROR_CODE_BROKER_NOT_AVAILABLE)
	ErrReplicaNotAvailable          = sentinel(stratav1.ErrorCode_ERROR_CODE_REPLICA_NOT_AVAILABLE)
	ErrMessageTooLarge              = sentinel(stratav1.ErrorCode_ERROR_CODE_MESSAGE_TOO_LARGE)
	ErrOffsetMetadataTooLarge       = sentinel(stratav1.ErrorCode_ERROR_CODE_OFFSET_METADATA_TOO_LARGE)
	ErrNetworkException             = sentinel(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION)
	ErrCoordinatorLoadInProgress    = sentinel(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_LOAD_IN_PROGRESS)
	ErrCoordinatorNotAvailable      = sentinel(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE)
	ErrNotCoordinator               = sentinel(stratav1.ErrorCode_ERROR_CODE_NOT_COORDINATOR)
	ErrInvalidTopicException        = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_TOPIC_EXCEPTION)
	ErrNotEnoughReplicas            = sentinel(stratav1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS)
	ErrNotEnoughReplicasAfterAppend = sentinel(stratav1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS_AFTER_APPEND)
	ErrInvalidRequiredAcks          = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUIRED_ACKS)
	ErrIllegalGeneration            = sentinel(stratav1.ErrorCode_ERROR_CODE_ILLEGAL_GENERATION)
	ErrInvalidGroupID               = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_GROUP_ID)
	ErrUnknownMemberID              = sentinel(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER_ID)
	ErrInvalidSessionTimeout        = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_SESSION_TIMEOUT)
	ErrRebalanceInProgress          = sentinel(stratav1.ErrorCode_ERROR_CODE_REBALANCE_IN_PROGRESS)
	ErrTopicAuthorizationFailed     = sentinel(stratav1.ErrorCode_ERROR_CODE_TOPIC_AUTHORIZATION_FAILED)
	ErrGroupAuthorizationFailed     = sentinel(stratav1.ErrorCode_ERROR_CODE_GROUP_AUTHORIZATION_FAILED)
	ErrClusterAuthorizationFailed   = sentinel(stratav1.ErrorCode_ERROR_CODE_CLUSTER_AUTHORIZATION_FAILED)
	ErrInvalidTimestamp             = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_TIMESTAMP)
	ErrTopicAlreadyExists           = sentinel(stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS)
	ErrInvalidPartitions            = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_PARTITIONS)
	ErrInvalidReplicationFactor     = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICATION_FACTOR)
	ErrInvalidReplicaAssignment     = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICA_ASSIGNMENT)
	ErrInvalidConfig                = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG)
	ErrNotController                = sentinel(stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER)
	ErrInvalidRequest               = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST)
	ErrPolicyViolation              = sentinel(stratav1.ErrorCode_ERROR_CODE_POLICY_VIOLATION)
	ErrOutOfOrderSequenceNumber     = sentinel(stratav1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE_NUMBER)
	ErrDuplicateSequenceNumber      = sentinel(stratav1.ErrorCode_ERROR_CODE_DUPLICATE_SEQUENCE_NUMBER)
	ErrInvalidProducerEpoch         = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_PRODUCER_EPOCH)
	ErrKafkaStorageError            = sentinel(stratav1.ErrorCode_ERROR_CODE_KAFKA_STORAGE_ERROR)
	ErrSASLAuthenticationFailed     = sentinel(stratav1.ErrorCode_ERROR_CODE_SASL_AUTHENTICATION_FAILED)
	ErrUnknownProducerID            = sentinel(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_PRODUCER_ID)
	ErrGroupIDNotFound              = sentinel(stratav1.ErrorCode_ERROR_CODE_GROUP_ID_NOT_FOUND)
	ErrFencedLeaderEpoch            = sentinel(stratav1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH)
	ErrUnknownLeaderEpoch           = sentinel(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_LEADER_EPOCH)
	ErrUnsupportedCompressionType   = sentinel(stratav1.ErrorCode_ERROR_CODE_UNSUPPORTED_COMPRESSION_TYPE)
	ErrStaleBrokerEpoch             = sentinel(stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH)
	ErrOffsetNotAvailable           = sentinel(stratav1.ErrorCode_ERROR_CODE_OFFSET_NOT_AVAILABLE)
	ErrPreferredLeaderNotAvailable  = sentinel(stratav1.ErrorCode_ERROR_CODE_PREFERRED_LEADER_NOT_AVAILABLE)
	ErrEligibleLeadersNotAvailable  = sentinel(stratav1.ErrorCode_ERROR_CODE_ELIGIBLE_LEADERS_NOT_AVAILABLE)
	ErrElectionNotNeeded            = sentinel(stratav1.ErrorCode_ERROR_CODE_ELECTION_NOT_NEEDED)
	ErrInvalidRecord                = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_RECORD)
	ErrProducerFenced               = sentinel(stratav1.ErrorCode_ERROR_CODE_PRODUCER_FENCED)
	ErrInvalidUpdateVersion         = sentinel(stratav1.ErrorCode_ERROR_CODE_INVALID_UPDATE_VERSION)
	ErrUnknownTopicID               = sentinel(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_ID)
	ErrDuplicateBrokerRegistration  = sentinel(stratav1.ErrorCode_ERROR_CODE_DUPLICATE_BROKER_REGISTRATION)
	ErrInconsistentTopicID          = sentinel(stratav1.ErrorCode_ERROR_CODE_INCONSISTENT_TOPIC_ID)
	ErrInconsistentClusterID        = sentinel(stratav1.ErrorCode_ERROR_CODE_INCONSISTENT_CLUSTER_ID)
	ErrIneligibleReplica            = sentinel(stratav1.ErrorCode_ERROR_CODE_INELIGIBLE_REPLICA)
	ErrNewLeaderElected             = sentinel(stratav1.ErrorCode_ERROR_CODE_NEW_LEADER_ELECTED)
	ErrFencedMemberEpoch            = sentinel(stratav1.ErrorCode_ERROR_CODE_FENCED_MEMBER_EPOCH)
	ErrUnsupportedAssignor          = sentinel(stratav1.ErrorCode_ERROR_CODE_UNSUPPORTED_ASSIGNOR)
	ErrStaleMemberEpoch             = sentinel(stratav1.ErrorCode_ERROR_CODE_STALE_MEMBER_EPOCH)
)

// sentinels lists every sentinel, for the tests.
var sentinels []*Error

func sentinel(code stratav1.ErrorCode) *Error {
	e := newError(code, "")
	sentinels = append(sentinels, e)
	return e
}
