package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/strata-dev/strata/sdk/storage/driver"
)

// New returns the Store over d. The Store owns d: its Close closes d, once,
// after the transactions in flight have ended. Backends call New in their
// Opener; see package driver for what the Store guarantees the driver.
func New(d driver.Store) Store {
	return &store{d: d}
}

// store is the portable Store over a driver.
type store struct {
	d driver.Store

	mu        sync.RWMutex // guards closed; orders inflight.Add before Wait
	closed    bool
	inflight  sync.WaitGroup // Views and Updates running
	closeOnce sync.Once
}

func (*store) sealed() {}

// fnError carries an error returned by the caller's fn through the driver,
// so it can be told from the driver's own errors and returned unchanged.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
func (e *fnError) Unwrap() error { return e.err }

// View runs fn in a read-only transaction of the driver.
func (s *store) View(ctx context.Context, fn func(tx Tx) error) error {
	return s.run(ctx, "view", false, fn)
}

// Update runs fn in a read-write transaction of the driver.
func (s *store) Update(ctx context.Context, fn func(tx Tx) error) error {
	return s.run(ctx, "update", true, fn)
}

// begin registers a transaction, or reports why it cannot start.
func (s *store) begin(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.inflight.Add(1)
	return nil
}

// run starts a transaction of the driver and hands fn a checked Tx over it.
// fn's error comes back unchanged; the driver's own errors are wrapped with
// op, except ctx's, which the contract returns as they are.
func (s *store) run(ctx context.Context, op string, write bool, fn func(tx Tx) error) error {
	if fn == nil {
		return fmt.Errorf("storage: %s: %w: nil function", op, ErrInvalid)
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.inflight.Done()
	call := func(dtx driver.Tx) error {
		t := &tx{d: dtx, writable: write}
		defer t.end() // also when fn panics
		if err := fn(t); err != nil {
			return &fnError{err}
		}
		return nil
	}
	var err error
	if write {
		err = s.d.Update(ctx, call)
	} else {
		err = s.d.View(ctx, call)
	}
	if err == nil {
		return nil
	}
	if fe, ok := errors.AsType[*fnError](err); ok {
		return fe.err
	}
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("storage: %s: %w", op, err)
}

// Close marks the store closed, waits for the transactions in flight and
// closes the driver. Later calls return nil.
func (s *store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.inflight.Wait()
		if cerr := s.d.Close(); cerr != nil {
			err = fmt.Errorf("storage: close: %w", cerr)
		}
	})
	return err
}

// tx checks the arguments of each call before the driver sees them, and
// wraps the driver's errors with the operation, bucket and key.
type tx struct {
	d        driver.Tx
	writable bool
	done     bool // fn has returned; the tx must not be used any more
}

func (*tx) sealed() {}

// end marks t as finished, so a Tx kept past its fn fails cleanly instead of
// reaching into a driver transaction that has ended.
func (t *tx) end() { t.done = true }

// check reports whether op may run on bucket (and key, when hasKey) in t.
func (t *tx) check(op, bucket string, key []byte, hasKey, write bool) error {
	switch {
	case t.done:
		return fmt.Errorf("storage: %s: %w: transaction used after its function returned", op, ErrInvalid)
	case write && !t.writable:
		return fmt.Errorf("storage: %s %s: %w", op, bucket, ErrReadOnly)
	case bucket == "":
		return fmt.Errorf("storage: %s: %w: empty bucket name", op, ErrInvalid)
	case hasKey && len(key) == 0:
		return fmt.Errorf("storage: %s %s: %w: empty key", op, bucket, ErrInvalid)
	case hasKey && len(key) > MaxKeySize:
		return fmt.Errorf("storage: %s %s: %w: key of %d bytes is longer than %d", op, bucket, ErrInvalid, len(key), MaxKeySize)
	}
	return nil
}

// Get returns the driver's value of bucket/key.
func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	if err := t.check("get", bucket, key, true, false); err != nil {
		return nil, err
	}
	v, err := t.d.Get(bucket, key)
	if err != nil {
		return nil, fmt.Errorf("storage: get %s/%q: %w", bucket, key, err)
	}
	return v, nil
}

// GetMany reads bucket/keys with GetKeys.
func (t *tx) GetMany(bucket string, keys [][]byte, fn func(i int, value []byte)) error {
	if err := t.check("get many", bucket, nil, false, false); err != nil {
		return err
	}
	ks := make([]Key, len(keys))
	for i, k := range keys {
		ks[i] = Key{Bucket: bucket, Key: k}
	}
	return t.GetKeys(ks, fn)
}

// GetKeys reads keys, in one call of the driver when it is a
// driver.Batcher, else by a Get each.
func (t *tx) GetKeys(keys []Key, fn func(i int, value []byte)) error {
	if t.done {
		return t.check("get many", "", nil, false, false)
	}
	if fn == nil {
		return fmt.Errorf("storage: get many: %w: nil function", ErrInvalid)
	}
	for _, k := range keys {
		if err := t.check("get many", k.Bucket, k.Key, true, false); err != nil {
			return err
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if b, ok := t.d.(driver.Batcher); ok {
		if err := b.GetMany(keys, fn); err != nil {
			return fmt.Errorf("storage: get many (%d keys in %s...): %w", len(keys), keys[0].Bucket, err)
		}
		return nil
	}
	for i, k := range keys {
		v, err := t.d.Get(k.Bucket, k.Key)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("storage: get many %s/%q: %w", k.Bucket, k.Key, err)
		}
		fn(i, v)
	}
	return nil
}

// Put stores value under bucket/key; a nil value is stored as empty.
func (t *tx) Put(bucket string, key, value []byte) error {
	if err := t.check("put", bucket, key, true, true); err != nil {
		return err
	}
	if value == nil {
		value = []byte{} // so a Get sees a value, not a gap
	}
	if err := t.d.Put(bucket, key, value); err != nil {
		return fmt.Errorf("storage: put %s/%q: %w", bucket, key, err)
	}
	return nil
}

// Delete removes bucket/key.
func (t *tx) Delete(bucket string, key []byte) error {
	if err := t.check("delete", bucket, key, true, true); err != nil {
		return err
	}
	if err := t.d.Delete(bucket, key); err != nil {
		return fmt.Errorf("storage: delete %s/%q: %w", bucket, key, err)
	}
	return nil
}

// DeleteBucket removes bucket.
func (t *tx) DeleteBucket(bucket string) error {
	if err := t.check("delete bucket", bucket, nil, false, true); err != nil {
		return err
	}
	if err := t.d.DeleteBucket(bucket); err != nil {
		return fmt.Errorf("storage: delete bucket %s: %w", bucket, err)
	}
	return nil
}

// Scan walks bucket within r. An empty range (Start >= End) visits nothing
// without asking the driver.
func (t *tx) Scan(bucket string, r Range, fn func(key, value []byte) bool) error {
	if err := t.check("scan", bucket, nil, false, false); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("storage: scan %s: %w: nil function", bucket, ErrInvalid)
	}
	if r.Start != nil && r.End != nil && bytes.Compare(r.Start, r.End) >= 0 {
		return nil
	}
	if err := t.d.Scan(bucket, driver.Range(r), fn); err != nil {
		return fmt.Errorf("storage: scan %s: %w", bucket, err)
	}
	return nil
}
