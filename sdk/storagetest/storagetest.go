package storagetest

import (
	"context"
	"testing"

	"github.com/strata-dev/strata/sdk/storage"
)

// Harness gives the suite stores of one backend. The suite calls MakeStore
// once per check and closes the store it returns; it calls Close when the
// check is over, after closing the store. A Harness is used from one
// goroutine at a time.
type Harness interface {
	// MakeStore returns a fresh, empty store.
	MakeStore(ctx context.Context) (storage.Store, error)

	// Close releases whatever the harness holds, such as temporary
	// directories or connections shared by its stores.
	Close()
}

// Reopener is implemented by a [Harness] whose stores persist. When the
// harness implements it, the suite also checks that committed data survives
// closing and reopening the store.
type Reopener interface {
	// Reopen closes s, a store made by this harness, and opens the same
	// location again. The suite closes the returned store.
	Reopen(ctx context.Context, s storage.Store) (storage.Store, error)
}

// HarnessMaker builds a [Harness] for one conformance check. It may use t
// for temporary directories (t.TempDir) and cleanups.
type HarnessMaker func(ctx context.Context, t *testing.T) (Harness, error)

// BenchHarnessMaker builds a [Harness] for one benchmark. It receives a
// testing.TB, so one function can serve both [RunBenchmarks] and, wrapped,
// [RunConformanceTests].
type BenchHarnessMaker func(ctx context.Context, tb testing.TB) (Harness, error)

// check is one rule of the contract, run as its own subtest on a fresh store.
type check struct {
	name string
	run  func(t *testing.T, e *env)
}

// env is what a check works with. A check that replaces the store (by
// reopening it) assigns the new one to s, so the cleanup closes it.
type env struct {
	ctx context.Context
	h   Harness
	s   storage.Store
}

// RunConformanceTests runs every check of the storage contract against stores
// made by harnesses from newHarness, one subtest per check. Call it from a
// test of the backend's package:
//
//	func TestConformance(t *testing.T) {
//		storagetest.RunConformanceTests(t, newHarness)
//	}
func RunConformanceTests(t *testing.T, newHarness HarnessMaker) {
	t.Helper()
	for _, c := range checks() {
		t.Run(c.name, func(t *testing.T) {
			runCheck(t, newHarness, c)
		})
	}
}

// runCheck builds a harness and a store, runs c, and closes both.
func runCheck(t *testing.T, newHarness HarnessMaker, c check) {
	t.Helper()
	ctx := t.Context()
	h, err := newHarness(ctx, t)
	if err != nil {
		t.Fatalf("make harness: %v", err)
	}
	t.Cleanup(h.Close)
	s, err := h.MakeStore(ctx)
	if err != nil {
		t.Fatalf("MakeStore: %v", err)
	}
	e := &env{ctx: ctx, h: h, s: s}
	// Cleanups run last-in first-out: the store closes before the harness.
	t.Cleanup(func() {
		if err := e.s.Close(); err != nil {
			t.Errorf("Close at end of check: %v", err)
		}
	})
	c.run(t, e)
}

// checks lists the rules of the contract in the order they run.
func checks() []check {
	return []check{
		{"GetMissingKey", testGetMissingKey},
		{"GetMissingBucket", testGetMissingBucket},
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"EmptyValue", testEmptyValue},
		{"InvalidArguments", testInvalidArguments},
		{"LargeValue", testLargeValue},
		{"BucketIsolation", testBucketIsolation},
		{"DeleteBucket", testDeleteBucket},
		{"ScanForward", testScanForward},
		{"ScanReverse", testScanReverse},
		{"ScanRange", testScanRange},
		{"ScanPrefix", testScanPrefix},
		{"ScanEarlyStop", testScanEarlyStop},
		{"ScanMissingBucket", testScanMissingBucket},
		{"ScanBinaryKeysBytewise", testScanBinaryKeys},
		{"ScanThenModify", testScanThenModify},
		{"ScanWhileWritingOtherBucket", testScanWhileWritingOtherBucket},
		{"GetMany", testGetMany},
		{"GetManyOwnWrites", testGetManyOwnWrites},
		{"GetManyInvalidArguments", testGetManyInvalidArguments},
		{"GetManyConcurrentUpdates", testGetManyConcurrentUpdates},
		{"GetKeys", testGetKeys},
		{"ValuesValidUntilTxEnd", testValuesValidUntilTxEnd},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"UpdateErrorRollsBack", testUpdateErrorRollsBack},
		{"UpdatePanicRollsBack", testUpdatePanicRollsBack},
		{"ViewErrorAndPanic", testViewErrorAndPanic},
		{"ReadYourOwnWrites", testReadYourOwnWrites},
		{"SnapshotIsolation", testSnapshotIsolation},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"ConcurrentUpdatesWithErrors", testConcurrentUpdatesWithErrors},
		{"ConcurrentUpdatesWithPanics", testConcurrentUpdatesWithPanics},
		{"ConsistentSnapshotsUnderLoad", testConsistentSnapshotsUnderLoad},
		{"CancelledContext", testCancelledContext},
		{"Close", testClose},
		{"CloseWaitsForTransactions", testCloseWaitsForTransactions},
		{"ReopenPersists", testReopenPersists},
		{"ReopenConcurrentWriters", testReopenConcurrentWriters},
		{"Snapshot", testSnapshot}, // optional: skipped without driver.Snapshotter
	}
}
