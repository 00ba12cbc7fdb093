package rpc

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// allCodes is every value of the generated enum, NONE included, in order.
func allCodes() []stratav1.ErrorCode {
	var out []stratav1.ErrorCode
	for v := range stratav1.ErrorCode_name {
		out = append(out, stratav1.ErrorCode(v))
	}
	slices.Sort(out)
	return out
}

func TestTableCoversEveryCode(t *testing.T) {
	for _, code := range allCodes() {
		info, ok := table[code]
		if !ok {
			t.Errorf("%s (%d) is missing from the error table", code, code)
			continue
		}
		if code == stratav1.ErrorCode_ERROR_CODE_NONE {
			if info.grpc != codes.OK || info.retriable {
				t.Errorf("NONE must be OK and not retriable, got %v, %v", info.grpc, info.retriable)
			}
			continue
		}
		if info.grpc == codes.OK {
			t.Errorf("%s maps to gRPC OK", code)
		}
		if info.desc == "" {
			t.Errorf("%s has no description", code)
		}
	}
	if len(table) != len(stratav1.ErrorCode_name) {
		t.Errorf("table has %d rows, the enum %d values: a row names a code the enum lacks", len(table), len(stratav1.ErrorCode_name))
	}
}

func TestCodeNameParseCodeRoundTrip(t *testing.T) {
	for _, code := range allCodes() {
		name := CodeName(code)
		if strings.HasPrefix(name, "ERROR_CODE_") || name != strings.TrimPrefix(code.String(), "ERROR_CODE_") {
			t.Errorf("CodeName(%d) = %q", code, name)
		}
		got, ok := ParseCode(name)
		if !ok || got != code {
			t.Errorf("ParseCode(%q) = %v, %v; want %v", name, got, ok, code)
		}
		got, ok = ParseCode(code.String())
		if !ok || got != code {
			t.Errorf("ParseCode(%q) = %v, %v; want %v", code.String(), got, ok, code)
		}
	}
	if got := CodeName(stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER); got != "NOT_LEADER_OR_FOLLOWER" {
		t.Errorf("CodeName(NOT_LEADER_OR_FOLLOWER) = %q", got)
	}
	if got := CodeName(999); got != "999" {
		t.Errorf("CodeName(999) = %q", got)
	}
	for _, bad := range []string{"", "NOPE", "not_controller", "ERROR_CODE_", "41"} {
		if code, ok := ParseCode(bad); ok {
			t.Errorf("ParseCode(%q) = %v, true; want false", bad, code)
		}
	}
}

func TestRetriableSet(t *testing.T) {
	want := map[string]bool{
		"CORRUPT_MESSAGE": true, "UNKNOWN_TOPIC_OR_PARTITION": true, "LEADER_NOT_AVAILABLE": true,
		"NOT_LEADER_OR_FOLLOWER": true, "REQUEST_TIMED_OUT": true, "BROKER_NOT_AVAILABLE": true,
		"REPLICA_NOT_AVAILABLE": true, "NETWORK_EXCEPTION": true, "COORDINATOR_LOAD_IN_PROGRESS": true,
		"COORDINATOR_NOT_AVAILABLE": true, "NOT_COORDINATOR": true, "NOT_ENOUGH_REPLICAS": true,
		"NOT_ENOUGH_REPLICAS_AFTER_APPEND": true, "REBALANCE_IN_PROGRESS": true, "NOT_CONTROLLER": true,
		"KAFKA_STORAGE_ERROR": true, "FENCED_LEADER_EPOCH": true, "UNKNOWN_LEADER_EPOCH": true,
		"OFFSET_NOT_AVAILABLE": true, "PREFERRED_LEADER_NOT_AVAILABLE": true,
		"ELIGIBLE_LEADERS_NOT_AVAILABLE": true, "UNKNOWN_TOPIC_ID": true, "INCONSISTENT_TOPIC_ID": true,
	}
	for _, code := range allCodes() {
		if got := Retriable(code); got != want[CodeName(code)] {
			t.Errorf("Retriable(%s) = %v, want %v", CodeName(code), got, want[CodeName(code)])
		}
	}
	if Retriable(999) {
		t.Error("an undefined code is retriable")
	}
}

