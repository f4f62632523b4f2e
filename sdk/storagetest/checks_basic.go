package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/strata-dev/strata/sdk/storage"
)

func testGetMissingKey(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", kv{"present", "v"})
	view(t, e.ctx, e.s, func(tx storage.Tx) error {
		for _, key := range []string{"absent", "presen", "present\x00", "\x00", "\xff"} {
			v, err := tx.Get("b", []byte(key))
			if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Get(b, %q) = %q, %v; want errors.Is(err, ErrNotFound)", key, v, err)
			}
		}
		return nil
	})
}

func testGetMissingBucket(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", kv{"k", "v"})
	check := func(tx storage.Tx) error {
		for _, bucket := range []string{"missing", "bb", "B"} {
			v, err := tx.Get(bucket, []byte("k"))
			if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Get(%q, k) = %q, %v; want errors.Is(err, ErrNotFound)", bucket, v, err)
			}
		}
		return nil
	}
	view(t, e.ctx, e.s, check)
	update(t, e.ctx, e.s, check)
}

func testPutGet(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", kv{"k1", "v1"}, kv{"k2", "v2"})
	wantValue(t, e.ctx, e.s, "b", "k1", "v1")
	wantValue(t, e.ctx, e.s, "b", "k2", "v2")

	// A later Update sees what an earlier one committed.
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		v, found, err := txGet(tx, "b", "k1")
		if err != nil {
			return err
		}
		if !found || v != "v1" {
			t.Errorf("Get(b, k1) in a later Update = %q, found %v; want v1", v, found)
		}
		return nil
	})
}

func testOverwrite(t *testing.T, e *env) {
	tests := []struct {
		name   string
		values []string
	}{
		{"longer", []string{"v", "a much longer value"}},
		{"shorter", []string{"a much longer value", "v"}},
		{"same", []string{"same", "same"}},
		{"toEmpty", []string{"v", ""}},
		{"fromEmpty", []string{"", "v"}},
		{"many", []string{"1", "22", "333", "4444", "55555"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range tt.values {
				put(t, e.ctx, e.s, "b", kv{tt.name, v})
			}
			wantValue(t, e.ctx, e.s, "b", tt.name, tt.values[len(tt.values)-1])
		})
	}
	// Overwrites inside one transaction: the last one wins.
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		for _, v := range []string{"first", "second", "third"} {
			if err := tx.Put("b", []byte("intx"), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	wantValue(t, e.ctx, e.s, "b", "intx", "third")
	if got := scan(t, e.ctx, e.s, "b", storage.Range{}); len(got) != len(tests)+1 {
		t.Errorf("Scan after overwrites: %d keys %q, want %d (overwrites must not add keys)", len(got), keysOf(got), len(tests)+1)
	}
}

func testDelete(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", kv{"k1", "v1"}, kv{"k2", "v2"})
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		return tx.Delete("b", []byte("k1"))
	})
	wantMissing(t, e.ctx, e.s, "b", "k1")
	wantValue(t, e.ctx, e.s, "b", "k2", "v2")

	tests := []struct {
		name, bucket, key string
	}{
		{"missingKey", "b", "nope"},
		{"alreadyDeleted", "b", "k1"},
		{"missingBucket", "nobucket", "k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.s.Update(e.ctx, func(tx storage.Tx) error {
				return tx.Delete(tt.bucket, []byte(tt.key))
			})
			if err != nil {
				t.Errorf("Delete(%q, %q) = %v, want nil", tt.bucket, tt.key, err)
			}
		})
	}
	wantValue(t, e.ctx, e.s, "b", "k2", "v2")

	// A deleted key can be written again.
	put(t, e.ctx, e.s, "b", kv{"k1", "again"})
	wantValue(t, e.ctx, e.s, "b", "k1", "again")
}

func testEmptyValue(t *testing.T, e *env) {
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		if err := tx.Put("b", []byte("empty"), []byte{}); err != nil {
			return fmt.Errorf("put empty value: %w", err)
		}
		if err := tx.Put("b", []byte("nil"), nil); err != nil {
			return fmt.Errorf("put nil value: %w", err)
		}
		// Visible as present, not missing, inside the same transaction.
		for _, k := range []string{"empty", "nil"} {
			v, err := tx.Get("b", []byte(k))
			if err != nil || len(v) != 0 {
				t.Errorf("Get(b, %q) in the writing Update = %q, %v; want empty value, nil", k, v, err)
			}
		}
		return nil
	})
	view(t, e.ctx, e.s, func(tx storage.Tx) error {
		for _, k := range []string{"empty", "nil"} {
			v, err := tx.Get("b", []byte(k))
			if err != nil || len(v) != 0 {
				t.Errorf("Get(b, %q) = %q, %v; want empty value, nil", k, v, err)
			}
		}
		return nil
	})
	got := scan(t, e.ctx, e.s, "b", storage.Range{})
	want := []kv{{"empty", ""}, {"nil", ""}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Scan = %q, want %q", got, want)
	}
}

