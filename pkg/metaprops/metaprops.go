// Package metaprops formats a daemon's data directory and checks it at
// start, as Kafka's `kafka-storage format` and meta.properties do: the
// directory records its cluster id, node id, role and (for controllers) the
// voter set, so a daemon never joins the wrong cluster or takes another
// node's data.
package metaprops

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-log/strata/pkg/flagconf"
)

// FileName is the file format writes in the data directory.
const FileName = "meta.properties"

// Roles of a node.
const (
	RoleController = "controller"
	RoleBroker     = "broker"
)

// Errors of Check, each wrapped with a message that says what to do.
var (
	ErrNotFormatted      = errors.New("data directory is not formatted")
	ErrAlreadyFormatted  = errors.New("data directory is already formatted")
	ErrClusterMismatch   = errors.New("data directory belongs to another cluster")
	ErrNodeMismatch      = errors.New("data directory belongs to another node")
	ErrRoleMismatch      = errors.New("data directory belongs to another role")
	ErrVotersMismatch    = errors.New("controller quorum voters differ from the formatted ones")
	ErrInvalidClusterID  = errors.New("invalid cluster id")
	ErrInvalidVoters     = errors.New("invalid controller quorum voters")
	ErrCorruptProperties = errors.New("corrupt meta.properties")
)

// Props is what a formatted directory records.
type Props struct {
	ClusterID string
	NodeID    int32
	Role      string
	// Voters maps controller ids to Raft addresses; controllers only.
	Voters map[int32]string
}

// NewClusterID returns a random cluster id in Kafka's form (22 characters
// of URL-safe base64 without padding).
func NewClusterID() string {
	var b [16]byte
	for b == [16]byte{} {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidateClusterID checks that id is 16 bytes in URL-safe base64.
func ValidateClusterID(id string) error {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(b) != 16 {
		return fmt.Errorf("%w %q: use `strata storage random-uuid` to make one", ErrInvalidClusterID, id)
	}
	return nil
}

// ParseVoters parses "1@127.0.0.1:9301,2@127.0.0.1:9302".
func ParseVoters(s string) (map[int32]string, error) {
	voters := make(map[int32]string)
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		idStr, addr, ok := strings.Cut(part, "@")
		id, err := strconv.ParseInt(idStr, 10, 32)
		if !ok || err != nil || id <= 0 {
			return nil, fmt.Errorf("%w: %q is not ID@HOST:PORT with a positive id", ErrInvalidVoters, part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrInvalidVoters, part, err)
		}
		if _, dup := voters[int32(id)]; dup {
			return nil, fmt.Errorf("%w: id %d appears twice", ErrInvalidVoters, id)
		}
		voters[int32(id)] = addr
	}
	if len(voters) == 0 {
		return nil, fmt.Errorf("%w: empty; want ID@HOST:PORT, comma-separated", ErrInvalidVoters)
	}
	return voters, nil
}

// FormatVoters prints voters in id order, as ParseVoters reads them.
func FormatVoters(voters map[int32]string) string {
	parts := make([]string, 0, len(voters))
	for _, id := range slices.Sorted(maps.Keys(voters)) {
		parts = append(parts, fmt.Sprintf("%d@%s", id, voters[id]))
	}
	return strings.Join(parts, ",")
}

// Format writes meta.properties into dir (created if needed). It refuses a
// formatted directory unless ignoreFormatted, in which case an identical
// format is a no-op and a different one is still refused.
func Format(dir string, p Props, ignoreFormatted bool) error {
	if err := ValidateClusterID(p.ClusterID); err != nil {
		return err
	}
	if p.NodeID < 0 {
		return fmt.Errorf("node id %d must not be negative", p.NodeID)
	}
	if p.Role != RoleController && p.Role != RoleBroker {
		return fmt.Errorf("unknown role %q", p.Role)
	}
	if old, err := Read(dir); err == nil {
		if !ignoreFormatted {
			return fmt.Errorf("%w: %s (cluster %s, node %d); pass --ignore-formatted to keep it",
				ErrAlreadyFormatted, dir, old.ClusterID, old.NodeID)
		}
		_, err := Check(dir, p)
		return err
	} else if !errors.Is(err, ErrNotFormatted) {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("format: %w", err)
	}
	var b strings.Builder
	b.WriteString("# Written by strata format. Do not edit.\nversion=1\n")
	fmt.Fprintf(&b, "cluster.id=%s\nnode.id=%d\nprocess.roles=%s\n", p.ClusterID, p.NodeID, p.Role)
	if p.Role == RoleController {
		fmt.Fprintf(&b, "controller.quorum.voters=%s\n", FormatVoters(p.Voters))
	}
	tmp := filepath.Join(dir, FileName+".tmp")
	if err := writeSynced(tmp, []byte(b.String())); err != nil {
		return fmt.Errorf("format: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, FileName)); err != nil {
		return fmt.Errorf("format: %w", err)
	}
	return syncDir(dir)
}

// Read reads the properties of a formatted directory.
func Read(dir string) (Props, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return Props{}, fmt.Errorf("%w: %s has no %s", ErrNotFormatted, dir, FileName)
	}
	kv, err := flagconf.ReadProperties(path)
	if err != nil {
		return Props{}, fmt.Errorf("%w: %w", ErrCorruptProperties, err)
	}
	var p Props
	p.ClusterID, p.Role = kv["cluster.id"], kv["process.roles"]
	id, err := strconv.ParseInt(kv["node.id"], 10, 32)
	if err != nil || p.ClusterID == "" || p.Role == "" {
		return Props{}, fmt.Errorf("%w: %s lacks cluster.id, node.id or process.roles", ErrCorruptProperties, path)
	}
	p.NodeID = int32(id)
	if v, ok := kv["controller.quorum.voters"]; ok {
		if p.Voters, err = ParseVoters(v); err != nil {
			return Props{}, fmt.Errorf("%w: %s: %w", ErrCorruptProperties, path, err)
		}
	}
	return p, nil
}

// Check verifies that dir is formatted for want: same cluster (when
// want.ClusterID is set), node, role and voters. Each refusal names what
// differs and what to do. It returns what the directory records.
func Check(dir string, want Props) (Props, error) {
	got, err := Read(dir)
	if err != nil {
		if errors.Is(err, ErrNotFormatted) {
			return Props{}, fmt.Errorf("%w; format it first: strata-%s format --data-dir %s --cluster-id CID --node-id %d",
				err, want.Role, dir, want.NodeID)
		}
		return Props{}, err
	}
	switch {
	case got.Role != want.Role:
		return Props{}, fmt.Errorf("%w: %s is formatted for a %s, not a %s", ErrRoleMismatch, dir, got.Role, want.Role)
	case want.ClusterID != "" && got.ClusterID != want.ClusterID:
		return Props{}, fmt.Errorf("%w: %s is formatted for cluster %s, not %s; use another data dir or the right --cluster-id",
			ErrClusterMismatch, dir, got.ClusterID, want.ClusterID)
	case got.NodeID != want.NodeID:
		return Props{}, fmt.Errorf("%w: %s is formatted for node %d, not %d; use another data dir or --node-id %d",
			ErrNodeMismatch, dir, got.NodeID, want.NodeID, got.NodeID)
	case want.Role == RoleController && !maps.Equal(got.Voters, want.Voters):
		return Props{}, fmt.Errorf("%w: configured %s, formatted %s; use the formatted voters or format a new data dir",
			ErrVotersMismatch, FormatVoters(want.Voters), FormatVoters(got.Voters))
	}
	return got, nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
