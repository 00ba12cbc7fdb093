package mdsync

import (
	"math/rand/v2"
	"time"
)

// backoff is a bounded exponential backoff with jitter: the n-th wait in a
// row is drawn from [d/2, d] with d = min(base·2ⁿ, limit), so that brokers
// that lost the same controller do not all come back at once.
type backoff struct {
	base, limit time.Duration
	n           int
}

// next returns the next wait and grows the one after.
func (b *backoff) next() time.Duration {
	d := b.base
	for i := 0; i < b.n && d < b.limit; i++ {
		d *= 2
	}
	d = min(d, b.limit)
	if d < b.limit {
		b.n++
	}
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// reset starts again from base after a success.
func (b *backoff) reset() { b.n = 0 }
