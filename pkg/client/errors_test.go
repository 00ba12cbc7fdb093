package client

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"testing"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// sentinelNames maps a sentinels file's variable names to the enum
// constants they are made from.
func sentinelNames(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := make(map[string]string)
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			return true
		}
		if call, ok := vs.Values[0].(*ast.CallExpr); ok && len(call.Args) == 1 {
			if sel, ok := call.Args[0].(*ast.SelectorExpr); ok {
				names[vs.Names[0].Name] = sel.Sel.Name
			}
		}
		return true
	})
	return names
}

func TestSentinelsMatchRPC(t *testing.T) {
	ours, theirs := sentinelNames(t, "sentinels.go"), sentinelNames(t, "../rpc/sentinels.go")
	if len(theirs) == 0 || !maps.Equal(ours, theirs) {
		t.Fatalf("client sentinels differ from rpc's:\nclient %v\nrpc    %v", ours, theirs)
	}
	codes := make(map[stratav1.ErrorCode]bool)
	for _, s := range sentinels {
		if codes[s.Code] {
			t.Errorf("two sentinels for %s", s.Name)
		}
		codes[s.Code] = true
	}
	for v := range stratav1.ErrorCode_name {
		if code := stratav1.ErrorCode(v); code != stratav1.ErrorCode_ERROR_CODE_NONE && !codes[code] {
			t.Errorf("no sentinel for %s", rpc.CodeName(code))
		}
	}
}

func TestErrorsMatchSentinelsOfBothPackages(t *testing.T) {
	perTopic := resultError(stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS, "Topic 'a' already exists.")
	wholeRequest := fmt.Errorf("client: CreateTopics: %w", fromRPC(rpc.NotController(2, "10.0.0.2:9201")))
	results := Results[CreatedTopic]{{Name: "ok"}, {Name: "a", Err: perTopic}}

	for _, tc := range []struct {
		name      string
		err       error
		sentinel  *Error
		rpcSent   *rpc.Error
		retriable bool
		text      string
	}{
		{"per topic", perTopic, ErrTopicAlreadyExists, rpc.ErrTopicAlreadyExists, false,
			"TOPIC_ALREADY_EXISTS: Topic 'a' already exists."},
		{"first error", results.FirstError(), ErrTopicAlreadyExists, rpc.ErrTopicAlreadyExists, false,
			"topic a: TOPIC_ALREADY_EXISTS: Topic 'a' already exists."},
		{"whole request", wholeRequest, ErrNotController, rpc.ErrNotController, true,
			"client: CreateTopics: NOT_CONTROLLER: this controller is not the active controller"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.sentinel) || !errors.Is(tc.err, tc.rpcSent) {
				t.Errorf("%v does not match its sentinels", tc.err)
			}
			if errors.Is(tc.err, ErrUnknownServerError) {
				t.Errorf("%v matches another code's sentinel", tc.err)
			}
			var e *Error
			if !errors.As(tc.err, &e) || e.Code != tc.sentinel.Code || e.Name != tc.sentinel.Name || e.Retriable != tc.retriable {
				t.Errorf("errors.As gives %#v", e)
			}
			if IsRetriable(tc.err) != tc.retriable || CodeOf(tc.err) != tc.sentinel.Code {
				t.Errorf("IsRetriable %v, CodeOf %v", IsRetriable(tc.err), CodeOf(tc.err))
			}
			if tc.err.Error() != tc.text {
				t.Errorf("text %q, want %q", tc.err, tc.text)
			}
		})
	}
	// The hints of a whole-request failure stay reachable.
	var re *rpc.Error
	if !errors.As(wholeRequest, &re) || re.Controller.GetAddress() != "10.0.0.2:9201" {
		t.Fatalf("rpc error %v", re)
	}
}

func TestErrorHelpersOnOtherErrors(t *testing.T) {
	if CodeOf(nil) != stratav1.ErrorCode_ERROR_CODE_NONE || IsRetriable(nil) {
		t.Fatal("nil")
	}
	if CodeOf(context.Canceled) != stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR || IsRetriable(context.DeadlineExceeded) {
		t.Fatal("context errors")
	}
	if resultError(stratav1.ErrorCode_ERROR_CODE_NONE, "") != nil {
		t.Fatal("NONE is not an error")
	}
	if got := ErrTopicAlreadyExists.Error(); got != "TOPIC_ALREADY_EXISTS: the topic already exists" {
		t.Fatalf("sentinel text %q", got)
	}
}

func TestResultsFirstErrorAndFailed(t *testing.T) {
	var none Results[DeletedTopic]
	if none.FirstError() != nil || len(none.Failed()) != 0 {
		t.Fatal("empty results")
	}
	rs := Results[DeletedTopic]{
		{Name: "a"},
		{Name: "b", Err: resultError(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, "gone")},
		{Name: "c", Err: resultError(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "internal")},
	}
	if got := rs.FirstError().Error(); got != "topic b: UNKNOWN_TOPIC_OR_PARTITION: gone" {
		t.Fatalf("FirstError %q", got)
	}
	if f := rs.Failed(); len(f) != 2 || f[0].Name != "b" || f[1].Name != "c" {
		t.Fatalf("Failed %v", f)
	}
}
