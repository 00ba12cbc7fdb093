package broker

import (
	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// validators reject malformed requests before a handler runs.
func validators() *rpc.Validators {
	v := rpc.NewValidators()
	rpc.RegisterValidator(v, func(r *stratav1.ProduceRequest) error { return checkAcks(r.GetAcks()) })
	rpc.RegisterValidator(v, func(r *stratav1.ProduceStreamRequest) error { return checkAcks(r.GetRequest().GetAcks()) })
	rpc.RegisterValidator(v, func(r *stratav1.InitProducerIdRequest) error {
		return checkProducerIDAndEpoch(r.GetProducerId(), r.GetProducerEpoch())
	})
	return v
}

func checkAcks(acks int32) error {
	if acks != -1 && acks != 0 && acks != 1 {
		return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUIRED_ACKS, "acks must be -1 (all), 0 or 1, not %d", acks)
	}
	return nil
}
