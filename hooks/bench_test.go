package hooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCall measures a whole Call (input envelope, pooled instance,
// hook_handle, output decoding): "echo" is a normal hook; "calls" makes
// about 250 calls of a function that calls another and 250 of a leaf, a
// worst case for the instrumentation's call-depth counter.
func BenchmarkCall(b *testing.B) {
	for _, mod := range []string{"echo", "calls"} {
		b.Run(mod, func(b *testing.B) {
			r := newRuntime(b, WithPoolSize(1))
			register(b, r, mod, module(b, mod))
			in := sampleInput()
			b.ReportAllocs()
			for b.Loop() {
				res, err := r.Call(b.Context(), mod, in, Limits{})
				if err != nil || !res.Output.Allow {
					b.Fatalf("%v %v", res, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// exampleLanguages are the languages of examples/wasm-hooks.
var exampleLanguages = []string{"go", "c", "rust", "assemblyscript", "wat"}

// exampleModule reads the built example hook of lang.
func exampleModule(b *testing.B, lang string) []byte {
	b.Helper()
	wasm, err := os.ReadFile(filepath.Join("..", "examples", "wasm-hooks", "build", lang+".wasm"))
	if err != nil {
		b.Fatalf("module: %v (make -C examples/wasm-hooks builds it)", err)
	}
	return wasm
}

// exampleDoc is about 1 KiB of data, like the documents strata-bench
// creates (and examples/wasm-hooks' BenchmarkHookCall).
const exampleDoc = `{"title":"Durable Revisions for the Quiet Harbour","summary":"a journal of every change, kept as immutable revisions and indexed for cursors",` +
	`"body":"the server keeps every revision of a resource in a durable journal and answers reads from the latest snapshot while ` +
	`history stays available to any client that asks for it by number; a change is committed before the response leaves the ` +
	`server and the change log carries it to replicas, which apply it in order and acknowledge it once it is safe on their own ` +
	`disks. the schema is checked on every write, hooks may veto a write or reshape it, and the index keeps list pages cheap ` +
	`at any cursor, carefully and eventually, through the meadow and the mountain, over the river and into the library, where ` +
	`the orchestra plays quietly for the engineer who wrote it all and the lantern burns brightly until the festival ends",` +
	`"tags":["go","storage","review"],"author":"grace","views":48213,"score":812.5,"rating":4,"draft":false,"published":"2026-03-14","seq":1}`

// BenchmarkExampleCall measures one Call of each language's example hook
// on the validate stage of a ~1 KiB document, instrumented:
// guest-ns/call is the part the guest ran.
func BenchmarkExampleCall(b *testing.B) {
	for _, lang := range exampleLanguages {
		b.Run(lang, func(b *testing.B) {
			r := newRuntime(b)
			register(b, r, lang, exampleModule(b, lang))
			in := Input{Stage: "validate", Type: "docs", ID: "019a0b1c-2d3e-7f40-8a5b-6c7d8e9f0a1b",
				Data: json.RawMessage(exampleDoc), Request: RequestInfo{ID: "bench-1", Time: "2026-11-22T09:00:00Z"}}
			lim := Limits{Timeout: time.Second}
			var guest time.Duration
			b.ReportAllocs()
			for b.Loop() {
				res, err := r.Call(b.Context(), lang, in, lim)
				if err != nil || !res.Output.Allow {
					b.Fatalf("%v %v", res, err)
				}
				guest += res.Duration
			}
			b.ReportMetric(float64(guest.Nanoseconds())/float64(b.N), "guest-ns/call")
		})
	}
}

// BenchmarkRegister measures registering each example hook (pre-scan,
// instrumentation, compilation, ABI check; no pre-warming) and reports
// how much the instrumentation grew it.
func BenchmarkRegister(b *testing.B) {
	for _, lang := range exampleLanguages {
		b.Run(lang, func(b *testing.B) {
			wasm := exampleModule(b, lang)
			r := newRuntime(b, WithPoolSize(0))
			res, err := r.instrument(wasm)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				register(b, r, lang, wasm)
			}
			b.ReportMetric(float64(len(wasm)), "bytes")
			b.ReportMetric(100*float64(len(res.Binary)-len(wasm))/float64(len(wasm)), "%growth")
			b.ReportMetric(float64(res.Checkpoints), "checkpoints")
		})
	}
}

// BenchmarkInstrument measures the rewrite alone.
func BenchmarkInstrument(b *testing.B) {
	for _, lang := range exampleLanguages {
		b.Run(lang, func(b *testing.B) {
			wasm := exampleModule(b, lang)
			r := newRuntime(b, WithPoolSize(0))
			b.SetBytes(int64(len(wasm)))
			for b.Loop() {
				if _, err := r.instrument(wasm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
