package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

// hangTimeout bounds waits that only a broken backend would not finish, so
// that it fails with an explanation instead of hanging until the test
// binary's timeout. No check waits for it when the backend works.
const hangTimeout = time.Minute

// errPlanned is the error the rollback checks make fn return.
var errPlanned = errors.New("storagetest: planned failure")

func testViewIsReadOnly(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", kv{"k", "v"})
	view(t, e.ctx, e.s, func(tx storage.Tx) error {
		writes := []struct {
			name string
			fn   func() error
		}{
			{"PutNewKey", func() error { return tx.Put("b", []byte("k2"), []byte("v")) }},
			{"PutExistingKey", func() error { return tx.Put("b", []byte("k"), []byte("changed")) }},
			{"PutNewBucket", func() error { return tx.Put("nb", []byte("k"), []byte("v")) }},
			{"Delete", func() error { return tx.Delete("b", []byte("k")) }},
			{"DeleteMissing", func() error { return tx.Delete("b", []byte("missing")) }},
			{"DeleteBucket", func() error { return tx.DeleteBucket("b") }},
			{"DeleteMissingBucket", func() error { return tx.DeleteBucket("missing") }},
		}
		for _, w := range writes {
			if err := w.fn(); !errors.Is(err, storage.ErrReadOnly) {
				t.Errorf("%s inside View = %v, want errors.Is(err, ErrReadOnly)", w.name, err)
			}
		}
		// The refused writes are not visible in the View either.
		if v, found, err := txGet(tx, "b", "k"); err != nil || !found || v != "v" {
			t.Errorf("Get(b, k) after refused writes = %q, found %v, %v; want v", v, found, err)
		}
		return nil
	})
	wantValue(t, e.ctx, e.s, "b", "k", "v")
	wantMissing(t, e.ctx, e.s, "b", "k2")
	wantMissing(t, e.ctx, e.s, "nb", "k")
}

// seedRollback writes the state the rollback checks try to change, and
// rollbackWrites tries to change all of it; wantSeeded verifies nothing did.
func seedRollback(t *testing.T, e *env) {
	t.Helper()
	put(t, e.ctx, e.s, "a", kv{"k1", "v1"}, kv{"k2", "v2"})
	put(t, e.ctx, e.s, "b", kv{"k", "v"})
}

func rollbackWrites(tx storage.Tx) error {
	if err := tx.Put("a", []byte("k1"), []byte("changed")); err != nil {
		return err
	}
	if err := tx.Put("a", []byte("k3"), []byte("new")); err != nil {
		return err
	}
	if err := tx.Delete("a", []byte("k2")); err != nil {
		return err
	}
	if err := tx.DeleteBucket("b"); err != nil {
		return err
	}
	return tx.Put("c", []byte("x"), []byte("new bucket"))
}

func wantSeeded(t *testing.T, e *env) {
	t.Helper()
	wantKeys(t, "Scan(a) after rollback", scan(t, e.ctx, e.s, "a", storage.Range{}), []string{"k1", "k2"})
	wantValue(t, e.ctx, e.s, "a", "k1", "v1")
	wantValue(t, e.ctx, e.s, "a", "k2", "v2")
	wantValue(t, e.ctx, e.s, "b", "k", "v")
	wantMissing(t, e.ctx, e.s, "c", "x")
}

