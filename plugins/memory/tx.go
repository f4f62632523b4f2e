package memory

import (
	"bytes"

	"github.com/tidwall/btree"

	"github.com/strata-dev/strata/sdk/storage/driver"
)

// tx is a transaction over one tree. A View's tree is a published snapshot
// and is only read; an Update's tree is its private copy. The storage.Store
// wrapping the driver has checked every argument and keeps a tx from being
// used after its fn returned or written in a View.
type tx struct {
	tree     *btree.BTreeG[entry]
	writable bool
}

// Get returns the value of key in bucket. The slice is the stored value
// itself: the caller must not modify it.
func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	e, ok := t.tree.Get(entry{bucket: bucket, key: key})
	if !ok {
		return nil, driver.ErrNotFound
	}
	return e.value, nil
}

// Put stores copies of key and value, since the caller may reuse its slices
// once the transaction ends but the tree keeps them for good.
func (t *tx) Put(bucket string, key, value []byte) error {
	t.tree.Set(entry{bucket: bucket, key: bytes.Clone(key), value: bytes.Clone(value)})
	return nil
}

// Delete removes key from bucket, if it is there.
func (t *tx) Delete(bucket string, key []byte) error {
	t.tree.Delete(entry{bucket: bucket, key: key})
	return nil
}

// DeleteBucket removes every key of bucket. A bucket is nothing but its
// keys, so a bucket without keys is the same as a missing one.
func (t *tx) DeleteBucket(bucket string) error {
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
func (t *tx) Scan(bucket string, r driver.Range, fn func(key, value []byte) bool) error {
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
