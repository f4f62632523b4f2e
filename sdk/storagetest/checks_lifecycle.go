package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

func testCancelledContext(t *testing.T, e *env) {
	tests := []struct {
		name string
		ctx  func() context.Context
		want error
	}{
		{"canceled", func() context.Context {
			ctx, cancel := context.WithCancel(e.ctx)
			cancel()
			return ctx
		}, context.Canceled},
		{"deadlineExceeded", func() context.Context {
			ctx, cancel := context.WithDeadline(e.ctx, time.Unix(0, 0))
			t.Cleanup(cancel)
			return ctx
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx()
			called := false
			err := e.s.Update(ctx, func(tx storage.Tx) error {
				called = true
				return tx.Put("b", []byte(tt.name), []byte("v"))
			})
			if !errors.Is(err, tt.want) || called {
				t.Errorf("Update with a done context = %v, fn called %v; want %v without calling fn", err, called, tt.want)
			}
			err = e.s.View(ctx, func(storage.Tx) error {
				called = true
				return nil
			})
			if !errors.Is(err, tt.want) || called {
				t.Errorf("View with a done context = %v, fn called %v; want %v without calling fn", err, called, tt.want)
			}
			wantMissing(t, e.ctx, e.s, "b", tt.name)
		})
	}
	// A live context still works.
	put(t, e.ctx, e.s, "b", kv{"k", "v"})
	wantValue(t, e.ctx, e.s, "b", "k", "v")
}

func testClose(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", kv{"k", "v"})
	if err := e.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	tests := []struct {
		name string
		call func(fn func(storage.Tx) error) error
	}{
		{"View", func(fn func(storage.Tx) error) error { return e.s.View(e.ctx, fn) }},
		{"Update", func(fn func(storage.Tx) error) error { return e.s.Update(e.ctx, fn) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			err := tt.call(func(tx storage.Tx) error {
				called = true
				_, err := tx.Get("b", []byte("k"))
				return err
			})
			if !errors.Is(err, storage.ErrClosed) || called {
				t.Errorf("%s after Close = %v, fn called %v; want errors.Is(err, ErrClosed) without calling fn", tt.name, err, called)
			}
		})
	}
	if err := e.s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func testCloseWaitsForTransactions(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", kv{"k", "v"})
	release := make(chan struct{})
	viewStarted := make(chan struct{})
	updateStarted := make(chan struct{})
	var signalUpdate sync.Once // fn may run more than once
	viewErr := make(chan error, 1)
	updateErr := make(chan error, 1)
	go func() {
		viewErr <- e.s.View(e.ctx, func(tx storage.Tx) error {
			close(viewStarted)
			<-release
			v, found, err := txGet(tx, "b", "k")
			if err != nil {
				return err
			}
			if !found || v != "v" {
				return fmt.Errorf("Get(b, k) in a View in flight during Close = %q, found %v; want v", v, found)
			}
			return nil
		})
	}()
	go func() {
		updateErr <- e.s.Update(e.ctx, func(tx storage.Tx) error {
			signalUpdate.Do(func() { close(updateStarted) })
			<-release
			return tx.Put("b", []byte("during-close"), []byte("v"))
		})
	}()
	for _, started := range []chan struct{}{viewStarted, updateStarted} {
		select {
		case <-started:
		case err := <-viewErr:
			t.Fatalf("View ended before Close: %v", err)
		case err := <-updateErr:
			t.Fatalf("Update ended before Close: %v", err)
		}
	}
	closeErr := make(chan error, 1)
	go func() { closeErr <- e.s.Close() }()
	close(release)
	if err := <-viewErr; err != nil {
		t.Errorf("View in flight during Close: %v, want nil", err)
	}
	if err := <-updateErr; err != nil {
		t.Errorf("Update in flight during Close: %v, want nil", err)
	}
	if err := <-closeErr; err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, ok := e.h.(Reopener); !ok {
		return
	}
	// The Update that returned nil while Close waited is durable.
	reopen(t, e)
	wantValue(t, e.ctx, e.s, "b", "during-close", "v")
	wantValue(t, e.ctx, e.s, "b", "k", "v")
}

func testReopenPersists(t *testing.T, e *env) {
	requireReopener(t, e)
	var keys []string
	for i := range 50 {
		keys = append(keys, fmt.Sprintf("k%02d", i))
	}
	put(t, e.ctx, e.s, "a", pairsFor(keys...)...)
	put(t, e.ctx, e.s, "b", kv{"x", "y"})
	put(t, e.ctx, e.s, "c", kv{"doomed", "v"})
	put(t, e.ctx, e.s, "e", kv{"empty", ""})
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		if err := tx.Delete("a", []byte("k10")); err != nil {
			return err
		}
		if err := tx.DeleteBucket("c"); err != nil {
			return err
		}
		return tx.Put("a", []byte("k01"), []byte("overwritten"))
	})
	err := e.s.Update(e.ctx, func(tx storage.Tx) error {
		if err := tx.Put("a", []byte("rolled-back"), []byte("v")); err != nil {
			return err
		}
		return errPlanned
	})
	if !errors.Is(err, errPlanned) {
		t.Fatalf("failing Update = %v, want errPlanned", err)
	}

	verify := func(t *testing.T) {
		t.Helper()
		var want []string
		for _, k := range keys {
			if k != "k10" {
				want = append(want, k)
			}
		}
		wantKeys(t, "Scan(a) after reopen", scan(t, e.ctx, e.s, "a", storage.Range{}), want)
		wantValue(t, e.ctx, e.s, "a", "k01", "overwritten")
		wantValue(t, e.ctx, e.s, "a", "k49", valueFor("k49"))
		wantMissing(t, e.ctx, e.s, "a", "k10")
		wantMissing(t, e.ctx, e.s, "a", "rolled-back")
		wantValue(t, e.ctx, e.s, "b", "x", "y")
		wantMissing(t, e.ctx, e.s, "c", "doomed")
		wantValue(t, e.ctx, e.s, "e", "empty", "")
	}
	reopen(t, e)
	verify(t)
	// The reopened store accepts writes, and they persist too.
	put(t, e.ctx, e.s, "b", kv{"after", "reopen"})
	reopen(t, e)
	verify(t)
	wantValue(t, e.ctx, e.s, "b", "after", "reopen")
}

func testReopenConcurrentWriters(t *testing.T, e *env) {
	requireReopener(t, e)
	const workers, perWorker = 32, 10
	start := make(chan struct{})
	var wg sync.WaitGroup
	var want []string
	for w := range workers {
		for i := range perWorker {
			want = append(want, fmt.Sprintf("w%02d-%02d", w, i))
		}
		wg.Go(func() {
			<-start
			for i := range perWorker {
				key := fmt.Sprintf("w%02d-%02d", w, i)
				err := e.s.Update(e.ctx, func(tx storage.Tx) error {
					if err := increment(tx); err != nil {
						return err
					}
					return tx.Put("writers", []byte(key), []byte(valueFor(key)))
				})
				if err != nil {
					t.Errorf("Update %s: %v", key, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	reopen(t, e)
	wantPairs(t, "keys of concurrent writers after reopen", scan(t, e.ctx, e.s, "writers", storage.Range{}), want)
	if got := counter(t, e.ctx, e.s); got != workers*perWorker {
		t.Errorf("counter after reopen = %d, want %d", got, workers*perWorker)
	}
}
