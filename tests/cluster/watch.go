package cluster

import (
	"context"
	"fmt"
	"slices"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

// Follow applies a WatchMetadata stream to an image, as a broker does: image
// chunks rebuild the image, record batches apply in order. It returns the
// image once it has reached offset (or an error).
func Follow(ctx context.Context, client stratav1.ControllerServiceClient, start *metadata.Image, offset int64) (*metadata.Image, int, error) {
	stream, err := client.WatchMetadata(ctx, &stratav1.WatchMetadataRequest{FromOffset: start.Offset(), BrokerId: -1})
	if err != nil {
		return nil, 0, err
	}
	img := start
	images := 0
	var pending []*stratav1.MetadataRecord
	for img.Offset() < offset {
		resp, err := stream.Recv()
		if err != nil {
			return nil, images, fmt.Errorf("at offset %d: %w", img.Offset(), err)
		}
		switch p := resp.GetPayload().(type) {
		case *stratav1.WatchMetadataResponse_Image:
			pending = append(pending, p.Image.GetRecords()...)
			if p.Image.GetLast() {
				if img, err = metadata.Load(p.Image.GetHeader().GetOffset(), slices.Values(pending)); err != nil {
					return nil, images, err
				}
				pending = nil
				images++
			}
		case *stratav1.WatchMetadataResponse_Records:
			for _, r := range p.Records.GetRecords() {
				if r.GetOffset() != img.Offset()+1 {
					return nil, images, fmt.Errorf("record offset %d does not follow %d", r.GetOffset(), img.Offset())
				}
				if img, err = img.Apply(r); err != nil {
					return nil, images, err
				}
			}
		}
	}
	return img, images, nil
}
