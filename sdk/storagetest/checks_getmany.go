package storagetest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/strata-dev/strata/sdk/storage"
)

// hit is one call of a GetMany's fn, copied out of the transaction.
type hit struct {
	i     int
	value string
}

// txGetMany calls tx.GetMany and returns its calls in order.
func txGetMany(tx storage.Tx, bucket string, keys ...string) ([]hit, error) {
	bk := make([][]byte, len(keys))
	for i, k := range keys {
		bk[i] = []byte(k)
	}
	var hits []hit
	err := tx.GetMany(bucket, bk, func(i int, v []byte) {
		hits = append(hits, hit{i, string(v)})
	})
	return hits, err
}

// wantHits fails t unless got is want.
func wantHits(t testing.TB, what string, got []hit, want ...hit) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: GetMany called fn with %v, want %v", what, got, want)
	}
}

func testGetMany(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", kv{"a", "va"}, kv{"b", "vb"}, kv{"c", "vc"}, kv{"empty", ""}, kv{"\x00\xff", "bin"})
	put(t, e.ctx, e.s, "other", kv{"x", "vx"})
	tests := []struct {
		name   string
		bucket string
		keys   []string
		want   []hit
	}{
		{"inOrderOfKeys", "b", []string{"c", "a", "b"}, []hit{{0, "vc"}, {1, "va"}, {2, "vb"}}},
		{"missingSkipped", "b", []string{"zz", "a", "a\x00", "c"}, []hit{{1, "va"}, {3, "vc"}}},
		{"twice", "b", []string{"a", "b", "a"}, []hit{{0, "va"}, {1, "vb"}, {2, "va"}}},
		{"emptyValue", "b", []string{"empty"}, []hit{{0, ""}}},
		{"binary", "b", []string{"\x00\xff", "\x00"}, []hit{{0, "bin"}}},
		{"otherBucketsKey", "b", []string{"x"}, nil},
		{"missingBucket", "missing", []string{"a", "x"}, nil},
		{"noKeys", "b", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := func(tx storage.Tx) error {
				got, err := txGetMany(tx, tt.bucket, tt.keys...)
				if err != nil {
					return err
				}
				wantHits(t, fmt.Sprintf("GetMany(%q, %q)", tt.bucket, tt.keys), got, tt.want...)
				return nil
			}
			view(t, e.ctx, e.s, read)
			update(t, e.ctx, e.s, read)
		})
	}
	// Many keys, most of them missing, read in one call.
	var keys []string
	for i := range 600 {
		keys = append(keys, fmt.Sprintf("k%04d", i))
	}
	var pairs []kv
	var want []hit
	for i := 0; i < len(keys); i += 3 {
		pairs = append(pairs, kv{keys[i], valueFor(keys[i])})
		want = append(want, hit{i, valueFor(keys[i])})
	}
	put(t, e.ctx, e.s, "many", pairs...)
	view(t, e.ctx, e.s, func(tx storage.Tx) error {
		got, err := txGetMany(tx, "many", keys...)
		if err != nil {
			return err
		}
		wantHits(t, "GetMany of 600 keys", got, want...)
		return nil
	})
}

func testGetManyOwnWrites(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", kv{"a", "va"}, kv{"b", "vb"}, kv{"c", "vc"})
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		// What the database holds is read first, so a backend caching
		// its reads must still see the writes that follow.
		got, err := txGetMany(tx, "b", "a", "b", "c", "d")
		if err != nil {
			return err
		}
		wantHits(t, "before writes", got, hit{0, "va"}, hit{1, "vb"}, hit{2, "vc"})
		if err := tx.Put("b", []byte("a"), []byte("new")); err != nil {
			return err
		}
		if err := tx.Delete("b", []byte("b")); err != nil {
			return err
		}
		if err := tx.Put("b", []byte("d"), []byte("vd")); err != nil {
			return err
		}
		got, err = txGetMany(tx, "b", "a", "b", "c", "d")
		if err != nil {
			return err
		}
		wantHits(t, "after writes", got, hit{0, "new"}, hit{2, "vc"}, hit{3, "vd"})
		if err := tx.DeleteBucket("b"); err != nil {
			return err
		}
		if err := tx.Put("b", []byte("c"), []byte("again")); err != nil {
			return err
		}
		got, err = txGetMany(tx, "b", "a", "b", "c", "d")
		if err != nil {
			return err
		}
		wantHits(t, "after DeleteBucket and a Put", got, hit{2, "again"})
		return nil
	})
	// The writes committed; an Update that fails leaves them.
	errRollback := errors.New("roll back")
	err := e.s.Update(e.ctx, func(tx storage.Tx) error {
		if err := tx.Put("b", []byte("a"), []byte("rolled back")); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Update = %v, want %v", err, errRollback)
	}
	view(t, e.ctx, e.s, func(tx storage.Tx) error {
		got, err := txGetMany(tx, "b", "a", "b", "c", "d")
		if err != nil {
			return err
		}
		wantHits(t, "after the commit", got, hit{2, "again"})
		return nil
	})
}

