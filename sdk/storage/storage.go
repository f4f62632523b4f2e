// Package storage defines the interface a Strata storage backend implements.
//
// # Model
//
// A backend is an ordered, transactional key-value store. Keys live in named
// buckets; within a bucket they are ordered bytewise. Strata's core lays its
// resources, revisions, unique keys, references and change log out over these
// buckets and changes all of them for one write inside a single [Tx], so a
// backend only has to provide atomic, durable, serializable transactions and
// ordered scans: everything above that is Strata's job.
//
// # Transactions
//
// [Store.View] runs a read-only transaction over a consistent snapshot.
// [Store.Update] runs a read-write transaction; write transactions are
// serialized (one at a time, as if run in commit order), and when Update
// returns nil the change is durable: it survives a crash of the process or
// the machine. A backend may group several Updates into one physical commit
// ("group commit") to share an fsync; it may therefore call fn more than once
// (for example when another member of the group failed and the group is
// replayed without it). fn must not have side effects outside the Tx and must
// reset anything it captures each time it is called.
//
// Keep View transactions short and never wait inside one for an Update:
// some backends (bbolt, when its file outgrows its memory map) make a commit
// wait for the Views open at the time. fn must not call back into the Store
// (View, Update or Close); that deadlocks.
//
// Byte slices handed to fn by Get and Scan are only valid until the
// transaction ends; callers copy what they keep. Byte slices passed to Put
// must not be modified until the transaction ends.
//
// # Errors
//
// Get reports a missing key with an error that satisfies
// errors.Is(err, [ErrNotFound]). Any method of a closed Store returns an error
// satisfying errors.Is(err, [ErrClosed]). When fn returns an error or panics,
// the transaction is rolled back, nothing is written, and Update returns
// fn's error (a panic is re-raised in the caller's goroutine). An Update
// that fails because the disk or the quota is full returns an error
// satisfying errors.Is(err, [ErrNoSpace]), and nothing of it is written.
//
// # Drivers and the portable Store
//
// A backend implements the small interface of package driver, and hands its
// driver to [New], which returns the [Store] everyone else uses (as
// go-cloud's blob wraps blob/driver). The Store owns what is the same for
// every backend: rejecting use after Close, making Close wait for running
// transactions, checking ctx before a transaction starts, checking arguments
// (empty bucket names and keys, keys over [MaxKeySize], a Tx used after its
// fn returned, writes in a View), and adding the operation, bucket and key
// to the driver's errors. Store and Tx cannot be implemented outside this
// package, so every Store has these guarantees.
//
// A backend proves it meets this contract by passing the conformance suite in
// package storagetest.
package storage

import (
	"context"
	"errors"

	"github.com/strata-dev/strata/sdk/storage/driver"
)

// MaxKeySize is the longest key, in bytes, any backend accepts (bbolt's
// limit); a longer key is ErrInvalid.
const MaxKeySize = 32 << 10

// Errors a backend reports. Check them with errors.Is; backends may wrap them.
// ErrNotFound, ErrInvalid and ErrNoSpace are the values of package driver,
// so drivers report them without importing this package.
var (
	// ErrNotFound is returned by Tx.Get when the bucket or key does not exist.
	ErrNotFound = driver.ErrNotFound

	// ErrClosed is returned by every method of a Store after Close.
	ErrClosed = errors.New("storage: store is closed")

	// ErrReadOnly is returned by Put, Delete and DeleteBucket inside View.
	ErrReadOnly = errors.New("storage: transaction is read-only")

	// ErrInvalid is returned for arguments a backend cannot accept, such as an
	// empty bucket name or key.
	ErrInvalid = driver.ErrInvalid

	// ErrNoSpace is wrapped by the error of an Update that could not be
	// committed because the device or the user's quota is full (ENOSPC,
	// EDQUOT); nothing of that Update was written. Backends wrap it
	// alongside the system's error, so the cause stays visible, and core
	// reports it as its own kind (the HTTP server answers 507).
	ErrNoSpace = driver.ErrNoSpace
)

// Store is a storage backend. All methods are safe for concurrent use.
// Stores are made by [New] from a driver; the interface is sealed.
//
// Whoever opens a Store closes it. Close waits for transactions in flight
// to finish and then releases the backend's resources; it is safe to call
// more than once.
type Store interface {
	// View runs fn in a read-only transaction over a consistent snapshot.
	// Writes committed while fn runs are not visible to it. View returns
	// ctx.Err() without calling fn if ctx is already done.
	View(ctx context.Context, fn func(tx Tx) error) error

	// Update runs fn in a read-write transaction and commits it. It returns
	// nil only once the commit is durable. If fn returns an error or panics,
	// nothing is written. fn may be called more than once; see the package
	// documentation. Update returns ctx.Err() without calling fn if ctx is
	// already done; once fn has run, the outcome of the commit is reported
	// regardless of ctx.
	Update(ctx context.Context, fn func(tx Tx) error) error

	// Close waits for transactions in flight, then closes the store.
	Close() error

	sealed()
}

// Tx is a transaction handed to the fn of View or Update. It is only valid
// during that call and must not be used from other goroutines.
type Tx interface {
	// Get returns the value stored under key in bucket, or an error
	// satisfying errors.Is(err, ErrNotFound). The slice is valid until the
	// transaction ends.
	Get(bucket string, key []byte) ([]byte, error)

	// GetMany reads the values of keys in bucket: it calls fn with the
	// index in keys and the value of each key present, in the order of
	// keys, and skips missing keys (a key given twice is reported twice).
	// Every key is checked as Get checks it, before anything is read. A
	// backend that reads over the network does it in one round trip
	// (driver.Batcher); others call Get for each key. The values are
	// valid until the transaction ends.
	GetMany(bucket string, keys [][]byte, fn func(i int, value []byte)) error

	// GetKeys is GetMany over keys of any buckets: a reader that needs
	// keys of several buckets, such as a resource's meta and the
	// revision it names, reads them in one round trip.
	GetKeys(keys []Key, fn func(i int, value []byte)) error

	// Put stores value under key in bucket, creating the bucket if needed.
	// An empty or nil value is allowed (Get returns it as an empty slice);
	// an empty bucket name, an empty key or one longer than MaxKeySize is
	// ErrInvalid.
	Put(bucket string, key, value []byte) error

	// Delete removes key from bucket. Deleting a missing key or a key of a
	// missing bucket is not an error.
	Delete(bucket string, key []byte) error

	// DeleteBucket removes bucket and every key in it. Deleting a missing
	// bucket is not an error.
	DeleteBucket(bucket string) error

	// Scan calls fn for each key in bucket within r, in ascending key order
	// (descending when r.Reverse), until fn returns false. Scanning a missing
	// bucket calls fn zero times. fn must not modify bucket; collect keys and
	// change them after Scan returns.
	Scan(bucket string, r Range, fn func(key, value []byte) bool) error

	sealed()
}

// Range selects the keys k with Start <= k < End. A nil Start means from the
// first key; a nil End means through the last key. Reverse visits the same
// keys from the last to the first.
type Range struct {
	Start   []byte
	End     []byte
	Reverse bool
}

// Key is a key of a bucket, for Tx.GetKeys.
type Key = driver.Key

// PrefixRange returns the Range of all keys that begin with prefix.
func PrefixRange(prefix []byte) Range {
	return Range{Start: prefix, End: PrefixEnd(prefix)}
}

// PrefixEnd returns the smallest key greater than every key that begins with
// prefix, or nil if there is none (prefix is empty or all 0xff bytes).
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
