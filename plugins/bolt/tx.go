package bolt

import (
	"bytes"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/strata-dev/strata/sdk/storage/driver"
)

// tx is a driver.Tx over a bolt transaction. Slices it returns point into
// bolt's memory map and are valid until the transaction ends. The
// storage.Store wrapping the driver has checked every argument and keeps a
// tx from being used after its fn returned or written in a View.
type tx struct {
	btx *bbolt.Tx
}

// wrap adds context to an error from bolt, marking the ones caused by the
// arguments (a value too large for bolt) as driver.ErrInvalid.
func wrap(op string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrKeyTooLarge), errors.Is(err, berrors.ErrValueTooLarge),
		errors.Is(err, berrors.ErrKeyRequired), errors.Is(err, berrors.ErrBucketNameRequired),
		errors.Is(err, berrors.ErrIncompatibleValue):
		return fmt.Errorf("bolt: %s: %w: %w", op, driver.ErrInvalid, err)
	}
	return fmt.Errorf("bolt: %s: %w", op, err)
}

// Get returns the value of key in bucket. It seeks with a cursor and
// compares keys rather than calling bolt's Get, whose nil answer does not
// tell a missing key from an empty value.
func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	if b := t.btx.Bucket([]byte(bucket)); b != nil {
		if k, v := b.Cursor().Seek(key); bytes.Equal(k, key) {
			return v, nil
		}
	}
	return nil, driver.ErrNotFound
}

// Put stores value under key, creating the bucket if needed. bolt keeps
// the slices until the transaction ends.
func (t *tx) Put(bucket string, key, value []byte) error {
	b, err := t.btx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return wrap("create bucket", err)
	}
	// Strata's keys mostly grow (time-ordered ids, change-log sequence
	// numbers, revision numbers): pages split at 90% instead of bolt's 50%
	// stay fuller, so the file is smaller and commits write fewer pages.
	b.FillPercent = 0.9
	if err := b.Put(key, value); err != nil {
		return wrap("put", err)
	}
	return nil
}

// Delete removes key from bucket, if both exist.
func (t *tx) Delete(bucket string, key []byte) error {
	b := t.btx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	if err := b.Delete(key); err != nil {
		return wrap("delete", err)
	}
	return nil
}

// DeleteBucket removes bucket with all its keys, if it exists.
func (t *tx) DeleteBucket(bucket string) error {
	err := t.btx.DeleteBucket([]byte(bucket))
	if err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return wrap("delete bucket", err)
	}
	return nil
}

// Scan walks the keys of bucket within r with a bolt cursor.
func (t *tx) Scan(bucket string, r driver.Range, fn func(key, value []byte) bool) error {
	b := t.btx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	c := b.Cursor()
	if !r.Reverse {
		var k, v []byte
		if r.Start == nil {
			k, v = c.First()
		} else {
			k, v = c.Seek(r.Start)
		}
		for ; k != nil; k, v = c.Next() {
			if r.End != nil && bytes.Compare(k, r.End) >= 0 {
				break
			}
			if !fn(k, v) {
				break
			}
		}
		return nil
	}

	var k, v []byte
	switch {
	case r.End == nil:
		k, v = c.Last()
	default:
		if k, _ = c.Seek(r.End); k == nil {
			k, v = c.Last() // every key is below End
		} else {
			k, v = c.Prev() // Seek landed on the first key >= End
		}
	}
	for ; k != nil; k, v = c.Prev() {
		if r.Start != nil && bytes.Compare(k, r.Start) < 0 {
			break
		}
		if !fn(k, v) {
			break
		}
	}
	return nil
}
