package controller

import (
	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// validators reject malformed requests before a handler runs.
func validators() *rpc.Validators {
	v := rpc.NewValidators()
	rpc.RegisterValidator(v, func(r *stratav1.WatchMetadataRequest) error {
		if r.GetFromOffset() < 0 {
			return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "from_offset %d is negative", r.GetFromOffset())
		}
		return nil
	})
	rpc.RegisterValidator(v, func(r *stratav1.CreateTopicsRequest) error {
		if len(r.GetTopics()) == 0 {
			return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "no topics to create")
		}
		return nil
	})
	rpc.RegisterValidator(v, func(r *stratav1.DeleteTopicsRequest) error {
		if len(r.GetNames()) == 0 {
			return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "no topics to delete")
		}
		return nil
	})
	return v
}
