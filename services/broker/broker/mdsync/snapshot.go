package mdsync

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/strata-log/strata/pkg/metadata"
)

// File names in Config.DataDir.
const (
	// SnapshotFile is the persisted image, as metadata.Image.WriteSnapshot
	// writes it.
	SnapshotFile = "metadata.snapshot"
	// corruptFile keeps the last snapshot found corrupt, for inspection.
	corruptFile = SnapshotFile + ".corrupt"
	tempFile    = SnapshotFile + ".tmp"
)

// ErrCorruptSnapshot is wrapped by errors about a persisted snapshot that
// cannot be trusted.
var ErrCorruptSnapshot = errors.New("mdsync: corrupt snapshot")

// readSnapshotFile loads dir's snapshot. A missing file gives (nil, nil).
// Errors wrapping ErrCorruptSnapshot are about the file's content; others
// (permissions, I/O) about reading it.
func readSnapshotFile(dir string) (*metadata.Image, error) {
	data, err := os.ReadFile(filepath.Join(dir, SnapshotFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mdsync: read snapshot: %w", err)
	}
	return decodeSnapshot(data)
}

// decodeSnapshot decodes a snapshot and checks it: its invariants
// (Image.Check), and that it is byte for byte what WriteSnapshot writes for
// the image, which catches trailing bytes and non-canonical encodings that
// ReadSnapshot alone lets through.
func decodeSnapshot(data []byte) (*metadata.Image, error) {
	im, err := metadata.ReadSnapshot(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	if err := im.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	var again bytes.Buffer
	again.Grow(len(data))
	if err := im.WriteSnapshot(&again); err != nil {
		return nil, fmt.Errorf("mdsync: re-encode snapshot: %w", err)
	}
	if !bytes.Equal(again.Bytes(), data) {
		return nil, fmt.Errorf("%w: %d bytes do not re-encode to themselves (%d bytes for the image at offset %d)",
			ErrCorruptSnapshot, len(data), again.Len(), im.Offset())
	}
	return im, nil
}

// moveCorrupt keeps a corrupt snapshot as corruptFile, replacing an older
// one, so that the next persist does not destroy the evidence.
func moveCorrupt(dir string) error {
	return os.Rename(filepath.Join(dir, SnapshotFile), filepath.Join(dir, corruptFile))
}

// writeSnapshotFile persists im atomically: a temporary file, fsync, rename
// over SnapshotFile, fsync of the directory. A crash at any point leaves
// either the old snapshot or the new one.
func writeSnapshotFile(dir string, im *metadata.Image) (err error) {
	tmp := filepath.Join(dir, tempFile)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("mdsync: write snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
			err = fmt.Errorf("mdsync: write snapshot at offset %d: %w", im.Offset(), err)
		}
	}()
	if err := im.WriteSnapshot(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, SnapshotFile)); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
