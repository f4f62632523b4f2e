package hooks

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestZZExamples(t *testing.T) {
	for _, guard := range []bool{true, false} {
		for _, lang := range []string{"go", "c", "rust", "assemblyscript", "wat"} {
			wasm, err := os.ReadFile(filepath.Join("..", "examples", "wasm-hooks", "build", lang+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			opts := []Option{WithPoolSize(1)}
			if !guard {
				opts = append(opts, withoutGuard())
			}
			r := newRuntime(t, opts...)
			start := time.Now()
			register(t, r, lang, wasm)
			reg := time.Since(start)
			in := sampleInput()
			in.Data = []byte(`{"title":"Hello World","body":"x"}`)
			res, err := r.Call(t.Context(), lang, in, Limits{Timeout: time.Second})
			if err != nil {
				t.Fatalf("%s: %v", lang, err)
			}
			const n = 2000
			start = time.Now()
			for range n {
				if _, err := r.Call(t.Context(), lang, in, Limits{}); err != nil {
					t.Fatal(err)
				}
			}
			per := time.Since(start) / n
			in.Data = []byte(`{"title":"HELLO","body":"x"}`)
			rej, err := r.Call(t.Context(), lang, in, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("guard=%v %-15s register %-12v call %-10v mem %5d KiB inst %d out %s | reject %s", guard, lang, reg, per, res.MemoryBytes/1024, r.instantiations.load(), res.Raw, rej.Raw)
		}
	}
}
