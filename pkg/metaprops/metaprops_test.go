package metaprops

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var voters = map[int32]string{1: "127.0.0.1:9301", 2: "127.0.0.1:9302", 3: "127.0.0.1:9303"}

func TestFormatAndCheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c1")
	cid := NewClusterID()
	p := Props{ClusterID: cid, NodeID: 1, Role: RoleController, Voters: voters}
	if _, err := Check(dir, p); !errors.Is(err, ErrNotFormatted) || !strings.Contains(err.Error(), "strata-controller format") {
		t.Fatalf("unformatted: %v", err)
	}
	if err := Format(dir, p, false); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(dir, p); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil || got.ClusterID != cid || got.NodeID != 1 || FormatVoters(got.Voters) != "1@127.0.0.1:9301,2@127.0.0.1:9302,3@127.0.0.1:9303" {
		t.Fatalf("read %+v %v", got, err)
	}
	if err := Format(dir, p, false); !errors.Is(err, ErrAlreadyFormatted) || !strings.Contains(err.Error(), "--ignore-formatted") {
		t.Fatalf("reformat: %v", err)
	}
	if err := Format(dir, p, true); err != nil {
		t.Fatalf("reformat ignored: %v", err)
	}
	other := p
	other.ClusterID = NewClusterID()
	if err := Format(dir, other, true); !errors.Is(err, ErrClusterMismatch) {
		t.Fatalf("reformat for another cluster with --ignore-formatted: %v", err)
	}
	for name, tc := range map[string]struct {
		want Props
		err  error
		text string
	}{
		"other cluster": {Props{ClusterID: NewClusterID(), NodeID: 1, Role: RoleController, Voters: voters}, ErrClusterMismatch, "formatted for cluster " + cid},
		"other node":    {Props{ClusterID: cid, NodeID: 2, Role: RoleController, Voters: voters}, ErrNodeMismatch, "formatted for node 1, not 2"},
		"other role":    {Props{ClusterID: cid, NodeID: 1, Role: RoleBroker}, ErrRoleMismatch, "formatted for a controller"},
		"other voters": {Props{ClusterID: cid, NodeID: 1, Role: RoleController, Voters: map[int32]string{1: "127.0.0.1:9301"}}, ErrVotersMismatch,
			"configured 1@127.0.0.1:9301, formatted 1@127.0.0.1:9301,2@127.0.0.1:9302,3@127.0.0.1:9303"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Check(dir, tc.want)
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err %v, want %v containing %q", err, tc.err, tc.text)
			}
		})
	}
}

func TestFormatRejects(t *testing.T) {
	dir := t.TempDir()
	if err := Format(dir, Props{ClusterID: "nope", NodeID: 1, Role: RoleBroker}, false); !errors.Is(err, ErrInvalidClusterID) {
		t.Fatalf("bad cluster id: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused format wrote the file")
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); !errors.Is(err, ErrCorruptProperties) {
		t.Fatalf("corrupt file: %v", err)
	}
}

func TestParseVoters(t *testing.T) {
	for _, bad := range []string{"", "1", "x@a:1", "0@a:1", "1@nohostport", "1@a:1,1@b:2", "-1@a:1"} {
		if _, err := ParseVoters(bad); !errors.Is(err, ErrInvalidVoters) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	v, err := ParseVoters(" 2@h:2 , 1@h:1 ")
	if err != nil || FormatVoters(v) != "1@h:1,2@h:2" {
		t.Fatalf("%v %v", v, err)
	}
}

func TestNewClusterID(t *testing.T) {
	id := NewClusterID()
	if len(id) != 22 || ValidateClusterID(id) != nil || id == NewClusterID() {
		t.Fatalf("cluster id %q", id)
	}
}
