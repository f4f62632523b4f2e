package storagetest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/strata-dev/strata/sdk/storage"
)

// kv is a key and value copied out of a transaction.
type kv struct {
	key, value string
}

// update runs fn in s.Update and fails the test if it returns an error.
func update(t testing.TB, ctx context.Context, s storage.Store, fn func(tx storage.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// view runs fn in s.View and fails the test if it returns an error.
func view(t testing.TB, ctx context.Context, s storage.Store, fn func(tx storage.Tx) error) {
	t.Helper()
	if err := s.View(ctx, fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// put stores pairs in bucket in one Update.
func put(t testing.TB, ctx context.Context, s storage.Store, bucket string, pairs ...kv) {
	t.Helper()
	update(t, ctx, s, func(tx storage.Tx) error {
		for _, p := range pairs {
			if err := tx.Put(bucket, []byte(p.key), []byte(p.value)); err != nil {
				return fmt.Errorf("put %s/%q: %w", bucket, p.key, err)
			}
		}
		return nil
	})
}

// get reads bucket/key in a View. It reports whether the key exists and
// fails the test on any error other than ErrNotFound.
func get(t testing.TB, ctx context.Context, s storage.Store, bucket, key string) (string, bool) {
	t.Helper()
	var (
		val   string
		found bool
	)
	view(t, ctx, s, func(tx storage.Tx) error {
		var err error
		val, found, err = txGet(tx, bucket, key)
		return err
	})
	return val, found
}

// txGet reads bucket/key inside tx, copying the value. A missing key is
// reported as found == false, not as an error.
func txGet(tx storage.Tx, bucket, key string) (val string, found bool, err error) {
	v, err := tx.Get(bucket, []byte(key))
	if errors.Is(err, storage.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get %s/%q: %w", bucket, key, err)
	}
	return string(v), true, nil
}

// wantValue fails the test unless bucket/key holds want.
func wantValue(t testing.TB, ctx context.Context, s storage.Store, bucket, key, want string) {
	t.Helper()
	got, found := get(t, ctx, s, bucket, key)
	if !found {
		t.Errorf("Get(%q, %q): not found, want %q", bucket, key, want)
		return
	}
	if got != want {
		t.Errorf("Get(%q, %q) = %q, want %q", bucket, key, got, want)
	}
}

// wantMissing fails the test unless Get of bucket/key reports ErrNotFound.
func wantMissing(t testing.TB, ctx context.Context, s storage.Store, bucket, key string) {
	t.Helper()
	if got, found := get(t, ctx, s, bucket, key); found {
		t.Errorf("Get(%q, %q) = %q, want ErrNotFound", bucket, key, got)
	}
}

// scan returns the pairs Scan visits in a View, copied.
func scan(t testing.TB, ctx context.Context, s storage.Store, bucket string, r storage.Range) []kv {
	t.Helper()
	var out []kv
	view(t, ctx, s, func(tx storage.Tx) error {
		var err error
		out, err = txScan(tx, bucket, r)
		return err
	})
	return out
}

// txScan returns the pairs Scan visits inside tx, copied.
func txScan(tx storage.Tx, bucket string, r storage.Range) ([]kv, error) {
	out := []kv{} // reset on every call: fn may run more than once
	err := tx.Scan(bucket, r, func(k, v []byte) bool {
		out = append(out, kv{string(k), string(v)})
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", bucket, err)
	}
	return out, nil
}

// keysOf returns the keys of pairs, in order.
func keysOf(pairs []kv) []string {
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.key
	}
	return out
}

// wantKeys fails the test unless got holds exactly the keys want, in order.
func wantKeys(t testing.TB, what string, got []kv, want []string) {
	t.Helper()
	if gotKeys := keysOf(got); !slices.Equal(gotKeys, want) {
		t.Errorf("%s: keys\n got %q\nwant %q", what, gotKeys, want)
	}
}

// reversed returns a reversed copy of s.
func reversed[S ~[]E, E any](s S) S {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// valueFor is the value the checks store under key, so a scan can verify
// that every value belongs to its key.
func valueFor(key string) string {
	return "value of " + key
}

// pairsFor returns the pairs (k, valueFor(k)) for keys.
func pairsFor(keys ...string) []kv {
	out := make([]kv, len(keys))
	for i, k := range keys {
		out[i] = kv{k, valueFor(k)}
	}
	return out
}

// wantPairs fails the test unless got holds exactly the keys want, in order,
// each with valueFor(key).
func wantPairs(t testing.TB, what string, got []kv, want []string) {
	t.Helper()
	wantKeys(t, what, got, want)
	for _, p := range got {
		if p.value != valueFor(p.key) {
			t.Errorf("%s: key %q has value %q, want %q", what, p.key, p.value, valueFor(p.key))
		}
	}
}

// counterBucket and counterKey hold the counter of the concurrency checks.
const (
	counterBucket = "counter"
	counterKey    = "n"
)

// readCounter reads the counter inside tx; a missing counter is zero.
func readCounter(tx storage.Tx) (uint64, error) {
	v, err := tx.Get(counterBucket, []byte(counterKey))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read counter: %w", err)
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("read counter: value has %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// increment adds one to the counter inside tx with a read-modify-write.
func increment(tx storage.Tx) error {
	n, err := readCounter(tx)
	if err != nil {
		return err
	}
	return tx.Put(counterBucket, []byte(counterKey), binary.BigEndian.AppendUint64(nil, n+1))
}

// counter reads the counter in a View.
func counter(t testing.TB, ctx context.Context, s storage.Store) uint64 {
	t.Helper()
	var n uint64
	view(t, ctx, s, func(tx storage.Tx) error {
		var err error
		n, err = readCounter(tx)
		return err
	})
	return n
}

// reopen reopens e's store if its harness is a Reopener, and skips the test
// otherwise.
func reopen(t *testing.T, e *env) {
	t.Helper()
	r, ok := e.h.(Reopener)
	if !ok {
		t.Skip("harness does not implement storagetest.Reopener")
	}
	s, err := r.Reopen(e.ctx, e.s)
	if err != nil {
		t.Fatalf("Reopen: %v", err)
	}
	e.s = s
}

// requireReopener skips the test unless e's harness is a Reopener, so a
// durability check does not do its work only to skip at the end.
func requireReopener(t *testing.T, e *env) {
	t.Helper()
	if _, ok := e.h.(Reopener); !ok {
		t.Skip("harness does not implement storagetest.Reopener")
	}
}

// panicToken is the value the panic checks panic with; recovering the same
// pointer proves the backend re-raised the original value.
type panicToken struct {
	id int
}

// recoverPanic runs f and returns the value it panicked with, or nil.
func recoverPanic(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// fmtRange formats r for failure messages.
func fmtRange(r storage.Range) string {
	bound := func(b []byte) string {
		if b == nil {
			return "nil"
		}
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("{Start: %s, End: %s, Reverse: %v}", bound(r.Start), bound(r.End), r.Reverse)
}
