// Package memory is a Strata storage backend that keeps everything in memory.
//
// It is a storage driver (package storage/driver), wrapped by storage.New
// into the [storage.Store] that [Open] and [New] return, for tests, examples and short-lived
// deployments that do not need their data to outlive the process: nothing is
// written to disk, so "durable" here means "visible to every later
// transaction until Close". It is also the worked example of
// docs/storage-plugins.md, so the code favours being easy to read over being
// fast.
//
// # Design
//
// All buckets live in one copy-on-write B-tree (github.com/tidwall/btree)
// ordered by bucket name, then key. Copying the tree is O(1); the copies
// share nodes until one of them changes, and then only the changed path is
// copied. That gives transactions almost for free:
//
//   - View reads the latest committed tree. Committed trees are never
//     changed again, so a View sees a consistent snapshot without locks and
//     does not block writers.
//   - Update holds the single writer slot, copies the committed tree,
//     runs fn against the copy and, if fn returns nil, publishes the copy.
//     If fn fails or panics the copy is dropped, which is the rollback.
//
// Updates run one at a time, in the caller's goroutine, and fn runs exactly
// once per call.
//
// # Registering
//
// [Open] has the signature of [storage.Opener]; the location is ignored:
//
//	var reg storage.Registry
//	reg.Register("memory", memory.Open)
//	store, err := reg.Open(ctx, "memory:", storage.OpenOptions{})
package memory
