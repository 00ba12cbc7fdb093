package client

import "fmt"

// result is what Results holds: one resource's outcome.
type result interface {
	// describe names the resource for error messages ("topic orders").
	describe() string
	// failure is the resource's error, nil on success.
	failure() error
}

// Results are the per-resource outcomes of a request that touches several
// topics, partitions or config resources, in request order (or name order
// when the request named none). One resource failing does not fail the
// others: each result carries its own Err, an *Error.
type Results[T result] []T

// FirstError returns the first failed result's error prefixed with the
// resource ("topic orders: TOPIC_ALREADY_EXISTS: ..."), or nil when every
// resource succeeded. errors.Is and errors.As see the *Error through it.
func (rs Results[T]) FirstError() error {
	for _, r := range rs {
		if err := r.failure(); err != nil {
			return fmt.Errorf("%s: %w", r.describe(), err)
		}
	}
	return nil
}

// Failed returns the results that carry an error.
func (rs Results[T]) Failed() Results[T] {
	var out Results[T]
	for _, r := range rs {
		if r.failure() != nil {
			out = append(out, r)
		}
	}
	return out
}
