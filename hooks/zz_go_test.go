package hooks

import (
	"os"
	"slices"
	"testing"
	"time"
)

func TestZZGoProfile(t *testing.T) {
	wasm, _ := os.ReadFile("../examples/wasm-hooks/build/go.wasm")
	for _, guard := range []bool{true, false} {
		opts := []Option{WithPoolSize(1)}
		if !guard {
			opts = append(opts, withoutGuard())
		}
		r := newRuntime(t, opts...)
		register(t, r, "go", wasm)
		in := sampleInput()
		in.Data = []byte(`{"title":"Hello World","body":"x"}`)
		var ds []time.Duration
		type slow struct{ i int; d time.Duration }
		var slows []slow
		for range 3000 {
			res, err := r.Call(t.Context(), "go", in, Limits{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, res.Duration)
			if res.Duration > 10*time.Millisecond { slows = append(slows, slow{len(ds), res.Duration}) }
		}
		t.Log(slows)
		slices.Sort(ds)
		t.Logf("guard=%v p50 %v p90 %v p99 %v max %v inst %d", guard, ds[1500], ds[2700], ds[2970], ds[2999], r.instantiations.load())
	}
}
