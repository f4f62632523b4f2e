// Package driver defines the small interface a Strata storage backend
// implements. Users of storage never see it: package storage wraps every
// driver in its portable [storage.Store] (with storage.New), and that wrapper
// owns everything that is the same for all backends, so a backend does not
// repeat it:
//
//   - Close: the wrapper rejects transactions after Close with
//     storage.ErrClosed, waits for the transactions in flight, and then calls
//     [Store.Close] exactly once. A driver is never used during or after its
//     Close.
//   - Context: the wrapper checks ctx before it calls View or Update, so a
//     driver only looks at ctx where it waits (for a writer slot, a queue).
//   - Arguments: bucket names and keys reaching a driver are never empty,
//     keys are at most storage.MaxKeySize bytes, values passed to Put are
//     never nil (an empty value is []byte{}), and a Scan's range is never
//     empty because Start >= End.
//   - Transactions: a [Tx] is only used while its fn runs, from the
//     goroutine running it, and a View's Tx is never asked to write.
//   - Errors: the wrapper adds the operation, bucket and key to every error
//     a driver returns, and returns fn's errors unchanged.
//
// What is left to a driver is the storage itself: atomic, durable,
// serializable Updates, consistent snapshots for Views, bytewise ordered
// scans, and reporting missing keys and full disks with the errors below.
// See package storage for the contract a driver's transactions must meet;
// package storagetest checks it.
package driver

import (
	"context"
	"errors"
	"io"
)

// Errors a driver reports, wrapped or not. Package storage exports the same
// values (storage.ErrNotFound is ErrNotFound), so errors.Is works on either
// name.
var (
	// ErrNotFound is returned by Tx.Get when the bucket or key does not exist.
	ErrNotFound = errors.New("storage: not found")

	// ErrInvalid is returned for arguments a backend cannot accept beyond
	// the checks the wrapper makes, such as a value over the backend's size
	// limit.
	ErrInvalid = errors.New("storage: invalid argument")

	// ErrNoSpace is wrapped by the error of an Update that could not be
	// committed because the device or the user's quota is full; nothing of
	// that Update was written.
	ErrNoSpace = errors.New("storage: no space left")
)

// Store is an open backend. Its methods may be called concurrently, but
// never after Close has been called.
type Store interface {
	// View runs fn in a read-only transaction over a consistent snapshot
	// and returns fn's error. If fn panics, the driver releases the
	// transaction and lets the panic continue.
	View(ctx context.Context, fn func(tx Tx) error) error

	// Update runs fn in a read-write transaction and commits it durably if
	// fn returns nil. If fn returns an error or panics, nothing is written;
	// Update returns fn's error, or re-raises the panic in the caller's
	// goroutine. Update may give up with ctx.Err() while it waits, before
	// fn has run; it may run fn more than once.
	Update(ctx context.Context, fn func(tx Tx) error) error

	// Close releases the backend's resources. The wrapper calls it once,
	// when no transaction is running.
	Close() error
}

// Tx is a transaction of a driver. Arguments are already checked; see the
// package documentation.
type Tx interface {
	// Get returns the value of key in bucket, or an error wrapping
	// ErrNotFound. The slice may stay valid only until the transaction ends.
	Get(bucket string, key []byte) ([]byte, error)

	// Put stores value under key, creating bucket if needed.
	Put(bucket string, key, value []byte) error

	// Delete removes key from bucket; a missing key or bucket is no error.
	Delete(bucket string, key []byte) error

	// DeleteBucket removes bucket and its keys; a missing bucket is no
	// error.
	DeleteBucket(bucket string) error

	// Scan calls fn for the keys of bucket within r, in ascending order
	// (descending when r.Reverse), until fn returns false.
	Scan(bucket string, r Range, fn func(key, value []byte) bool) error
}

// Batcher is an optional interface of a driver's [Tx] that reads many
// keys at once, for a backend where each Get costs a round trip to a
// server: a page of 20 resources is then one or two reads, not forty.
// Package storage finds it with a type assertion; for a Tx without it,
// storage.Tx.GetMany calls Get for each key, which is as fast for a
// backend in the process.
type Batcher interface {
	// GetMany reads the values of keys, seeing the transaction's own
	// writes as Get does, and calls fn with the index in keys and the
	// value of each key present, in the order of keys; a missing key (or
	// bucket) is skipped. A key given twice is reported twice. The keys
	// are checked as Get's are, and there is at least one. The values may
	// stay valid only until the transaction ends.
	GetMany(keys []Key, fn func(i int, value []byte)) error
}

// Key is a key of a bucket. It is storage.Key.
type Key struct {
	Bucket string
	Key    []byte
}

// Range selects the keys k with Start <= k < End; a nil bound is open. It
// has the fields of storage.Range.
type Range struct {
	Start   []byte
	End     []byte
	Reverse bool
}

// Snapshotter is an optional interface of a driver whose backend can copy
// itself while writes go on: an online backup. Package storage finds it
// with a type assertion ([storage.Snapshot]); a driver without it simply
// has no online backup.
type Snapshotter interface {
	// Snapshot opens a read-only transaction and calls fn with the size in
	// bytes of a consistent copy of the store at that instant, and a
	// function that writes exactly that copy to w (at most once). The
	// transaction ends when fn returns; fn's error is returned. Updates
	// may commit while fn runs; they are not in the copy.
	Snapshot(ctx context.Context, fn func(size int64, writeTo func(w io.Writer) (int64, error)) error) error
}

// Shared is an optional interface of a driver whose store several
// processes may write at once (several Strata nodes on one PostgreSQL
// database). Each process then follows what the others commit by polling
// the change log; Commits, when not nil, wakes it early. Package storage
// finds it with a type assertion ([storage.Shared]).
type Shared interface {
	// Commits returns a channel that receives a value when another
	// process may have committed, or nil when the backend cannot tell.
	// It is a hint only: a missed or spurious value is no error, and the
	// process polls anyway.
	Commits() <-chan struct{}
}
