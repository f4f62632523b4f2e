package blobstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/plugins/memory"
	"github.com/strata-dev/strata/plugins/postgres"
	"github.com/strata-dev/strata/plugins/postgres/pgtest"
	"github.com/strata-dev/strata/sdk/storage"
)

// chunk is the chunk size of the tests: small, so a few KiB make several
// chunks and a test stays cheap on every backend.
const chunk = 1 << 10

// backends are the stores the tests run over: each opens one store, and
// a second one over the same data when the backend is shared (PostgreSQL),
// as two nodes would.
var backends = []struct {
	name string
	open func(t *testing.T) (storage.Store, storage.Store)
}{
	{"memory", func(t *testing.T) (storage.Store, storage.Store) {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() })
		return s, s
	}},
	{"bolt", func(t *testing.T) (storage.Store, storage.Store) {
		s, err := bolt.OpenWithOptions(t.Context(), filepath.Join(t.TempDir(), "strata.db"), bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s, s
	}},
	{"postgres", func(t *testing.T) (storage.Store, storage.Store) {
		url := pgtest.NewDatabase(t)
		open := func() storage.Store {
			s, err := postgres.OpenURL(t.Context(), url, postgres.Options{})
			if err != nil {
				t.Fatalf("open %s: %v", url, err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
		return open(), open()
	}},
}

// clock is a settable test clock.
type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

func newStore(t *testing.T, st storage.Store, c *clock, guard time.Duration) *Store {
	t.Helper()
	s, err := New(core.BlobBytesKeyspace(st), Options{TempDir: t.TempDir(), ChunkSize: chunk, InFlight: 3,
		RemoveGuard: guard, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

func put(t *testing.T, s *Store, data []byte) string {
	t.Helper()
	st, err := s.Stage(t.Context(), bytes.NewReader(data), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if st.Hash() != hashOf(data) || st.Size() != int64(len(data)) {
		t.Fatalf("staged %s %d, want %s %d", st.Hash(), st.Size(), hashOf(data), len(data))
	}
	if err := st.Commit(); err != nil {
		t.Fatal(err)
	}
	return st.Hash()
}

// keys counts the keys of the blob keyspace.
func keys(t *testing.T, st storage.Store) int {
	t.Helper()
	n := 0
	err := core.BlobBytesKeyspace(st).View(t.Context(), func(tx core.KeyspaceTx) error {
		return tx.Scan(storage.Range{}, func(_, _ []byte) bool { n++; return true })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readAll(t *testing.T, s *Store, hash string) []byte {
	t.Helper()
	rd, err := s.Open(hash)
	if err != nil {
		t.Fatalf("open %s: %v", hash, err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("read %s: %v", hash, err)
	}
	return b
}

// TestRoundTrip commits blobs of sizes around the chunk size, reads them
// back whole, by Seek and by ReadAt on another node, and removes them.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			a, b := be.open(t)
			var c clock
			na, nb := newStore(t, a, &c, -1), newStore(t, b, &c, -1)
			for _, size := range []int{0, 1, chunk - 1, chunk, chunk + 1, 3*chunk + chunk/2} {
				data := payload(size, byte(size))
				hash := put(t, na, data)
				if got := readAll(t, nb, hash); !bytes.Equal(got, data) {
					t.Fatalf("size %d: read %d bytes, not the %d written", size, len(got), size)
				}
				rd, err := nb.Open(hash)
				if err != nil {
					t.Fatal(err)
				}
				for _, off := range []int{0, 1, chunk - 1, chunk, size / 2, size - 1, size} {
					if off < 0 || off > size {
						continue
					}
					for _, n := range []int{1, chunk + 3, size} {
						want := data[off:min(off+n, size)]
						got := make([]byte, n)
						m, err := rd.ReadAt(got, int64(off))
						if m != len(want) || !bytes.Equal(got[:m], want) || (m < n) != errors.Is(err, io.EOF) {
							t.Fatalf("size %d: ReadAt(%d bytes, %d) = %d, %v; want %d bytes", size, n, off, m, err, len(want))
						}
					}
					if _, err := rd.Seek(int64(off), io.SeekStart); err != nil {
						t.Fatal(err)
					}
					rest, err := io.ReadAll(rd)
					if err != nil || !bytes.Equal(rest, data[off:]) {
						t.Fatalf("size %d: after Seek(%d) read %d bytes, %v; want %d", size, off, len(rest), err, size-off)
					}
				}
				_ = rd.Close()
				if err := nb.Remove(hash); err != nil {
					t.Fatal(err)
				}
				if _, err := na.Open(hash); !errors.Is(err, core.ErrNotFound) {
					t.Fatalf("size %d: open after remove: %v, want not found", size, err)
				}
				if n := keys(t, a); n != 0 {
					t.Fatalf("size %d: %d keys left after remove", size, n)
				}
			}
			if _, err := na.Open("sha256:" + hex.EncodeToString(make([]byte, 32))); !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("open of bytes never stored: %v, want not found", err)
			}
		})
	}
}

// TestCommitCutShort stops commits at each step before the record, as a
// node killed mid-commit would: the blob is never readable, a sweep
// before StaleAfter keeps the marker of what may be a live commit, a
// sweep after removes every chunk, and the bytes commit again afterwards.
// A commit whose marker the sweep took fails rather than complete over
// missing chunks.
func TestCommitCutShort(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			a, b := be.open(t)
			var c clock
			c.advance(time.Hour)
			na, nb := newStore(t, a, &c, -1), newStore(t, b, &c, -1)
			data := payload(5*chunk+17, 3)
			for _, cut := range []string{"after the marker", "after the chunks"} {
				st, err := na.Stage(t.Context(), bytes.NewReader(data), 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				tmp := st.(*staged).t
				ctx := t.Context()
				token, size, stored, err := na.begin(ctx, tmp.Hash, tmp.Size)
				if err != nil || stored {
					t.Fatalf("begin: %v, stored %v", err, stored)
				}
				if cut == "after the chunks" {
					if err := na.writeChunks(ctx, tmp.File, tmp.Hash, token, tmp.Size, size); err != nil {
						t.Fatal(err)
					}
				}
				st.Discard()
				if _, err := nb.Open(tmp.Hash); !errors.Is(err, core.ErrNotFound) {
					t.Fatalf("%s: a commit cut short is readable: %v", cut, err)
				}
				if n, err := nb.Sweep(ctx); err != nil || n != 0 {
					t.Fatalf("%s: early sweep removed %d, %v; want 0 (the commit may be alive)", cut, n, err)
				}
				c.advance(DefaultStaleAfter + time.Second)
				if n, err := nb.Sweep(ctx); err != nil || n != 1 {
					t.Fatalf("%s: sweep removed %d, %v; want 1", cut, n, err)
				}
				if n := keys(t, a); n != 0 {
					t.Fatalf("%s: %d keys left after the sweep", cut, n)
				}
			}

			// A commit slower than StaleAfter loses its marker: it fails.
			st, err := na.Stage(t.Context(), bytes.NewReader(data), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			tmp := st.(*staged).t
			token, size, _, err := na.begin(t.Context(), tmp.Hash, tmp.Size)
			if err != nil {
				t.Fatal(err)
			}
			c.advance(DefaultStaleAfter + time.Second)
			if n, err := nb.Sweep(t.Context()); err != nil || n != 1 {
				t.Fatalf("sweep removed %d, %v; want 1", n, err)
			}
			err = na.writeChunks(t.Context(), tmp.File, tmp.Hash, token, tmp.Size, size)
			if err == nil {
				err = na.complete(t.Context(), tmp.Hash, token, tmp.Size, size)
			}
			if !errors.Is(err, errInterrupted) {
				t.Fatalf("a commit whose marker was swept: %v, want errInterrupted", err)
			}
			st.Discard()
			if _, err := nb.Open(tmp.Hash); !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("an interrupted commit is readable: %v", err)
			}

			hash := put(t, na, data)
			if got := readAll(t, nb, hash); !bytes.Equal(got, data) {
				t.Fatal("the bytes read after a clean commit differ")
			}
		})
	}
}

// TestConcurrentCommits commits the same bytes from two nodes at once,
// several times over: every commit succeeds and the blob reads whole.
func TestConcurrentCommits(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			a, b := be.open(t)
			var c clock
			nodes := []*Store{newStore(t, a, &c, -1), newStore(t, b, &c, -1)}
			data := payload(7*chunk+5, 9)
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for i := range 8 {
				wg.Go(func() {
					st, err := nodes[i%2].Stage(context.Background(), bytes.NewReader(data), 1<<20)
					if err == nil {
						err = st.Commit()
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range nodes {
				if got := readAll(t, n, hashOf(data)); !bytes.Equal(got, data) {
					t.Fatal("the bytes read differ")
				}
			}
			if n := keys(t, a); n != 8+1 {
				t.Fatalf("%d keys, want 8 chunks and a record", n)
			}
		})
	}
}

// TestRemoveGuard: bytes an upload just committed, or found stored, are
// kept by a Remove within the guard, and removed after it.
func TestRemoveGuard(t *testing.T) {
	t.Parallel()
	st := memory.New()
	defer st.Close()
	var c clock
	s := newStore(t, st, &c, time.Minute)
	data := payload(2*chunk, 1)
	hash := put(t, s, data)
	c.advance(2 * time.Minute)
	put(t, s, data) // another upload finds the bytes stored
	if err := s.Remove(hash); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, hash); !bytes.Equal(got, data) {
		t.Fatal("bytes found stored a moment ago were removed")
	}
	c.advance(2 * time.Minute)
	if err := s.Remove(hash); err != nil {
		t.Fatal(err)
	}
	if n := keys(t, st); n != 0 {
		t.Fatalf("%d keys left after the guard", n)
	}
}

// TestStageLimit: an upload over the limit is refused and keeps nothing.
func TestStageLimit(t *testing.T) {
	t.Parallel()
	st := memory.New()
	defer st.Close()
	var c clock
	s := newStore(t, st, &c, -1)
	if _, err := s.Stage(t.Context(), bytes.NewReader(payload(2*chunk+1, 0)), 2*chunk); !errors.Is(err, core.ErrTooLarge) {
		t.Fatalf("stage over the limit: %v, want ErrTooLarge", err)
	}
	if n := keys(t, st); n != 0 {
		t.Fatalf("%d keys after a refused upload", n)
	}
}

// TestCollectorSweeps: core's collector sweeps the leftovers of a commit
// cut short, so they do not outlive their node.
func TestCollectorSweeps(t *testing.T) {
	t.Parallel()
	st := memory.New()
	defer st.Close()
	var c clock
	s := newStore(t, st, &c, -1)
	ctx := core.AsSystem(t.Context())
	m, err := core.Open(ctx, st, core.Options{Blobs: s, NoBlobCollector: true, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	up, err := s.Stage(ctx, bytes.NewReader(payload(3*chunk, 5)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	tmp := up.(*staged).t
	token, size, _, err := s.begin(ctx, tmp.Hash, tmp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.writeChunks(ctx, tmp.File, tmp.Hash, token, tmp.Size, size); err != nil {
		t.Fatal(err)
	}
	up.Discard()
	c.advance(DefaultStaleAfter + time.Second)
	if _, err := m.CollectBlobs(ctx); err != nil {
		t.Fatal(err)
	}
	if n := keys(t, st); n != 0 {
		t.Fatalf("%d keys left after the collector ran", n)
	}
}