func testInvalidArguments(t *testing.T, e *env) {
	tests := []struct {
		name   string
		bucket string
		key    []byte
	}{
		{"emptyBucket", "", []byte("k")},
		{"nilKey", "b", nil},
		{"emptyKey", "b", []byte{}},
		{"emptyBucketAndKey", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var putErr error
			err := e.s.Update(e.ctx, func(tx storage.Tx) error {
				putErr = tx.Put(tt.bucket, tt.key, []byte("v"))
				return putErr
			})
			if !errors.Is(putErr, storage.ErrInvalid) {
				t.Errorf("Put(%q, %q) = %v, want errors.Is(err, ErrInvalid)", tt.bucket, tt.key, putErr)
			}
			if !errors.Is(err, storage.ErrInvalid) {
				t.Errorf("Update returning Put's error = %v, want errors.Is(err, ErrInvalid)", err)
			}
			// Reads with the same arguments must fail too; the contract does
			// not say whether as invalid or as not found.
			view(t, e.ctx, e.s, func(tx storage.Tx) error {
				v, err := tx.Get(tt.bucket, tt.key)
				if !errors.Is(err, storage.ErrInvalid) && !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("Get(%q, %q) = %q, %v; want ErrInvalid or ErrNotFound", tt.bucket, tt.key, v, err)
				}
				return nil
			})
		})
	}
	// An invalid Put that fn ignores does not poison the transaction.
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		_ = tx.Put("b", nil, []byte("v"))
		return tx.Put("b", []byte("k"), []byte("v"))
	})
	wantValue(t, e.ctx, e.s, "b", "k", "v")
	if got := scan(t, e.ctx, e.s, "b", storage.Range{}); len(got) != 1 {
		t.Errorf("Scan after invalid puts = %q, want only k", got)
	}
}

func testLargeValue(t *testing.T, e *env) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	key := bytes.Repeat([]byte{'k'}, 1000)
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		return tx.Put("b", key, big)
	})
	view(t, e.ctx, e.s, func(tx storage.Tx) error {
		v, err := tx.Get("b", key)
		if err != nil {
			return err
		}
		if !bytes.Equal(v, big) {
			t.Errorf("Get of a 1 MiB value returned %d bytes, not the value written", len(v))
		}
		return nil
	})
}

func testBucketIsolation(t *testing.T, e *env) {
	buckets := []string{"a", "ab", "b", "a.b", "A"}
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		for _, b := range buckets {
			for _, k := range []string{"k", "b", "bk", b} {
				if err := tx.Put(b, []byte(k), []byte(b+"/"+k)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	for _, b := range buckets {
		wantValue(t, e.ctx, e.s, b, "k", b+"/k")
		want := map[string]bool{"k": true, "b": true, "bk": true, b: true}
		got := scan(t, e.ctx, e.s, b, storage.Range{})
		if len(got) != len(want) {
			t.Errorf("Scan(%q) = %q, want the %d keys of that bucket only", b, keysOf(got), len(want))
		}
		for _, p := range got {
			if !want[p.key] || p.value != b+"/"+p.key {
				t.Errorf("Scan(%q) visited %q = %q, which belongs to another bucket", b, p.key, p.value)
			}
		}
	}

	// Deleting a key or bucket "a" leaves "ab" (and the others) alone.
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		return tx.Delete("a", []byte("k"))
	})
	wantMissing(t, e.ctx, e.s, "a", "k")
	wantValue(t, e.ctx, e.s, "ab", "k", "ab/k")
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		return tx.DeleteBucket("a")
	})
	for _, b := range buckets[1:] {
		wantValue(t, e.ctx, e.s, b, "k", b+"/k")
		want := map[string]bool{"k": true, "b": true, "bk": true, b: true}
		if got := scan(t, e.ctx, e.s, b, storage.Range{}); len(got) != len(want) {
			t.Errorf("after DeleteBucket(a): Scan(%q) = %q, want %d keys", b, keysOf(got), len(want))
		}
	}
	if got := scan(t, e.ctx, e.s, "a", storage.Range{}); len(got) != 0 {
		t.Errorf("after DeleteBucket(a): Scan(a) = %q, want nothing", keysOf(got))
	}
}

func testDeleteBucket(t *testing.T, e *env) {
	var pairs []kv
	for i := range 300 {
		k := fmt.Sprintf("key%04d", i)
		pairs = append(pairs, kv{k, valueFor(k)})
	}
	put(t, e.ctx, e.s, "doomed", pairs...)
	put(t, e.ctx, e.s, "kept", kv{"k", "v"})

	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		return tx.DeleteBucket("doomed")
	})
	wantMissing(t, e.ctx, e.s, "doomed", "key0000")
	wantMissing(t, e.ctx, e.s, "doomed", "key0299")
	if got := scan(t, e.ctx, e.s, "doomed", storage.Range{}); len(got) != 0 {
		t.Errorf("Scan of a deleted bucket visited %d keys, want 0", len(got))
	}
	wantValue(t, e.ctx, e.s, "kept", "k", "v")

	tests := []struct {
		name string
		fn   func(tx storage.Tx) error
	}{
		{"again", func(tx storage.Tx) error { return tx.DeleteBucket("doomed") }},
		{"missing", func(tx storage.Tx) error { return tx.DeleteBucket("never-existed") }},
		{"twiceInOneTx", func(tx storage.Tx) error {
			if err := tx.Put("twice", []byte("k"), []byte("v")); err != nil {
				return err
			}
			if err := tx.DeleteBucket("twice"); err != nil {
				return err
			}
			if err := tx.DeleteBucket("twice"); err != nil {
				return err
			}
			if _, err := tx.Get("twice", []byte("k")); !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("after DeleteBucket in the same tx, Get = %v, want ErrNotFound", err)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.s.Update(e.ctx, tt.fn); err != nil {
				t.Errorf("DeleteBucket: %v, want nil", err)
			}
		})
	}

	// The bucket can be used again, and starts empty.
	put(t, e.ctx, e.s, "doomed", kv{"fresh", "v"})
	wantKeys(t, "Scan of a recreated bucket", scan(t, e.ctx, e.s, "doomed", storage.Range{}), []string{"fresh"})
}
