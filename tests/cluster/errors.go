package cluster

import (
	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// containsCode reports whether err carries the Strata error code.
func containsCode(err error, code stratav1.ErrorCode) bool {
	return rpc.CodeOf(rpc.FromError(err)) == code
}
