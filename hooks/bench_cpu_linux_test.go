package hooks_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/strata-dev/strata/hooks"
)

// threadCPU is the CPU time the calling OS thread has used.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExampleCallCPU is BenchmarkExampleCall measured in CPU time of
// the calling thread (cpu-ns/call) as well as wall time: on a shared
// machine the wall time of a call mostly measures the other processes.
// It uses only the package's exported API, so that the same file measures
// earlier versions.
func BenchmarkExampleCallCPU(b *testing.B) {
	doc, err := os.ReadFile(filepath.Join("testdata", "bench_doc.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, lang := range []string{"go", "c", "rust", "assemblyscript", "wat"} {
		b.Run(lang, func(b *testing.B) {
			wasm, err := os.ReadFile(filepath.Join("..", "examples", "wasm-hooks", "build", lang+".wasm"))
			if err != nil {
				b.Fatalf("module: %v (make -C examples/wasm-hooks builds it)", err)
			}
			r, err := hooks.New(b.Context(), hooks.WithMaxConcurrency(1))
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close(b.Context())
			if _, err := r.Register(b.Context(), lang, wasm); err != nil {
				b.Fatal(err)
			}
			in := hooks.Input{Stage: "validate", Type: "docs", ID: "019a0b1c-2d3e-7f40-8a5b-6c7d8e9f0a1b",
				Data: json.RawMessage(doc), Request: hooks.RequestInfo{ID: "bench-1", Time: "2026-11-22T09:00:00Z"}}
			lim := hooks.Limits{Timeout: time.Second}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			start := threadCPU()
			for b.Loop() {
				res, err := r.Call(b.Context(), lang, in, lim)
				if err != nil || !res.Output.Allow {
					b.Fatalf("%v %v", res, err)
				}
			}
			b.ReportMetric(float64((threadCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/call")
		})
	}
}
