package fsm

import (
	"fmt"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

// batch plans one command: it reads the image and collects records.
type batch struct {
	img  *metadata.Image
	recs []*stratav1.MetadataRecord
}

func (b *batch) add(r *stratav1.MetadataRecord) { b.recs = append(b.recs, r) }

func ok() *stratav1.CommandResult { return &stratav1.CommandResult{} }

func failure(code stratav1.ErrorCode, format string, args ...any) *stratav1.CommandResult {
	return &stratav1.CommandResult{ErrorCode: code, ErrorMessage: fmt.Sprintf(format, args...)}
}

// nextOffset is the offset the next record of this batch will get.
func (b *batch) nextOffset() int64 { return b.img.Offset() + int64(len(b.recs)) + 1 }
