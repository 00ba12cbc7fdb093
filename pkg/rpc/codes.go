package rpc

import (
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// codeInfo is one row of the error table: how a Strata ErrorCode travels as
// a whole-request gRPC status, whether a client may retry it, and the text
// used when an error carries no message of its own.
type codeInfo struct {
	grpc      codes.Code
	retriable bool
	desc      string
}

// Short names for the table below.
type ec = stratav1.ErrorCode

const (
	retry   = true
	noRetry = false
)

// table is the one place that maps ErrorCode to gRPC status codes and
// retriability. TestTableCoversEveryCode fails when the enum grows and this
// table does not.
//
// The rules behind the gRPC codes:
//
//   - Unavailable: the same request can succeed later or elsewhere without
//     being changed: routing errors (NOT_LEADER_OR_FOLLOWER, NOT_CONTROLLER,
//     NOT_COORDINATOR, which come with a hint saying where to go), elections
//     in progress, too few in-sync replicas, a broker-side disk error (the
//     partition moves to another replica). Generic gRPC clients retry it.
//   - FailedPrecondition: the request is stale and must be rebuilt from fresh
//     state first (fenced epochs, stale broker epoch, partition epoch
//     mismatch, a fenced producer, a group member that must rejoin).
//   - Aborted: a concurrency conflict resolved by redoing a larger unit of
//     work (rejoin after a rebalance, resend from the right sequence).
//   - InvalidArgument: the request is wrong whatever the cluster state
//     (INVALID_*, MESSAGE_TOO_LARGE, CORRUPT_MESSAGE), except
//     INVALID_UPDATE_VERSION and INVALID_PRODUCER_EPOCH, which are stale
//     epochs (FailedPrecondition). MESSAGE_TOO_LARGE is
//     not ResourceExhausted on purpose: a resend never helps, and
//     ResourceExhausted stays reserved for gRPC's own "received message
//     larger than max" transport limit.
//   - NotFound / AlreadyExists / OutOfRange / PermissionDenied /
//     Unauthenticated / DeadlineExceeded: as their names say.
//   - Internal: UNKNOWN_SERVER_ERROR only.
//
// Retriable follows Kafka's RetriableException set, with REBALANCE_IN_PROGRESS
// added (a consumer rejoins and goes on) and ELECTION_NOT_NEEDED left out
// (Kafka marks it retriable through its class hierarchy, but no retry can
// change the answer). Retriable means "retry after the action the code
// implies" (refresh metadata, follow the hint, rejoin), not "resend blindly".
var table = map[ec]codeInfo{
	stratav1.ErrorCode_ERROR_CODE_NONE:                             {codes.OK, noRetry, ""},
	stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR:             {codes.Internal, noRetry, "an unexpected server error"},
	stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE:              {codes.OutOfRange, noRetry, "the requested offset is outside the partition's valid range"},
	stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE:                  {codes.InvalidArgument, retry, "a record batch failed its CRC or could not be decoded"},
	stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION:       {codes.NotFound, retry, "this server does not host this topic-partition"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_FETCH_SIZE:               {codes.InvalidArgument, noRetry, "the requested fetch size is invalid"},
	stratav1.ErrorCode_ERROR_CODE_LEADER_NOT_AVAILABLE:             {codes.Unavailable, retry, "the partition has no leader right now"},
	stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER:           {codes.Unavailable, retry, "this broker is not the leader (or a follower) of the partition"},
	stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT:                {codes.DeadlineExceeded, retry, "the request did not complete in time"},
	stratav1.ErrorCode_ERROR_CODE_BROKER_NOT_AVAILABLE:             {codes.Unavailable, retry, "the broker is not available"},
	stratav1.ErrorCode_ERROR_CODE_REPLICA_NOT_AVAILABLE:            {codes.Unavailable, retry, "the replica is not available for the requested partition"},
	stratav1.ErrorCode_ERROR_CODE_MESSAGE_TOO_LARGE:                {codes.InvalidArgument, noRetry, "the record batch is larger than the topic's max.message.bytes"},
	stratav1.ErrorCode_ERROR_CODE_OFFSET_METADATA_TOO_LARGE:        {codes.InvalidArgument, noRetry, "the committed offset's metadata string is too large"},
	stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION:                {codes.Unavailable, retry, "the connection broke before the response arrived"},
	stratav1.ErrorCode_ERROR_CODE_COORDINATOR_LOAD_IN_PROGRESS:     {codes.Unavailable, retry, "the group coordinator is still loading the group's state"},
	stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE:        {codes.Unavailable, retry, "the group coordinator is not available"},
	stratav1.ErrorCode_ERROR_CODE_NOT_COORDINATOR:                  {codes.Unavailable, retry, "this broker is not the coordinator of the group"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_TOPIC_EXCEPTION:          {codes.InvalidArgument, noRetry, "the topic name is illegal"},
	stratav1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS:              {codes.Unavailable, retry, "the in-sync replicas are fewer than min.insync.replicas; nothing was appended"},
	stratav1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS_AFTER_APPEND: {codes.Unavailable, retry, "the in-sync replicas fell below min.insync.replicas after the append"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_REQUIRED_ACKS:            {codes.InvalidArgument, noRetry, "acks must be -1, 0 or 1"},
	stratav1.ErrorCode_ERROR_CODE_ILLEGAL_GENERATION:               {codes.FailedPrecondition, noRetry, "the member's generation is not the group's current one"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_GROUP_ID:                 {codes.InvalidArgument, noRetry, "the group id is empty or otherwise invalid"},
	stratav1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER_ID:                {codes.NotFound, noRetry, "the coordinator does not know this member id"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_SESSION_TIMEOUT:          {codes.InvalidArgument, noRetry, "the session timeout is outside the allowed range"},
	stratav1.ErrorCode_ERROR_CODE_REBALANCE_IN_PROGRESS:            {codes.Aborted, retry, "the group is rebalancing; rejoin"},
	stratav1.ErrorCode_ERROR_CODE_TOPIC_AUTHORIZATION_FAILED:       {codes.PermissionDenied, noRetry, "the principal may not access the topic"},
	stratav1.ErrorCode_ERROR_CODE_GROUP_AUTHORIZATION_FAILED:       {codes.PermissionDenied, noRetry, "the principal may not access the group"},
	stratav1.ErrorCode_ERROR_CODE_CLUSTER_AUTHORIZATION_FAILED:     {codes.PermissionDenied, noRetry, "the principal may not perform cluster operations"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_TIMESTAMP:                {codes.InvalidArgument, noRetry, "a record's timestamp is outside the allowed range"},
	stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS:             {codes.AlreadyExists, noRetry, "the topic already exists"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_PARTITIONS:               {codes.InvalidArgument, noRetry, "the number of partitions is invalid"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICATION_FACTOR:       {codes.InvalidArgument, noRetry, "the replication factor is invalid"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICA_ASSIGNMENT:       {codes.InvalidArgument, noRetry, "the explicit replica assignment is invalid"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG:                   {codes.InvalidArgument, noRetry, "a configuration name or value is invalid"},
	stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER:                   {codes.Unavailable, retry, "this controller is not the active controller"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST:                  {codes.InvalidArgument, noRetry, "the request is malformed"},
	stratav1.ErrorCode_ERROR_CODE_POLICY_VIOLATION:                 {codes.FailedPrecondition, noRetry, "the request violates a policy"},
	stratav1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE_NUMBER:     {codes.Aborted, noRetry, "the producer's sequence number has a gap"},
	stratav1.ErrorCode_ERROR_CODE_DUPLICATE_SEQUENCE_NUMBER:        {codes.AlreadyExists, noRetry, "the producer sent a duplicate sequence number"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_PRODUCER_EPOCH:           {codes.FailedPrecondition, noRetry, "the producer's epoch is older than the last one seen"},
	stratav1.ErrorCode_ERROR_CODE_KAFKA_STORAGE_ERROR:              {codes.Unavailable, retry, "a disk error on the broker"},
	stratav1.ErrorCode_ERROR_CODE_SASL_AUTHENTICATION_FAILED:       {codes.Unauthenticated, noRetry, "authentication failed"},
	stratav1.ErrorCode_ERROR_CODE_UNKNOWN_PRODUCER_ID:              {codes.FailedPrecondition, noRetry, "the broker does not know the producer id"},
	stratav1.ErrorCode_ERROR_CODE_GROUP_ID_NOT_FOUND:               {codes.NotFound, noRetry, "the group does not exist"},
	stratav1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH:              {codes.FailedPrecondition, retry, "the request's leader epoch is older than the broker's"},
	stratav1.ErrorCode_ERROR_CODE_UNKNOWN_LEADER_EPOCH:             {codes.Unavailable, retry, "the request's leader epoch is newer than the broker's"},
	stratav1.ErrorCode_ERROR_CODE_UNSUPPORTED_COMPRESSION_TYPE:     {codes.InvalidArgument, noRetry, "the compression codec is not supported"},
	stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH:               {codes.FailedPrecondition, noRetry, "the broker epoch is not the broker's current one"},
	stratav1.ErrorCode_ERROR_CODE_OFFSET_NOT_AVAILABLE:             {codes.Unavailable, retry, "the leader has not yet established its high watermark"},
	stratav1.ErrorCode_ERROR_CODE_PREFERRED_LEADER_NOT_AVAILABLE:   {codes.Unavailable, retry, "the preferred leader is not available"},
	stratav1.ErrorCode_ERROR_CODE_ELIGIBLE_LEADERS_NOT_AVAILABLE:   {codes.Unavailable, retry, "no replica is eligible to become leader"},
	stratav1.ErrorCode_ERROR_CODE_ELECTION_NOT_NEEDED:              {codes.FailedPrecondition, noRetry, "the preferred replica is already the leader"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_RECORD:                   {codes.InvalidArgument, noRetry, "a record is invalid"},
	stratav1.ErrorCode_ERROR_CODE_PRODUCER_FENCED:                  {codes.FailedPrecondition, noRetry, "the producer is fenced by a newer instance"},
	stratav1.ErrorCode_ERROR_CODE_INVALID_UPDATE_VERSION:           {codes.FailedPrecondition, noRetry, "the partition epoch in the request is not the current one"},
	stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_ID:                 {codes.NotFound, retry, "the topic id is unknown"},
	stratav1.ErrorCode_ERROR_CODE_DUPLICATE_BROKER_REGISTRATION:    {codes.AlreadyExists, noRetry, "a live broker with another incarnation holds this node id"},
	stratav1.ErrorCode_ERROR_CODE_INCONSISTENT_TOPIC_ID:            {codes.FailedPrecondition, retry, "the topic id does not match the topic name"},
	stratav1.ErrorCode_ERROR_CODE_INCONSISTENT_CLUSTER_ID:          {codes.FailedPrecondition, noRetry, "the cluster id is not this cluster's"},
	stratav1.ErrorCode_ERROR_CODE_INELIGIBLE_REPLICA:               {codes.FailedPrecondition, noRetry, "a replica in the new ISR may not join it (fenced or shutting down)"},
	stratav1.ErrorCode_ERROR_CODE_NEW_LEADER_ELECTED:               {codes.FailedPrecondition, noRetry, "a new leader was elected while the request was in flight"},
	stratav1.ErrorCode_ERROR_CODE_FENCED_MEMBER_EPOCH:              {codes.FailedPrecondition, noRetry, "the member epoch is fenced; rejoin the group"},
	stratav1.ErrorCode_ERROR_CODE_UNSUPPORTED_ASSIGNOR:             {codes.InvalidArgument, noRetry, "the assignor is not supported"},
	stratav1.ErrorCode_ERROR_CODE_STALE_MEMBER_EPOCH:               {codes.FailedPrecondition, noRetry, "the member epoch is stale"},
}

// fromGRPC is the client's fallback for a status that carries no Strata
// ErrorInfo: it was produced by gRPC itself (transport failures, deadlines,
// message size limits, unknown methods) or by a proxy. Codes not listed map
// to UNKNOWN_SERVER_ERROR.
var fromGRPC = map[codes.Code]ec{
	codes.DeadlineExceeded:  stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT,
	codes.Unavailable:       stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION,
	codes.ResourceExhausted: stratav1.ErrorCode_ERROR_CODE_MESSAGE_TOO_LARGE,
	codes.InvalidArgument:   stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST,
	codes.Unimplemented:     stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST,
	codes.OutOfRange:        stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE,
	codes.Unauthenticated:   stratav1.ErrorCode_ERROR_CODE_SASL_AUTHENTICATION_FAILED,
	codes.PermissionDenied:  stratav1.ErrorCode_ERROR_CODE_CLUSTER_AUTHORIZATION_FAILED,
}

const codePrefix = "ERROR_CODE_"

// names and byName are built once from the generated enum maps.
var (
	names  = make(map[ec]string, len(stratav1.ErrorCode_name))
	byName = make(map[string]ec, len(stratav1.ErrorCode_name))
)

func init() {
	for v, full := range stratav1.ErrorCode_name {
		short := strings.TrimPrefix(full, codePrefix)
		names[ec(v)] = short
		byName[short] = ec(v)
	}
}

// CodeName returns the code's name as it appears in ErrorInfo.Reason and in
// logs: the enum name without its ERROR_CODE_ prefix, for example
// "NOT_LEADER_OR_FOLLOWER". A value the enum does not define (a newer peer)
// gives its decimal number, as protobuf's String does.
func CodeName(code stratav1.ErrorCode) string {
	if n, ok := names[code]; ok {
		return n
	}
	return strconv.Itoa(int(code))
}

// ParseCode is the reverse of CodeName. It also accepts the full enum name
// ("ERROR_CODE_NOT_CONTROLLER"). ok is false for a name the enum does not
// define.
func ParseCode(name string) (code stratav1.ErrorCode, ok bool) {
	code, ok = byName[strings.TrimPrefix(name, codePrefix)]
	return code, ok
}

// Retriable reports whether a client may retry a request that failed with
// code, after doing what the code implies: refresh metadata, follow the
// leader or controller hint, rejoin the group. Undefined codes are not
// retriable.
func Retriable(code stratav1.ErrorCode) bool {
	return table[code].retriable
}

// GRPCCode is the gRPC status code a whole-request failure with code is sent
// as. NONE is OK; an undefined code is Internal.
func GRPCCode(code stratav1.ErrorCode) codes.Code {
	if info, ok := table[code]; ok {
		return info.grpc
	}
	return codes.Internal
}

// Description is a one-line explanation of code, used as the message of an
// Error that has none. It is empty for NONE and for undefined codes.
func Description(code stratav1.ErrorCode) string {
	return table[code].desc
}

// defined reports whether code is a real error code of the enum (not NONE).
func defined(code stratav1.ErrorCode) bool {
	_, ok := table[code]
	return ok && code != stratav1.ErrorCode_ERROR_CODE_NONE
}
