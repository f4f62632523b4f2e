package hookstest_test

import (
	"testing"
	"time"

	"github.com/strata-dev/strata/hooks"
	"github.com/strata-dev/strata/hooks/hookstest"
)

// TestBusyLoop registers BusyLoop modules and checks that they answer
// allow, for loop counts whose LEB128 encodings differ in length and sign.
func TestBusyLoop(t *testing.T) {
	t.Parallel()
	r, err := hooks.New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(t.Context())
	for _, loops := range []uint32{0, 1, 63, 64, 8191, 1 << 20, 1<<31 - 1, 1 << 31, 1<<32 - 1} {
		if _, err := r.Register(t.Context(), "busy", hookstest.BusyLoop(loops)); err != nil {
			t.Fatalf("loops %d: %v", loops, err)
		}
		if loops > 1<<20 {
			continue // runs for seconds or more
		}
		start := time.Now()
		res, err := r.Call(t.Context(), "busy", hooks.Input{}, hooks.Limits{Timeout: time.Minute})
		if err != nil || !res.Output.Allow {
			t.Fatalf("loops %d: %+v, %v; want allow", loops, res, err)
		}
		t.Logf("%d loops: %v", loops, time.Since(start))
	}
}