func testGetManyInvalidArguments(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", kv{"k", "v"})
	long := strings.Repeat("k", storage.MaxKeySize+1)
	tests := []struct {
		name   string
		bucket string
		keys   [][]byte
		nilFn  bool
	}{
		{"emptyBucket", "", [][]byte{[]byte("k")}, false},
		{"nilKey", "b", [][]byte{[]byte("k"), nil}, false},
		{"emptyKey", "b", [][]byte{{}, []byte("k")}, false},
		{"longKey", "b", [][]byte{[]byte("k"), []byte(long)}, false},
		{"nilFunction", "b", [][]byte{[]byte("k")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := func(tx storage.Tx) error {
				calls := 0
				fn := func(int, []byte) { calls++ }
				if tt.nilFn {
					fn = nil
				}
				err := tx.GetMany(tt.bucket, tt.keys, fn)
				if !errors.Is(err, storage.ErrInvalid) {
					t.Errorf("GetMany(%q, %d keys) = %v, want errors.Is(err, ErrInvalid)", tt.bucket, len(tt.keys), err)
				}
				if calls != 0 {
					t.Errorf("GetMany(%q, %d keys) called fn %d times before failing", tt.bucket, len(tt.keys), calls)
				}
				return nil
			}
			view(t, e.ctx, e.s, read)
			update(t, e.ctx, e.s, read)
		})
	}
	// A Tx kept past its fn.
	var kept storage.Tx
	view(t, e.ctx, e.s, func(tx storage.Tx) error { kept = tx; return nil })
	if err := kept.GetMany("b", [][]byte{[]byte("k")}, func(int, []byte) {}); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("GetMany on a Tx used after its fn returned = %v, want errors.Is(err, ErrInvalid)", err)
	}
}

// testGetManyConcurrentUpdates runs read-modify-write Updates that read
// the counter they share, and a key of their own, with GetMany, as a
// backend grouping Updates into one commit would see them.
func testGetManyConcurrentUpdates(t *testing.T, e *env) {
	const workers, perWorker = 16, 25
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		own := fmt.Sprintf("worker%02d", w)
		wg.Go(func() {
			<-start
			for range perWorker {
				err := e.s.Update(e.ctx, func(tx storage.Tx) error {
					var n, mine uint64
					err := tx.GetMany(counterBucket, [][]byte{[]byte(counterKey), []byte(own)}, func(i int, v []byte) {
						if len(v) != 8 {
							return
						}
						if i == 0 {
							n = binary.BigEndian.Uint64(v)
						} else {
							mine = binary.BigEndian.Uint64(v)
						}
					})
					if err != nil {
						return err
					}
					if err := tx.Put(counterBucket, []byte(own), binary.BigEndian.AppendUint64(nil, mine+1)); err != nil {
						return err
					}
					return tx.Put(counterBucket, []byte(counterKey), binary.BigEndian.AppendUint64(nil, n+1))
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if got, want := counter(t, e.ctx, e.s), uint64(workers*perWorker); got != want {
		t.Errorf("after %d concurrent increments read with GetMany the counter is %d, want %d", want, got, want)
	}
	view(t, e.ctx, e.s, func(tx storage.Tx) error {
		for w := range workers {
			own := fmt.Sprintf("worker%02d", w)
			v, err := tx.Get(counterBucket, []byte(own))
			if err != nil {
				return err
			}
			if got := binary.BigEndian.Uint64(v); got != perWorker {
				t.Errorf("%s counted %d of its own increments, want %d", own, got, perWorker)
			}
		}
		return nil
	})
}

func testGetKeys(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b1", kv{"k", "b1k"}, kv{"j", "b1j"})
	put(t, e.ctx, e.s, "b2", kv{"k", "b2k"})
	keys := []storage.Key{
		{Bucket: "b2", Key: []byte("k")},
		{Bucket: "b1", Key: []byte("k")},
		{Bucket: "b2", Key: []byte("j")}, // only in b1
		{Bucket: "missing", Key: []byte("k")},
		{Bucket: "b1", Key: []byte("j")},
		{Bucket: "b2", Key: []byte("k")},
	}
	want := []hit{{0, "b2k"}, {1, "b1k"}, {4, "b1j"}, {5, "b2k"}}
	read := func(what string) func(tx storage.Tx) error {
		return func(tx storage.Tx) error {
			var got []hit
			if err := tx.GetKeys(keys, func(i int, v []byte) { got = append(got, hit{i, string(v)}) }); err != nil {
				return err
			}
			wantHits(t, what, got, want...)
			return nil
		}
	}
	view(t, e.ctx, e.s, read("GetKeys in a View"))
	update(t, e.ctx, e.s, read("GetKeys in an Update"))
	// An Update sees its own writes in each bucket.
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		if err := tx.Put("b2", []byte("j"), []byte("b2j")); err != nil {
			return err
		}
		if err := tx.DeleteBucket("b1"); err != nil {
			return err
		}
		var got []hit
		if err := tx.GetKeys(keys, func(i int, v []byte) { got = append(got, hit{i, string(v)}) }); err != nil {
			return err
		}
		wantHits(t, "GetKeys after writes", got, hit{0, "b2k"}, hit{2, "b2j"}, hit{5, "b2k"})
		return nil
	})
	// Every key is checked, whatever its bucket.
	view(t, e.ctx, e.s, func(tx storage.Tx) error {
		calls := 0
		err := tx.GetKeys([]storage.Key{{Bucket: "b1", Key: []byte("k")}, {Bucket: "", Key: []byte("k")}}, func(int, []byte) { calls++ })
		if !errors.Is(err, storage.ErrInvalid) || calls != 0 {
			t.Errorf("GetKeys with an empty bucket name = %v after %d calls of fn, want errors.Is(err, ErrInvalid) and none", err, calls)
		}
		return nil
	})
}