func testUpdateErrorRollsBack(t *testing.T, e *env) {
	seedRollback(t, e)
	tests := []struct {
		name string
		fn   func(tx storage.Tx) error
		want error
	}{
		{"afterWrites", func(tx storage.Tx) error {
			if err := rollbackWrites(tx); err != nil {
				return err
			}
			return fmt.Errorf("validation: %w", errPlanned)
		}, errPlanned},
		{"withoutWrites", func(storage.Tx) error { return errPlanned }, errPlanned},
		{"storageError", func(tx storage.Tx) error {
			if err := rollbackWrites(tx); err != nil {
				return err
			}
			_, err := tx.Get("a", []byte("missing"))
			return err
		}, storage.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.s.Update(e.ctx, tt.fn)
			if !errors.Is(err, tt.want) {
				t.Errorf("Update = %v, want errors.Is(err, %v)", err, tt.want)
			}
			wantSeeded(t, e)
		})
	}
	// The store still works after rolled-back Updates.
	put(t, e.ctx, e.s, "a", kv{"k3", "v3"})
	wantValue(t, e.ctx, e.s, "a", "k3", "v3")
}

func testUpdatePanicRollsBack(t *testing.T, e *env) {
	seedRollback(t, e)
	errValue := fmt.Errorf("an error value: %w", errPlanned)
	tests := []struct {
		name  string
		value any
	}{
		{"pointer", &panicToken{id: 1}},
		{"error", errValue},
		{"string", "a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			returned := false
			got := recoverPanic(func() {
				_ = e.s.Update(e.ctx, func(tx storage.Tx) error {
					if err := rollbackWrites(tx); err != nil {
						return err
					}
					panic(tt.value)
				})
				returned = true
			})
			if returned {
				t.Fatal("Update returned normally after fn panicked; want the panic re-raised in the caller")
			}
			if got != tt.value {
				t.Errorf("recovered %v (%T), want the value fn panicked with, %v (%T)", got, got, tt.value, tt.value)
			}
			wantSeeded(t, e)
		})
	}
	put(t, e.ctx, e.s, "a", kv{"k3", "v3"})
	wantValue(t, e.ctx, e.s, "a", "k3", "v3")
}

func testViewErrorAndPanic(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", kv{"k", "v"})
	err := e.s.View(e.ctx, func(storage.Tx) error {
		return fmt.Errorf("reading: %w", errPlanned)
	})
	if !errors.Is(err, errPlanned) {
		t.Errorf("View = %v, want fn's error", err)
	}
	token := &panicToken{id: 2}
	if got := recoverPanic(func() {
		_ = e.s.View(e.ctx, func(storage.Tx) error { panic(token) })
	}); got != token {
		t.Errorf("View recovered %v, want fn's panic value re-raised", got)
	}
	// The store still works.
	wantValue(t, e.ctx, e.s, "b", "k", "v")
	put(t, e.ctx, e.s, "b", kv{"k2", "v2"})
	wantValue(t, e.ctx, e.s, "b", "k2", "v2")
}

func testReadYourOwnWrites(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", pairsFor("gone", "keep", "old")...)
	put(t, e.ctx, e.s, "other", pairsFor("x")...)
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		want := func(bucket, key, value string, present bool) error {
			v, found, err := txGet(tx, bucket, key)
			if err != nil {
				return err
			}
			if found != present || v != value {
				t.Errorf("Get(%q, %q) inside the writing Update = %q, found %v; want %q, found %v", bucket, key, v, found, value, present)
			}
			return nil
		}
		steps := []func() error{
			func() error { return tx.Put("b", []byte("new"), []byte(valueFor("new"))) },
			func() error { return want("b", "new", valueFor("new"), true) },
			func() error { return tx.Put("b", []byte("keep"), []byte("changed")) },
			func() error { return want("b", "keep", "changed", true) },
			func() error { return tx.Delete("b", []byte("gone")) },
			func() error { return want("b", "gone", "", false) },
			func() error { return tx.Put("fresh", []byte("k"), []byte("v")) },
			func() error { return want("fresh", "k", "v", true) },
			func() error { return tx.DeleteBucket("other") },
			func() error { return want("other", "x", "", false) },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		got, err := txScan(tx, "b", storage.Range{})
		if err != nil {
			return err
		}
		wantKeys(t, "Scan(b) inside the writing Update", got, []string{"keep", "new", "old"})
		rev, err := txScan(tx, "b", storage.Range{Reverse: true})
		if err != nil {
			return err
		}
		if !slices.Equal(rev, reversed(got)) {
			t.Errorf("reverse Scan(b) inside the writing Update = %q, want %q", rev, reversed(got))
		}
		other, err := txScan(tx, "other", storage.Range{})
		if err != nil {
			return err
		}
		wantKeys(t, "Scan(other) after DeleteBucket in the same Update", other, nil)
		if err := tx.Put("other", []byte("y"), []byte("v")); err != nil {
			return err
		}
		other, err = txScan(tx, "other", storage.Range{})
		if err != nil {
			return err
		}
		wantKeys(t, "Scan(other) after DeleteBucket and Put in the same Update", other, []string{"y"})
		return nil
	})
	wantKeys(t, "Scan(b) after commit", scan(t, e.ctx, e.s, "b", storage.Range{}), []string{"keep", "new", "old"})
	wantValue(t, e.ctx, e.s, "b", "keep", "changed")
	wantValue(t, e.ctx, e.s, "fresh", "k", "v")
	wantKeys(t, "Scan(other) after commit", scan(t, e.ctx, e.s, "other", storage.Range{}), []string{"y"})
}

