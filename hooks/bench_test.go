package hooks

import (
	"testing"
)

// BenchmarkCall measures a whole Call (input envelope, pooled instance,
// hook_handle, output decoding) with and without the call guard (the
// function listener that bounds call trees and depth): "echo" is a normal
// hook, one guarded guest call; "calls" makes about 250 guarded and 250
// leaf (unguarded) calls, a worst case for the guard.
func BenchmarkCall(b *testing.B) {
	for _, mod := range []string{"echo", "calls"} {
		for _, guard := range []bool{true, false} {
			name := mod + "/guard"
			opts := []Option{WithPoolSize(1)}
			if !guard {
				name = mod + "/noguard"
				opts = append(opts, withoutGuard())
			}
			b.Run(name, func(b *testing.B) {
				r := newRuntime(b, opts...)
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
}
