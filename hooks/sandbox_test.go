package hooks

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The hostile modules too large to keep as WAT (megabytes of text) are
// built here, in the binary format: a hook whose hook_handle body, or
// global section, is the hostile part.

// uleb appends v as an unsigned LEB128.
func uleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// wasmSection appends a section.
func wasmSection(b []byte, id byte, content []byte) []byte {
	b = append(b, id)
	b = uleb(b, uint64(len(content)))
	return append(b, content...)
}

// hookBinary builds an ABI v1 module exporting a one-page memory,
// hook_abi_v1 and hook_handle, whose body (locals included, final end
// excluded) is body, with globals mutable i32 globals.
func hookBinary(body []byte, globals int) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	// Types: 0 = () -> (), 1 = (i32) -> (i32).
	b = wasmSection(b, 1, []byte{2, 0x60, 0, 0, 0x60, 1, 0x7f, 1, 0x7f})
	b = wasmSection(b, 3, []byte{2, 0, 1})
	b = wasmSection(b, 5, []byte{1, 0, 1})
	if globals > 0 {
		g := uleb(nil, uint64(globals))
		for range globals {
			g = append(g, 0x7f, 1, 0x41, 0, 0x0b)
		}
		b = wasmSection(b, 6, g)
	}
	exp := []byte{3}
	for i, name := range []string{"memory", "hook_abi_v1", "hook_handle"} {
		exp = uleb(exp, uint64(len(name)))
		exp = append(exp, name...)
		if i == 0 {
			exp = append(exp, 2, 0)
		} else {
			exp = append(exp, 0, byte(i-1))
		}
	}
	b = wasmSection(b, 7, exp)
	body = append(body, 0x0b)
	code := []byte{2, 2, 0, 0x0b}
	code = uleb(code, uint64(len(body)))
	code = append(code, body...)
	return wasmSection(b, 10, code)
}

// nestedBlocks nests n empty blocks in hook_handle.
func nestedBlocks(n int) []byte {
	body := []byte{0}
	body = append(body, bytes.Repeat([]byte{0x02, 0x40}, n)...)
	body = append(body, bytes.Repeat([]byte{0x0b}, n)...)
	return hookBinary(append(body, 0x41, 0), 0)
}

// bigBrTable is a br_table of n targets in hook_handle.
func bigBrTable(n int) []byte {
	body := []byte{0, 0x02, 0x40, 0x20, 0, 0x0e}
	body = uleb(body, uint64(n))
	body = append(body, bytes.Repeat([]byte{0}, n+1)...)
	return hookBinary(append(body, 0x0b, 0x41, 0), 0)
}

// compileBombs are modules Register must refuse before compiling them,
// naming the limit.
var compileBombs = []struct {
	name, limit string
	wasm        func() []byte
}{
	// 180 KB of nested blocks compiled for 69 s, 150k kept a core busy
	// for minutes after the client left.
	{"nested_blocks", "max_nesting", func() []byte { return nestedBlocks(150_000) }},
	// A million targets took 1.5 GB to compile.
	{"br_table_huge", "max_br_table_targets", func() []byte { return bigBrTable(1_000_000) }},
	// A million globals cost ~500 MiB per instance.
	{"globals_many", "max_globals", func() []byte { return hookBinary([]byte{0, 0x41, 0}, 1_000_000) }},
	// 14 bytes declaring 2^32-1 imports: wazero's decoder allocates by the
	// declared count before reading, ~120 GiB, and the process dies.
	{"import_count", "malformed", func() []byte {
		return []byte("\x00asm\x01\x00\x00\x00\x02\x05\xff\xff\xff\xff\x0f")
	}},
}

func TestHostileCompileBombs(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	for _, tc := range compileBombs {
		t.Run(tc.name, func(t *testing.T) {
			wasm := tc.wasm()
			start := time.Now()
			_, err := r.Register(t.Context(), tc.name, wasm)
			took := time.Since(start)
			if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), tc.limit) {
				t.Fatalf("Register: %v, want ErrInvalidModule naming %s", err, tc.limit)
			}
			// A hang guard: the pre-scan takes milliseconds, compiling
			// took minutes.
			within(t, tc.name, took, 5*time.Second)
			t.Logf("%s (%d bytes) refused in %v: %v", tc.name, len(wasm), took, err)
		})
	}
	// Just under the limits, the same shapes compile.
	lim := DefaultModuleLimits()
	for name, wasm := range map[string][]byte{
		"nested_blocks_ok": nestedBlocks(int(lim.MaxNesting) - 1),
		"br_table_ok":      bigBrTable(int(lim.MaxBrTableTargets)),
		"globals_ok":       hookBinary([]byte{0, 0x41, 0}, int(lim.MaxGlobals)-2),
	} {
		start := time.Now()
		_, err := r.Register(t.Context(), name, wasm)
		// They break the ABI only by not writing an output.
		if err != nil {
			t.Fatalf("Register %s: %v", name, err)
		}
		t.Logf("%s (%d bytes) registered in %v", name, len(wasm), time.Since(start))
	}
}