func testSnapshotIsolation(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", pairsFor("gone", "k")...)
	started := make(chan struct{})
	committed := make(chan struct{})
	viewErr := make(chan error, 1)
	go func() {
		viewErr <- e.s.View(e.ctx, func(tx storage.Tx) error {
			before, err := txScan(tx, "b", storage.Range{})
			if err != nil {
				return err
			}
			close(started)
			<-committed // an Update commits while this View is open
			after, err := txScan(tx, "b", storage.Range{})
			if err != nil {
				return err
			}
			wantPairs(t, "Scan in a View opened before the Update, after it committed", after, []string{"gone", "k"})
			if !slices.Equal(before, after) {
				t.Errorf("View saw a concurrent commit: Scan before %q, after %q", before, after)
			}
			for _, k := range []string{"k", "gone"} {
				if v, found, err := txGet(tx, "b", k); err != nil || !found || v != valueFor(k) {
					t.Errorf("Get(b, %q) in the older View = %q, found %v, %v; want %q", k, v, found, err, valueFor(k))
				}
			}
			if v, found, err := txGet(tx, "b", "new"); err != nil || found {
				t.Errorf("Get(b, new) in the older View = %q, found %v, %v; want not found", v, found, err)
			}
			return nil
		})
	}()
	select {
	case <-started:
	case err := <-viewErr:
		t.Fatalf("View ended before the concurrent Update: %v", err)
	}
	updateErr := make(chan error, 1)
	go func() {
		updateErr <- e.s.Update(e.ctx, func(tx storage.Tx) error {
			if err := tx.Put("b", []byte("k"), []byte("changed")); err != nil {
				return err
			}
			if err := tx.Put("b", []byte("new"), []byte("v")); err != nil {
				return err
			}
			return tx.Delete("b", []byte("gone"))
		})
	}()
	// The watchdog only turns a hang into a readable failure: a backend
	// whose commits wait for open Views never commits here.
	watchdog := time.NewTimer(hangTimeout)
	defer watchdog.Stop()
	select {
	case err := <-updateErr:
		if err != nil {
			t.Errorf("Update: %v", err)
		}
		close(committed)
	case <-watchdog.C:
		t.Errorf("Update did not commit within %s while an older View was open: commits must not wait for Views to end", hangTimeout)
		close(committed)
		<-updateErr
	}
	if err := <-viewErr; err != nil {
		t.Fatalf("View: %v", err)
	}
	// A View opened after the commit sees it.
	wantKeys(t, "Scan in a View opened after the Update", scan(t, e.ctx, e.s, "b", storage.Range{}), []string{"k", "new"})
	wantValue(t, e.ctx, e.s, "b", "k", "changed")
}
