package core

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/sdk/storage"
)

// TestAsOfWithoutTimeline: a resource written before timelines existed
// (here: its timeline removed) reads as_of from its meta since its last
// write, exactly, and from its revisions' times before that; its first
// write under timelines keeps the exact part exact. A clock stepping back
// never puts an entry before the newest.
func TestAsOfWithoutTimeline(t *testing.T) {
	ctx := AsSystem(t.Context())
	store, err := bolt.Open(ctx, filepath.Join(t.TempDir(), "strata.db"), storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := base
	m, err := Open(ctx, store, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if _, err := m.CreateType(ctx, Type{Name: "notes", Schema: []byte(`{"type":"object"}`)}); err != nil {
		t.Fatal(err)
	}
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	step := func(ms int, what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s at %d: %v", what, ms, err)
		}
	}
	write := func(ms int, what string, fn func() error) { now = at(ms); step(ms, what, fn()) }
	write(10, "create", func() error { _, err := m.Create(ctx, "notes", []byte(`{"id":"n","v":1}`), WriteOptions{}); return err })
	write(20, "update", func() error { _, err := m.Replace(ctx, "notes", "n", []byte(`{"v":2}`), WriteOptions{}); return err })
	write(30, "update", func() error { _, err := m.Replace(ctx, "notes", "n", []byte(`{"v":3}`), WriteOptions{}); return err })
	write(40, "switch", func() error { _, err := m.Switch(ctx, "notes", "n", 1, WriteOptions{}); return err })
	write(50, "delete", func() error { return m.Delete(ctx, "notes", "n", WriteOptions{}) })
	// As if written before timelines.
	if err := store.Update(ctx, func(tx storage.Tx) error { return deleteStates(tx, "notes", "n") }); err != nil {
		t.Fatal(err)
	}
	now = at(100)

	read := func(ms int) string {
		t.Helper()
		res, err := m.GetAsOf(ctx, "notes", "n", at(ms), GetOptions{IncludeDeleted: true})
		switch {
		case errors.Is(err, ErrNotFound):
			return "absent"
		case err != nil:
			t.Fatalf("as_of %d: %v", ms, err)
		}
		return fmt.Sprintf("rev %d deleted %t data %s", res.Meta.CurrentRevision, res.Meta.Deleted, res.Data)
	}
	check := func(stage string, want map[int]string) {
		t.Helper()
		for ms, w := range want {
			if got := read(ms); got != w {
				t.Errorf("%s: as_of %d: %s, want %s", stage, ms, got, w)
			}
		}
	}
	check("no timeline", map[int]string{
		9:  "absent",
		10: `rev 1 deleted false data {"v":1}`,
		25: `rev 2 deleted false data {"v":2}`,
		30: `rev 3 deleted false data {"v":3}`,
		45: `rev 3 deleted false data {"v":3}`, // derived: the switch to 1 is not known
		50: `rev 1 deleted true data {"v":1}`,  // the meta: exact since the last write
		99: `rev 1 deleted true data {"v":1}`,
	})
	write(60, "restore", func() error { _, err := m.Restore(ctx, "notes", "n", WriteOptions{}); return err })
	now = at(55) // the clock steps back
	write(55, "update", func() error { _, err := m.Replace(ctx, "notes", "n", []byte(`{"v":4}`), WriteOptions{}); return err })
	now = at(100)
	check("timeline since the restore", map[int]string{
		9:  "absent",
		25: `rev 2 deleted false data {"v":2}`,
		50: `rev 1 deleted true data {"v":1}`, // the baseline the restore recorded
		59: `rev 1 deleted true data {"v":1}`,
		60: `rev 4 deleted false data {"v":4}`, // the update went on the restore's millisecond, not before it
		99: `rev 4 deleted false data {"v":4}`,
	})
	write(70, "purge", func() error { return m.Purge(ctx, "notes", "n", WriteOptions{}) })
	now = at(100)
	check("purged", map[int]string{25: "absent", 60: "absent", 99: "absent"})
	err = store.View(ctx, func(tx storage.Tx) error {
		return tx.Scan(stateBucket("notes"), storage.Range{}, func(k, _ []byte) bool {
			t.Errorf("a purge left timeline entry %q", k)
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStateEntryRoundTrip: timeline entries decode to what was encoded,
// and corrupt ones are errors, not panics.
func TestStateEntryRoundTrip(t *testing.T) {
	for _, e := range []stateEntry{
		{ms: 1, rev: 1, count: 1, by: "admin"},
		{ms: 1 << 40, rev: 7, count: 9, deleted: true, baseline: true, by: "key:abc"},
		{ms: 0, rev: 0, count: 0},
	} {
		got, err := decodeState(stateKey("id", e.ms), encodeState(e))
		if err != nil || got != e {
			t.Errorf("round trip of %+v: %+v, %v", e, got, err)
		}
	}
	for _, v := range [][]byte{nil, {0}, {0, 0x80}, {0, 1, 0x80, 0x80}} {
		if _, err := decodeState(stateKey("id", 1), v); err == nil {
			t.Errorf("decodeState(%x) is not an error", v)
		}
	}
}

// FuzzDecodeState: any bytes under any key decode to an entry or an
// error, and an entry encodes back to the same value.
func FuzzDecodeState(f *testing.F) {
	f.Add([]byte("id"), int64(5), encodeState(stateEntry{rev: 3, count: 4, deleted: true, by: "admin"}))
	f.Add([]byte("x"), int64(0), []byte{0, 0x80})
	f.Fuzz(func(t *testing.T, id []byte, ms int64, v []byte) {
		key := stateKey(string(id), ms)
		e, err := decodeState(key, v)
		if err != nil {
			return
		}
		again, err := decodeState(key, encodeState(e))
		if err != nil || again != e {
			t.Fatalf("re-encoding %+v gave %+v, %v", e, again, err)
		}
	})
}

// FuzzDecodePastCursor: a client's cursor for a list as_of is an error or
// a position with as many sort values as the sort has keys, never a
// panic.
func FuzzDecodePastCursor(f *testing.F) {
	good, err := encodePastCursor(pastCursor{At: 7, Binding: "b", Keys: []any{"x", 1.5, true, nil}, ID: "id"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, int64(7), "b", 4)
	f.Add("h.e30", int64(0), "", 0)
	f.Add("o.AAAA", int64(0), "", 1)
	f.Fuzz(func(t *testing.T, s string, ms int64, binding string, n int) {
		n = n & 7
		it, err := decodePastCursor(s, ms, binding, n)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: %v is not ErrInvalid", s, err)
			}
			return
		}
		if len(it.keys) != n {
			t.Fatalf("%q: %d keys, want %d", s, len(it.keys), n)
		}
		for _, k := range it.keys {
			switch k.(type) {
			case nil, string, float64, bool:
			default:
				t.Fatalf("%q: sort value %T", s, k)
			}
		}
	})
}