// TestGRPCCodeChoices pins the decisions the package doc promises.
func TestGRPCCodeChoices(t *testing.T) {
	want := map[string]codes.Code{
		"NONE":                         codes.OK,
		"UNKNOWN_SERVER_ERROR":         codes.Internal,
		"NOT_LEADER_OR_FOLLOWER":       codes.Unavailable,
		"NOT_CONTROLLER":               codes.Unavailable,
		"LEADER_NOT_AVAILABLE":         codes.Unavailable,
		"NOT_COORDINATOR":              codes.Unavailable,
		"COORDINATOR_NOT_AVAILABLE":    codes.Unavailable,
		"NOT_ENOUGH_REPLICAS":          codes.Unavailable,
		"KAFKA_STORAGE_ERROR":          codes.Unavailable,
		"REQUEST_TIMED_OUT":            codes.DeadlineExceeded,
		"UNKNOWN_TOPIC_OR_PARTITION":   codes.NotFound,
		"TOPIC_ALREADY_EXISTS":         codes.AlreadyExists,
		"INVALID_REQUIRED_ACKS":        codes.InvalidArgument,
		"INVALID_TOPIC_EXCEPTION":      codes.InvalidArgument,
		"MESSAGE_TOO_LARGE":            codes.InvalidArgument,
		"STALE_BROKER_EPOCH":           codes.FailedPrecondition,
		"FENCED_LEADER_EPOCH":          codes.FailedPrecondition,
		"INVALID_UPDATE_VERSION":       codes.FailedPrecondition,
		"OFFSET_OUT_OF_RANGE":          codes.OutOfRange,
		"SASL_AUTHENTICATION_FAILED":   codes.Unauthenticated,
		"TOPIC_AUTHORIZATION_FAILED":   codes.PermissionDenied,
		"GROUP_AUTHORIZATION_FAILED":   codes.PermissionDenied,
		"CLUSTER_AUTHORIZATION_FAILED": codes.PermissionDenied,
	}
	for name, c := range want {
		code, ok := ParseCode(name)
		if !ok {
			t.Fatalf("ParseCode(%q) failed", name)
		}
		if got := GRPCCode(code); got != c {
			t.Errorf("GRPCCode(%s) = %v, want %v", name, got, c)
		}
	}
	// Every INVALID_* code is InvalidArgument, but for two that mean a stale
	// epoch rather than bad input.
	stale := map[string]bool{"INVALID_UPDATE_VERSION": true, "INVALID_PRODUCER_EPOCH": true}
	for _, code := range allCodes() {
		name := CodeName(code)
		if strings.HasPrefix(name, "INVALID_") && !stale[name] && GRPCCode(code) != codes.InvalidArgument {
			t.Errorf("GRPCCode(%s) = %v, want InvalidArgument", name, GRPCCode(code))
		}
	}
	if got := GRPCCode(999); got != codes.Internal {
		t.Errorf("GRPCCode(999) = %v, want Internal", got)
	}
}

// TestSentinelsCoverEveryCode parses sentinels.go and checks that every
// error code has its Err variable, initialized with its own code.
func TestSentinelsCoverEveryCode(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "sentinels.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{} // var name -> enum constant
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			return true
		}
		call, ok := vs.Values[0].(*ast.CallExpr)
		if !ok || len(call.Args) != 1 {
			return true
		}
		if sel, ok := call.Args[0].(*ast.SelectorExpr); ok {
			got[vs.Names[0].Name] = sel.Sel.Name
		}
		return true
	})
	initialisms := map[string]bool{"ID": true, "SASL": true}
	for _, code := range allCodes() {
		if code == stratav1.ErrorCode_ERROR_CODE_NONE {
			continue
		}
		var b strings.Builder
		b.WriteString("Err")
		for w := range strings.SplitSeq(CodeName(code), "_") {
			if initialisms[w] {
				b.WriteString(w)
			} else {
				b.WriteString(w[:1] + strings.ToLower(w[1:]))
			}
		}
		name := b.String()
		if c, ok := got[name]; !ok {
			t.Errorf("no sentinel %s for %s", name, code)
		} else if c != "ErrorCode_"+code.String() {
			t.Errorf("sentinel %s is initialized with %s, want ErrorCode_%s", name, c, code)
		}
		delete(got, name)
	}
	for name := range got {
		t.Errorf("sentinel %s names no error code", name)
	}
	if !ErrNotController.Is(NotController(1, "a")) || ErrNotController.Code != stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER {
		t.Error("ErrNotController has the wrong code")
	}
}