func TestModuleLimitsConfigurable(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, WithModuleLimits(ModuleLimits{MaxNesting: 10, MaxGlobals: 3}))
	if r.cfg.moduleLimits.MaxBrTableTargets != DefaultModuleLimits().MaxBrTableTargets {
		t.Errorf("an unset limit lost its default: %+v", r.cfg.moduleLimits)
	}
	if _, err := r.Register(t.Context(), "ten", nestedBlocks(10)); err != nil {
		t.Fatalf("10 nested blocks under a limit of 10: %v", err)
	}
	for _, tc := range []struct {
		wasm  []byte
		limit string
	}{
		{nestedBlocks(11), "11 levels of nested blocks in function 1, over the limit max_nesting of 10"},
		{hookBinary([]byte{0, 0x41, 0}, 4), "4 globals, over the limit max_globals of 3"},
	} {
		_, err := r.Register(t.Context(), "over", tc.wasm)
		if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), tc.limit) {
			t.Errorf("Register: %v, want it to say %q", err, tc.limit)
		}
	}
}

// TestCompileTimeout checks that a compilation over its deadline, or
// whose caller leaves, is abandoned at once, and that the runtime is still
// usable afterwards.
func TestCompileTimeout(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, WithCompileTimeout(time.Nanosecond), WithCompileConcurrency(1))
	_, err := r.Register(t.Context(), "slow", module(t, "echo"))
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "compilation took longer than 1ns") {
		t.Fatalf("Register: %v, want a compilation timeout", err)
	}
	r2 := newRuntime(t, WithCompileConcurrency(1))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r2.Register(ctx, "gone", module(t, "echo")); !errors.Is(err, context.Canceled) || errors.Is(err, ErrInvalidModule) {
		t.Fatalf("Register with a cancelled context: %v, want context.Canceled", err)
	}
	// The slot of the abandoned compilation comes back.
	register(t, r2, "echo", module(t, "echo"))
	callAllow(t, r2, "echo")
}

// TestFuel checks the unit of fuel on a module of known work, and that a
// budget is deterministic: 100 calls at the boundary, in parallel beside
// guests that keep the CPUs busy, all pass with 201 units and all fail
// with 200.
func TestFuel(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, WithMaxConcurrency(8), WithPoolSize(4))
	register(t, r, "fuel", module(t, "fuel"))
	register(t, r, "loop", hostile(t, "loop"))
	lim := relaxed
	lim.Fuel = 201
	callAllow := func() error {
		_, err := r.Call(t.Context(), "fuel", sampleInput(), lim)
		return err
	}
	if err := callAllow(); err != nil {
		t.Fatalf("201 units: %v", err)
	}
	stop := make(chan struct{})
	var load sync.WaitGroup
	for range 3 {
		load.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r.Call(context.WithoutCancel(t.Context()), "loop", sampleInput(), Limits{Timeout: 20 * time.Millisecond})
			}
		})
	}
	defer func() {
		close(stop)
		load.Wait()
	}()
	for _, fuel := range []int64{201, 200} {
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for range 100 {
			wg.Go(func() {
				l := relaxed
				l.Fuel = fuel
				_, err := r.Call(t.Context(), "fuel", sampleInput(), l)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			var ce *CallError
			switch {
			case fuel == 201 && err != nil:
				t.Fatalf("fuel 201: %v, want a pass", err)
			case fuel == 200 && (!errors.As(err, &ce) || ce.Reason != ReasonFuel):
				t.Fatalf("fuel 200: %v, want reason fuel", err)
			case fuel == 200 && !strings.Contains(ce.Error(), "(fuel): used up its fuel budget of 200 units"):
				t.Fatalf("fuel 200: message %q", ce.Error())
			}
		}
	}
}

// TestHostileMemoryOutsideLinear checks that what a module can make the
// host allocate besides its linear memory is bounded: tables grown call
// after call and modules declaring huge tables leave the process's RSS
// within 50 MiB of where it was.
func TestHostileMemoryOutsideLinear(t *testing.T) {
	if _, err := elf.Open("/proc/self/exe"); err != nil || runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	r := newRuntime(t, WithPoolSize(4))
	register(t, r, "table_grow_loop", hostile(t, "table_grow_loop"))
	register(t, r, "table_grow", hostile(t, "table_grow"))
	collectAll()
	before := rssBytes(t)
	for range 20 {
		for _, m := range []string{"table_grow_loop", "table_grow"} {
			if ce := callErr(t, r, m, relaxed); ce.Reason != ReasonTrap {
				t.Fatalf("%s: %v, want a trap", m, ce)
			}
		}
		if _, err := r.Register(t.Context(), "table_huge", hostile(t, "table_huge")); !errors.Is(err, ErrInvalidModule) {
			t.Fatalf("table_huge registered: %v", err)
		}
	}
	collectAll()
	after := rssBytes(t)
	t.Logf("RSS before %d MiB, after %d MiB", before>>20, after>>20)
	if after > before+50<<20 {
		t.Errorf("RSS grew from %d MiB to %d MiB", before>>20, after>>20)
	}
}

func collectAll() {
	runtime.GC()
	debug.FreeOSMemory()
}

// rssBytes reads the process's resident set size.
func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
