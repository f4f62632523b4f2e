package hooks

import (
	"testing"
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
