package storagetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/strata-dev/strata/sdk/storage"
)

// benchValueSize is the size of the values the benchmarks write: about the
// size of a small JSON resource.
const benchValueSize = 256

// benchParallelism multiplies GOMAXPROCS to give the number of goroutines of
// the parallel write benchmark. Writers mostly wait for commits, so there are
// many more of them than CPUs, as there are HTTP handlers in a server.
const benchParallelism = 16

// RunBenchmarks measures a backend with stores from newHarness, one
// sub-benchmark per operation. Besides ns/op each reports its throughput
// (puts/s, gets/s, keys/s). Call it from a benchmark of the backend's
// package:
//
//	func BenchmarkStore(b *testing.B) {
//		storagetest.RunBenchmarks(b, newHarness)
//	}
//
// Every put is its own Update, so for a durable backend PutSerial measures
// commit latency and PutParallel how well concurrent commits are grouped.
func RunBenchmarks(b *testing.B, newHarness BenchHarnessMaker) {
	b.Run("PutSerial", func(b *testing.B) { benchPutSerial(b, benchStore(b, newHarness)) })
	b.Run("PutParallel", func(b *testing.B) { benchPutParallel(b, benchStore(b, newHarness)) })
	b.Run("Get", func(b *testing.B) { benchGet(b, benchStore(b, newHarness)) })
	b.Run("GetParallel", func(b *testing.B) { benchGetParallel(b, benchStore(b, newHarness)) })
	b.Run("Scan1000", func(b *testing.B) { benchScan(b, benchStore(b, newHarness)) })
}

// benchStore makes a harness and a store for one benchmark and registers
// their cleanup.
func benchStore(b *testing.B, newHarness BenchHarnessMaker) storage.Store {
	b.Helper()
	h, err := newHarness(b.Context(), b)
	if err != nil {
		b.Fatalf("make harness: %v", err)
	}
	b.Cleanup(h.Close)
	s, err := h.MakeStore(b.Context())
	if err != nil {
		b.Fatalf("MakeStore: %v", err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return s
}

// benchKey returns the key of the i-th benchmark record.
func benchKey(i uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("key-"), i)
}

// reportRate reports n operations over the benchmark's elapsed time as unit.
func reportRate(b *testing.B, n int, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, unit)
	}
}

// preload writes n records into bucket "bench" in one Update.
func preload(b *testing.B, ctx context.Context, s storage.Store, n int) {
	b.Helper()
	val := bytes.Repeat([]byte{'v'}, benchValueSize)
	err := s.Update(ctx, func(tx storage.Tx) error {
		for i := range uint64(n) {
			if err := tx.Put("bench", benchKey(i), val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("preload: %v", err)
	}
}

func benchPutSerial(b *testing.B, s storage.Store) {
	ctx := b.Context()
	val := bytes.Repeat([]byte{'v'}, benchValueSize)
	var i uint64
	b.ReportAllocs()
	for b.Loop() {
		key := benchKey(i)
		i++
		if err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put("bench", key, val) }); err != nil {
			b.Fatalf("Update: %v", err)
		}
	}
	reportRate(b, b.N, "puts/s")
}

func benchPutParallel(b *testing.B, s storage.Store) {
	ctx := b.Context()
	val := bytes.Repeat([]byte{'v'}, benchValueSize)
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := benchKey(next.Add(1))
			if err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put("bench", key, val) }); err != nil {
				b.Errorf("Update: %v", err)
				return
			}
		}
	})
	reportRate(b, b.N, "puts/s")
}

func benchGet(b *testing.B, s storage.Store) {
	const n = 1000
	ctx := b.Context()
	preload(b, ctx, s, n)
	var i uint64
	b.ReportAllocs()
	for b.Loop() {
		key := benchKey(i % n)
		i++
		err := s.View(ctx, func(tx storage.Tx) error {
			_, err := tx.Get("bench", key)
			return err
		})
		if err != nil {
			b.Fatalf("View: %v", err)
		}
	}
	reportRate(b, b.N, "gets/s")
}

func benchGetParallel(b *testing.B, s storage.Store) {
	const n = 1000
	ctx := b.Context()
	preload(b, ctx, s, n)
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := benchKey(next.Add(1) % n)
			err := s.View(ctx, func(tx storage.Tx) error {
				_, err := tx.Get("bench", key)
				return err
			})
			if err != nil {
				b.Errorf("View: %v", err)
				return
			}
		}
	})
	reportRate(b, b.N, "gets/s")
}

func benchScan(b *testing.B, s storage.Store) {
	const n = 1000
	ctx := b.Context()
	preload(b, ctx, s, n)
	b.ReportAllocs()
	for b.Loop() {
		count := 0
		err := s.View(ctx, func(tx storage.Tx) error {
			return tx.Scan("bench", storage.Range{}, func(_, _ []byte) bool {
				count++
				return true
			})
		})
		if err != nil {
			b.Fatalf("View: %v", err)
		}
		if count != n {
			b.Fatalf("Scan visited %d keys, want %d", count, n)
		}
	}
	reportRate(b, b.N*n, "keys/s")
}
