package app_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/plugins/postgres"
	"github.com/strata-dev/strata/plugins/postgres/pgtest"
	"github.com/strata-dev/strata/sdk/storage"
)

// TestBlobsWhereNodesReadThem: over bolt a node keeps blob bytes as files
// in its data directory; over PostgreSQL they go in the database, so a
// blob uploaded on one node is read on another (one without a data
// directory at all), by Seek and ReadAt as Range requests do, and the
// collector on a third node makes it unreadable everywhere.
func TestBlobsWhereNodesReadThem(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("strata blobs on every node\n"), 100_000) // 2.7 MB: three chunks
	ctx := core.AsSystem(t.Context())
	newApp := func(t *testing.T, cfg app.Config) *app.App {
		t.Helper()
		reg := &storage.Registry{}
		reg.Register("bolt", bolt.Open)
		reg.Register("postgres", postgres.Open)
		cfg.Drivers = reg
		a, err := app.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close(ctx) })
		return a
	}
	read := func(t *testing.T, a *app.App, hash string) ([]byte, error) {
		t.Helper()
		_, rd, err := a.Manager().OpenBlob(ctx, hash)
		if err != nil {
			return nil, err
		}
		defer rd.Close()
		return io.ReadAll(rd)
	}
	inStore := func(t *testing.T, a *app.App) int {
		t.Helper()
		n := 0
		err := core.BlobBytesKeyspace(a.Store()).View(ctx, func(tx core.KeyspaceTx) error {
			return tx.Scan(storage.Range{}, func(_, _ []byte) bool { n++; return true })
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("bolt", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		a := newApp(t, app.Config{StorageURL: "bolt:" + filepath.Join(dir, "strata.db"), Data: dir})
		b, err := a.Manager().PutBlob(ctx, bytes.NewReader(data), "")
		if err != nil {
			t.Fatal(err)
		}
		hexa := strings.TrimPrefix(b.Hash, "sha256:")
		if _, err := os.Stat(filepath.Join(dir, "blobs", hexa[:2], hexa)); err != nil {
			t.Fatalf("the bytes are not a file of the data directory: %v", err)
		}
		if n := inStore(t, a); n != 0 {
			t.Fatalf("%d keys of blob bytes in the store of a single node", n)
		}
	})

	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewDatabase(t)
		dataA := t.TempDir()
		a := newApp(t, app.Config{StorageURL: url, Data: dataA})
		b := newApp(t, app.Config{StorageURL: url}) // no data directory: nothing of its own
		blob, err := a.Manager().PutBlob(ctx, bytes.NewReader(data), "")
		if err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(filepath.Join(dataA, "blobs")); len(entries) != 0 {
			t.Fatal("blob files in a data directory of a node sharing its store")
		}
		got, err := read(t, b, blob.Hash)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("the blob uploaded on node A, read on node B: %d bytes, %v; want %d", len(got), err, len(data))
		}
		_, rd, err := b.Manager().OpenBlob(ctx, blob.Hash)
		if err != nil {
			t.Fatal(err)
		}
		off := int64(len(data)) - 1_500_000 // across a chunk boundary
		part := make([]byte, 1_200_000)
		if n, err := rd.ReadAt(part, off); n != len(part) || err != nil || !bytes.Equal(part, data[off:off+int64(n)]) {
			t.Fatalf("ReadAt on node B: %d, %v", n, err)
		}
		if _, err := rd.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if rest, err := io.ReadAll(rd); err != nil || !bytes.Equal(rest, data[off:]) {
			t.Fatalf("Seek and read on node B: %d bytes, %v", len(rest), err)
		}
		_ = rd.Close()

		// A node whose grace has passed collects the unreferenced blob:
		// no node serves it any more. The same bytes uploaded again, on
		// another node, are whole.
		c := newApp(t, app.Config{StorageURL: url, BlobGrace: time.Millisecond})
		eventuallyCollected := func() bool {
			if _, err := c.Manager().CollectBlobs(ctx); err != nil {
				t.Fatal(err)
			}
			_, errA := read(t, a, blob.Hash)
			_, errB := read(t, b, blob.Hash)
			return errors.Is(errA, core.ErrNotFound) && errors.Is(errB, core.ErrNotFound)
		}
		deadline := time.Now().Add(time.Minute)
		for !eventuallyCollected() {
			if time.Now().After(deadline) {
				t.Fatal("the blob was not collected within a minute")
			}
			time.Sleep(10 * time.Millisecond) // the grace of 1 ms runs from the upload
		}
		if err := c.Close(ctx); err != nil { // its collector would take the new upload too
			t.Fatal(err)
		}
		if _, err := b.Manager().PutBlob(ctx, bytes.NewReader(data), ""); err != nil {
			t.Fatal(err)
		}
		if got, err := read(t, a, blob.Hash); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("uploaded again on node B, read on node A: %d bytes, %v", len(got), err)
		}
		if n := inStore(t, a); n != 3+1 {
			t.Fatalf("%d keys of blob bytes, want 3 chunks and a record", n)
		}
	})
}
