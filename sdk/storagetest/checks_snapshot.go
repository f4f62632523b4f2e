package storagetest

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/strata-dev/strata/sdk/storage"
)

// testSnapshot checks the optional online copy (storage.Snapshot): a
// backend without it reports ErrUnsupported, and one with it writes
// exactly the size it announced, once, and ends its transaction after fn.
func testSnapshot(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", kv{"k", "v"})
	var buf bytes.Buffer
	var size int64
	err := storage.Snapshot(e.ctx, e.s, func(n int64, writeTo func(io.Writer) (int64, error)) error {
		size = n
		wrote, err := writeTo(&buf)
		if err != nil {
			return err
		}
		if wrote != n {
			t.Errorf("writeTo wrote %d bytes, announced %d", wrote, n)
		}
		if _, err := writeTo(io.Discard); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("a second writeTo = %v, want ErrInvalid", err)
		}
		return nil
	})
	if errors.Is(err, storage.ErrUnsupported) {
		t.Skip("the backend has no online copy (optional)")
	}
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if size <= 0 || int64(buf.Len()) != size {
		t.Fatalf("Snapshot announced %d bytes and wrote %d", size, buf.Len())
	}
	want := errors.New("fn failed")
	if err := storage.Snapshot(e.ctx, e.s, func(int64, func(io.Writer) (int64, error)) error { return want }); err != want {
		t.Fatalf("Snapshot returned %v, want fn's error unchanged", err)
	}
	// The store goes on after a snapshot.
	put(t, e.ctx, e.s, "b", kv{"k2", "v2"})
	wantValue(t, e.ctx, e.s, "b", "k2", "v2")
}
