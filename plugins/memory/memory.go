package memory

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"

	"github.com/tidwall/btree"

	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/sdk/storage/driver"
)

// store is the in-memory driver. The storage.Store that [Open] returns
// wraps it, and takes care of Close waiting for transactions, contexts
// already done and argument checks.
type store struct {
	// writer is a one-slot semaphore. The Update holding it is the only
	// code that reads or replaces head.
	writer chan struct{}

	// head is the latest committed tree. Updates copy it and never change
	// it in place, but Copy does update bookkeeping inside the tree, which
	// is why Views read snapshot instead.
	head *btree.BTreeG[entry]

	// snapshot is a copy of head that nothing ever changes, published for
	// Views. Loading it is the whole cost of starting a read transaction.
	snapshot atomic.Pointer[btree.BTreeG[entry]]
}

// entry is one key of one bucket. Keys of all buckets share one tree,
// ordered by bucket name and then bytewise by key.
type entry struct {
	bucket string
	key    []byte
	value  []byte
}

// byBucketAndKey orders entries in the tree.
func byBucketAndKey(a, b entry) bool {
	if a.bucket != b.bucket {
		return a.bucket < b.bucket
	}
	return bytes.Compare(a.key, b.key) < 0
}

// New returns a new, empty in-memory storage.Store. Whoever creates it
// closes it; Close drops the data.
func New() storage.Store {
	// NoLocks: the store coordinates access itself. The tree's own lock
	// would only add cost, and a Scan callback that calls Get would take it
	// recursively.
	head := btree.NewBTreeGOptions(byBucketAndKey, btree.Options{NoLocks: true})
	s := &store{writer: make(chan struct{}, 1), head: head}
	s.snapshot.Store(head.Copy())
	return storage.New(s)
}

// Open returns a new, empty store. It has the signature of [storage.Opener]
// so the memory backend can be registered as "memory". Every call returns an
// independent store. location must be empty ("memory:"), so that a
// misconfigured URL such as "memory:./data/strata.db" fails instead of
// silently keeping data only in memory; opts are not used.
func Open(ctx context.Context, location string, opts storage.OpenOptions) (storage.Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if location != "" {
		return nil, fmt.Errorf("%w: memory store takes no location, got %q (use \"memory:\")", storage.ErrInvalid, location)
	}
	return New(), nil
}

// View runs fn over the latest committed snapshot. It never blocks on
// Updates, and Updates never block on it.
func (s *store) View(_ context.Context, fn func(tx driver.Tx) error) error {
	return fn(&tx{tree: s.snapshot.Load()})
}

// Update runs fn against a private copy of the committed tree and publishes
// the copy if fn returns nil. Updates run one at a time; while waiting for
// its turn an Update gives up with ctx.Err() if ctx is done. fn runs once,
// in the caller's goroutine. If fn returns an error or panics, the copy is
// dropped and nothing is written; the error is returned unchanged and a
// panic continues in the caller.
func (s *store) Update(ctx context.Context, fn func(tx driver.Tx) error) error {
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.writer }()
	if err := ctx.Err(); err != nil { // both select cases may have been ready
		return err
	}

	t := &tx{tree: s.head.Copy(), writable: true}
	if err := fn(t); err != nil {
		return err // drop t.tree: rollback
	}
	s.head = t.tree
	s.snapshot.Store(t.tree.Copy())
	return nil
}

// Close drops the data. The storage.Store calls it once no transaction
// runs, so nothing can see the trees go.
func (s *store) Close() error {
	s.head = nil
	s.snapshot.Store(nil)
	return nil
}
