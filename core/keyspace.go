package core

import (
	"context"

	"github.com/strata-dev/strata/sdk/storage"
)

// Keyspace is one bucket of the store that core lends to a component
// outside it, such as package auth. Core's layout (layout.go) lists every
// bucket, so the component never names buckets itself and cannot touch any
// other: a Keyspace reads and writes only its own.
type Keyspace struct {
	store  storage.Store
	bucket string
	// config: a write is a change of configuration the other nodes
	// reload (API keys); blob bytes are not.
	config bool
}

// AuthKeyspace returns the keyspace where package auth keeps its API key
// records, one per key id. It needs only the store, not a Manager, so
// command-line tools can manage keys of a stopped server.
func AuthKeyspace(store storage.Store) Keyspace {
	return Keyspace{store: store, bucket: bucketAuthKeys, config: true}
}

// View runs fn in a read-only transaction over the keyspace; see
// storage.Store.View.
func (k Keyspace) View(ctx context.Context, fn func(tx KeyspaceTx) error) error {
	return k.store.View(ctx, func(tx storage.Tx) error { return fn(KeyspaceTx{tx: tx, bucket: k.bucket}) })
}

// Update runs fn in a read-write transaction over the keyspace; see
// storage.Store.Update (fn may run more than once).
//
// A write of the auth keyspace is a change of configuration (API keys):
// the nodes sharing the store reload it (Manager.OnConfigChange).
func (k Keyspace) Update(ctx context.Context, fn func(tx KeyspaceTx) error) error {
	return k.store.Update(ctx, func(tx storage.Tx) error {
		if err := fn(KeyspaceTx{tx: tx, bucket: k.bucket}); err != nil {
			return err
		}
		if !k.config {
			return nil
		}
		return bumpConfig(tx)
	})
}

// KeyspaceTx is a transaction confined to one keyspace. It is only valid
// during the fn it is handed to.
type KeyspaceTx struct {
	tx     storage.Tx
	bucket string
}

// Get returns the value of key, or an error satisfying
// errors.Is(err, storage.ErrNotFound). The slice is valid until the
// transaction ends.
func (t KeyspaceTx) Get(key []byte) ([]byte, error) { return t.tx.Get(t.bucket, key) }

// Put stores value under key.
func (t KeyspaceTx) Put(key, value []byte) error { return t.tx.Put(t.bucket, key, value) }

// Delete removes key; a missing key is not an error.
func (t KeyspaceTx) Delete(key []byte) error { return t.tx.Delete(t.bucket, key) }

// Scan calls fn for the keys within r in order until fn returns false.
func (t KeyspaceTx) Scan(r storage.Range, fn func(key, value []byte) bool) error {
	return t.tx.Scan(t.bucket, r, fn)
}
