// Package storagetest is the conformance suite for Strata storage backends.
//
// A backend proves it implements the [storage.Store] contract by running
// [RunConformanceTests] from one of its tests, and measures itself with
// [RunBenchmarks]. Both take a function that builds a [Harness]: the only
// backend-specific code the suite needs.
//
// # Writing a harness
//
// A [Harness] hands out fresh, empty stores and releases whatever they share
// (temporary directories, server connections). The suite builds one harness
// per check, asks it for one store, and closes both when the check ends.
// A harness whose stores live on disk should also implement [Reopener], which
// enables the durability checks:
//
//	type harness struct{ dir string }
//
//	func newHarness(ctx context.Context, t *testing.T) (storagetest.Harness, error) {
//		return &harness{dir: t.TempDir()}, nil
//	}
//
//	func (h *harness) MakeStore(ctx context.Context) (storage.Store, error) {
//		return bolt.Open(ctx, filepath.Join(h.dir, "strata.db"), storage.OpenOptions{})
//	}
//
//	func (h *harness) Reopen(ctx context.Context, s storage.Store) (storage.Store, error) {
//		if err := s.Close(); err != nil {
//			return nil, err
//		}
//		return h.MakeStore(ctx)
//	}
//
//	func (h *harness) Close() {}
//
//	func TestConformance(t *testing.T) {
//		storagetest.RunConformanceTests(t, newHarness)
//	}
//
// # What the suite checks
//
// Each check runs as its own subtest, so a failure names the rule that was
// broken: missing keys and buckets report [storage.ErrNotFound]; puts,
// overwrites and deletes; argument validation; bucket isolation; every
// shape of [storage.Range] in both directions, including binary keys and
// prefixes ending in 0xff; read-only views; rollback on error and on panic;
// reads of a transaction's own writes; snapshot isolation; serializable
// read-modify-write under concurrency, also when some concurrent updates fail
// or panic (which catches group-commit replay bugs); context cancellation;
// behaviour after Close; and, with a [Reopener], durability across reopen.
//
// The suite's transaction functions follow the contract themselves: they have
// no side effects outside the transaction, so a backend may run them more
// than once.
package storagetest
