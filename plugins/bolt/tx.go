package bolt

import (
	"bytes"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/strata-dev/strata/sdk/storage"
)

// tx is a storage.Tx over a bolt transaction. Slices it returns point into
// bolt's memory map and are valid until the transaction ends.
type tx struct {
	btx      *bbolt.Tx
	writable bool
	done     bool // fn has returned; the tx must not be used any more
}

// end marks t as finished, so a Tx kept past its fn fails cleanly instead of
// reaching into a bolt transaction that has ended or belongs to another
// Update of the group.
func (t *tx) end() { t.done = true }

// check reports whether op may run on bucket in t: t is still live, writes
// happen only in Updates, and the bucket name is not empty.
func (t *tx) check(op, bucket string, write bool) error {
	switch {
	case t.done:
		return fmt.Errorf("bolt: %s: %w: transaction used after its function returned", op, storage.ErrInvalid)
	case write && !t.writable:
		return fmt.Errorf("bolt: %s in bucket %q: %w", op, bucket, storage.ErrReadOnly)
	case bucket == "":
		return fmt.Errorf("bolt: %s: %w: empty bucket name", op, storage.ErrInvalid)
	}
	return nil
}

// checkKey rejects the empty key.
func checkKey(op, bucket string, key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("bolt: %s in bucket %q: %w: empty key", op, bucket, storage.ErrInvalid)
	}
	return nil
}

// wrap adds context to an error from bolt, marking the ones caused by the
// arguments as storage.ErrInvalid.
func wrap(op, bucket string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrKeyTooLarge), errors.Is(err, berrors.ErrValueTooLarge),
		errors.Is(err, berrors.ErrKeyRequired), errors.Is(err, berrors.ErrBucketNameRequired),
		errors.Is(err, berrors.ErrIncompatibleValue):
		return fmt.Errorf("bolt: %s in bucket %q: %w: %w", op, bucket, storage.ErrInvalid, err)
	}
	return fmt.Errorf("bolt: %s in bucket %q: %w", op, bucket, err)
}

// Get returns the value of key in bucket. It seeks with a cursor and
// compares keys rather than calling bolt's Get, whose nil answer does not
// tell a missing key from an empty value.
func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	if err := t.check("get", bucket, false); err != nil {
		return nil, err
	}
	if err := checkKey("get", bucket, key); err != nil {
		return nil, err
	}
	if b := t.btx.Bucket([]byte(bucket)); b != nil {
		if k, v := b.Cursor().Seek(key); bytes.Equal(k, key) {
			return v, nil
		}
	}
	return nil, fmt.Errorf("bolt: get %q from bucket %q: %w", key, bucket, storage.ErrNotFound)
}

// Put stores value under key, creating the bucket if needed. bolt keeps
// the slices until the transaction ends.
func (t *tx) Put(bucket string, key, value []byte) error {
	if err := t.check("put", bucket, true); err != nil {
		return err
	}
	if err := checkKey("put", bucket, key); err != nil {
		return err
	}
	b, err := t.btx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return wrap("create bucket", bucket, err)
	}
	// Strata's keys mostly grow (time-ordered ids, change-log sequence
	// numbers, revision numbers): pages split at 90% instead of bolt's 50%
	// stay fuller, so the file is smaller and commits write fewer pages.
	b.FillPercent = 0.9
	if value == nil {
		value = []byte{} // so Get in this transaction sees a value, not a gap
	}
	if err := b.Put(key, value); err != nil {
		return wrap("put", bucket, err)
	}
	return nil
}

// Delete removes key from bucket, if both exist.
func (t *tx) Delete(bucket string, key []byte) error {
	if err := t.check("delete", bucket, true); err != nil {
		return err
	}
	if err := checkKey("delete", bucket, key); err != nil {
		return err
	}
	b := t.btx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	if err := b.Delete(key); err != nil {
		return wrap("delete", bucket, err)
	}
	return nil
}

// DeleteBucket removes bucket with all its keys, if it exists.
func (t *tx) DeleteBucket(bucket string) error {
	if err := t.check("delete bucket", bucket, true); err != nil {
		return err
	}
	err := t.btx.DeleteBucket([]byte(bucket))
	if err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return wrap("delete bucket", bucket, err)
	}
	return nil
}

// Scan walks the keys of bucket within r with a bolt cursor.
func (t *tx) Scan(bucket string, r storage.Range, fn func(key, value []byte) bool) error {
	if err := t.check("scan", bucket, false); err != nil {
		return err
	}
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
