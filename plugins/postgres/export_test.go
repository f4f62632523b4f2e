package postgres

import (
	"context"

	"github.com/strata-dev/strata/sdk/storage"
)

// OpenCounting is OpenURL with default options, and a function returning
// the round trips the store's transactions have made so far.
func OpenCounting(ctx context.Context, url string) (storage.Store, func() uint64, error) {
	d, err := openDriver(ctx, url, Options{})
	if err != nil {
		return nil, nil, err
	}
	return storage.New(d), d.queries.Load, nil
}

// unhinted is a store that never announces other nodes' commits: a node
// over it sees them only when its follower polls.
type unhinted struct{ *store }

func (unhinted) Commits() <-chan struct{} { return nil }

// OpenUnhinted is OpenURL with default options, over a store whose
// Commits is nil.
func OpenUnhinted(ctx context.Context, url string) (storage.Store, error) {
	d, err := openDriver(ctx, url, Options{})
	if err != nil {
		return nil, err
	}
	return storage.New(unhinted{d}), nil
}
