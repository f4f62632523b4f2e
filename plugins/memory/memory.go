package memory

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tidwall/btree"

	"github.com/strata-dev/strata/sdk/storage"
)

// Store is an in-memory [storage.Store]. Create one with [New] or [Open];
// the zero value is not usable. It is safe for concurrent use. Whoever
// creates a Store closes it; Close drops the data.
type Store struct {
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

	mu        sync.RWMutex // guards closed; orders inflight.Add before Wait
	closed    bool
	inflight  sync.WaitGroup // transactions running
	closeOnce sync.Once
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

// New returns an empty Store.
func New() *Store {
	// NoLocks: the Store coordinates access itself. The tree's own lock
	// would only add cost, and a Scan callback that calls Get would take it
	// recursively.
	head := btree.NewBTreeGOptions(byBucketAndKey, btree.Options{NoLocks: true})
	s := &Store{writer: make(chan struct{}, 1), head: head}
	s.snapshot.Store(head.Copy())
	return s
}

// Open returns a new, empty Store. It has the signature of [storage.Opener]
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

// begin registers a transaction, or reports why it cannot start.
func (s *Store) begin(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("memory store: %w", storage.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.inflight.Add(1)
	return nil
}

// View runs fn over the latest committed snapshot. It never blocks on
// Updates, and Updates never block on it. View returns fn's error; if fn
// panics, the panic continues in the caller.
func (s *Store) View(ctx context.Context, fn func(tx storage.Tx) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.inflight.Done()
	t := &tx{tree: s.snapshot.Load()}
	defer t.end()
	return fn(t)
}

// Update runs fn against a private copy of the committed tree and publishes
// the copy if fn returns nil. Updates run one at a time; while waiting for
// its turn an Update gives up with ctx.Err() if ctx is done. fn runs once,
// in the caller's goroutine. If fn returns an error or panics, the copy is
// dropped and nothing is written; the error is returned unchanged and a
// panic continues in the caller.
func (s *Store) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.inflight.Done()
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
	defer t.end() // also when fn panics
	err := fn(t)
	t.end()
	if err != nil {
		return err // drop t.tree: rollback
	}
	s.head = t.tree
	s.snapshot.Store(t.tree.Copy())
	return nil
}

// Close waits for running transactions, then drops the data. Afterwards
// every method returns an error satisfying errors.Is(err, storage.ErrClosed).
// Close is safe to call more than once and always returns nil. Calling it
// from inside a transaction's fn deadlocks.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.inflight.Wait()
		s.head = nil
		s.snapshot.Store(nil)
	})
	return nil
}
