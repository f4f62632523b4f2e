package memory

import (
	"bytes"
	"fmt"

	"github.com/tidwall/btree"

	"github.com/strata-dev/strata/sdk/storage"
)

// tx is a transaction over one tree. A View's tree is a published snapshot
// and is only read; an Update's tree is its private copy.
type tx struct {
	tree     *btree.BTreeG[entry]
	writable bool
	done     bool // fn has returned; the tx must not be used any more
}

// end marks t as finished, so a Tx kept past its fn cannot change a tree
// that has since been published.
func (t *tx) end() { t.done = true }

// check reports whether op may run on bucket in t: t is still live, writes
// happen only in Updates, and the bucket name is not empty.
func (t *tx) check(op, bucket string, write bool) error {
	switch {
	case t.done:
		return fmt.Errorf("memory: %s: %w: transaction used after its function returned", op, storage.ErrInvalid)
	case write && !t.writable:
		return fmt.Errorf("memory: %s in bucket %q: %w", op, bucket, storage.ErrReadOnly)
	case bucket == "":
		return fmt.Errorf("memory: %s: %w: empty bucket name", op, storage.ErrInvalid)
	}
	return nil
}

// checkKey rejects the empty key.
func checkKey(op, bucket string, key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("memory: %s in bucket %q: %w: empty key", op, bucket, storage.ErrInvalid)
	}
	return nil
}

// Get returns the value of key in bucket. The slice is the stored value
// itself: the caller must not modify it.
func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	if err := t.check("get", bucket, false); err != nil {
		return nil, err
	}
	if err := checkKey("get", bucket, key); err != nil {
		return nil, err
	}
	e, ok := t.tree.Get(entry{bucket: bucket, key: key})
	if !ok {
		return nil, fmt.Errorf("memory: get %q from bucket %q: %w", key, bucket, storage.ErrNotFound)
	}
	return e.value, nil
}

// Put stores copies of key and value, since the caller may reuse its slices
// once the transaction ends but the tree keeps them for good.
func (t *tx) Put(bucket string, key, value []byte) error {
	if err := t.check("put", bucket, true); err != nil {
		return err
	}
	if err := checkKey("put", bucket, key); err != nil {
		return err
	}
	t.tree.Set(entry{
		bucket: bucket,
		key:    bytes.Clone(key),
		value:  append([]byte{}, value...), // never nil, even for an empty value
	})
	return nil
}

// Delete removes key from bucket, if it is there.
func (t *tx) Delete(bucket string, key []byte) error {
	if err := t.check("delete", bucket, true); err != nil {
		return err
	}
	if err := checkKey("delete", bucket, key); err != nil {
		return err
	}
	t.tree.Delete(entry{bucket: bucket, key: key})
	return nil
}

// DeleteBucket removes every key of bucket. A bucket is nothing but its
// keys, so a bucket without keys is the same as a missing one.
func (t *tx) DeleteBucket(bucket string) error {
	if err := t.check("delete bucket", bucket, true); err != nil {
		return err
	}
	// Collect first: the tree must not change while it is being walked.
	var keys [][]byte
	t.tree.Ascend(entry{bucket: bucket}, func(e entry) bool {
		if e.bucket != bucket {
			return false
		}
		keys = append(keys, e.key)
		return true
	})
	for _, k := range keys {
		t.tree.Delete(entry{bucket: bucket, key: k})
	}
	return nil
}

// Scan walks the keys of bucket within r. In an Update it walks an O(1)
// copy of the transaction's tree, so fn may write to other buckets (and the
// walk would even survive writes to this one).
func (t *tx) Scan(bucket string, r storage.Range, fn func(key, value []byte) bool) error {
	if err := t.check("scan", bucket, false); err != nil {
		return err
	}
	tree := t.tree
	if t.writable {
		tree = tree.Copy()
	}
	if !r.Reverse {
		// A nil Start sorts before every key of the bucket (keys are never
		// empty), so the walk starts at the bucket's first key.
		tree.Ascend(entry{bucket: bucket, key: r.Start}, func(e entry) bool {
			if e.bucket != bucket || (r.End != nil && bytes.Compare(e.key, r.End) >= 0) {
				return false
			}
			return fn(e.key, e.value)
		})
		return nil
	}
	// Descend visits the entries <= pivot, from the largest down.
	pivot := entry{bucket: bucket, key: r.End}
	if r.End == nil {
		// Past every key of bucket and before every key of the next bucket
		// name, bucket+"\x00", whose keys are not empty.
		pivot = entry{bucket: bucket + "\x00"}
	}
	tree.Descend(pivot, func(e entry) bool {
		if r.End != nil && e.bucket == bucket && bytes.Equal(e.key, r.End) {
			return true // End is exclusive
		}
		if e.bucket != bucket || (r.Start != nil && bytes.Compare(e.key, r.Start) < 0) {
			return false
		}
		return fn(e.key, e.value)
	})
	return nil
}
