package blobstore

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-dev/strata/blobfs"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/plugins/postgres"
	"github.com/strata-dev/strata/plugins/postgres/pgtest"
	"github.com/strata-dev/strata/sdk/storage"
)

// BenchmarkBlobs uploads (stage and commit) and downloads blobs of 100 MiB
// through blobfs and through this package over bolt and PostgreSQL (the
// default chunk size), reporting the peak of the heap in use while it
// runs. Compare the rows as ratios, run side by side.
func BenchmarkBlobs(b *testing.B) {
	const size = 100 << 20
	stores := []struct {
		name string
		open func(b *testing.B) core.BlobFiles
	}{
		{"blobfs", func(b *testing.B) core.BlobFiles {
			d, err := blobfs.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return d
		}},
		{"store-bolt", func(b *testing.B) core.BlobFiles {
			return benchStore(b)(bolt.OpenWithOptions(b.Context(), filepath.Join(b.TempDir(), "strata.db"), bolt.Options{}))
		}},
		{"store-postgres", func(b *testing.B) core.BlobFiles {
			return benchStore(b)(postgres.OpenURL(b.Context(), pgtest.NewDatabase(b), postgres.Options{}))
		}},
	}
	for _, bs := range stores {
		b.Run(bs.name, func(b *testing.B) {
			files := bs.open(b)
			var seq uint64
			var hashes []string
			peak := watchHeap(b)
			b.Run("upload", func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					seq++ // new bytes each time
					st, err := files.Stage(b.Context(), io.LimitReader(newNoise(seq), size), size)
					if err != nil {
						b.Fatal(err)
					}
					if err := st.Commit(); err != nil {
						b.Fatal(err)
					}
					hashes = append(hashes, st.Hash())
				}
				b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
			})
			b.Run("download", func(b *testing.B) {
				b.SetBytes(size)
				i := 0
				for b.Loop() {
					rd, err := files.Open(hashes[i%len(hashes)])
					if err != nil {
						b.Fatal(err)
					}
					if n, err := io.Copy(io.Discard, struct{ io.Reader }{rd}); err != nil || n != size {
						b.Fatalf("read %d, %v", n, err)
					}
					_ = rd.Close()
					i++
				}
				b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
			})
		})
	}
}

// benchStore returns a function that makes a Store of blobs over the
// storage store it is handed as an opener returns it, closed when b ends.
func benchStore(b *testing.B) func(storage.Store, error) core.BlobFiles {
	return func(st storage.Store, err error) core.BlobFiles {
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		s, err := New(core.BlobBytesKeyspace(st), Options{TempDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
}

// noise is an endless reader of pseudo-random bytes from a seed: a blob
// of any size, incompressible as most uploads (images, archives) are,
// without holding it in memory.
type noise struct{ r *rand.ChaCha8 }

func newNoise(seed uint64) *noise {
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], seed)
	return &noise{rand.NewChaCha8(s)}
}

func (n *noise) Read(p []byte) (int, error) { return n.r.Read(p) }

// watchHeap samples the heap in use until b ends and returns a function
// reporting the highest sample since the last call.
func watchHeap(b *testing.B) func() uint64 {
	var high atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&ms)
			for {
				h := high.Load()
				if ms.HeapInuse <= h || high.CompareAndSwap(h, ms.HeapInuse) {
					break
				}
			}
		}
	}()
	b.Cleanup(func() { close(done); <-stopped })
	return func() uint64 { return high.Swap(0) }
}
