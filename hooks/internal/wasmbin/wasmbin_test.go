package wasmbin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLEB(t *testing.T) {
	t.Parallel()
	for _, v := range []uint32{0, 1, 63, 64, 127, 128, 16383, 16384, 1<<31 - 1, 1 << 31, 1<<32 - 1} {
		r := &reader{b: appendU32(nil, v)}
		if got := r.u32(); got != v || r.err != nil || r.pos != len(r.b) {
			t.Errorf("u32 %d: got %d, %v", v, got, r.err)
		}
	}
	for _, v := range []int64{0, 1, -1, 63, 64, -64, -65, 1<<31 - 1, -1 << 31, 1<<63 - 1, -1 << 63} {
		r := &reader{b: appendS64(nil, v)}
		if got := r.signed(64); got != v || r.err != nil || r.pos != len(r.b) {
			t.Errorf("s64 %d: got %d, %v", v, got, r.err)
		}
	}
	for _, bad := range [][]byte{{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, {0xff, 0xff, 0xff, 0xff, 0x1f}, {0x80}} {
		r := &reader{b: bad}
		if r.u32(); r.err == nil {
			t.Errorf("u32 accepted % x", bad)
		}
	}
}

// watModule compiles WAT source with wat2wasm and flags.
func watModule(t *testing.T, src string, flags ...string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.wat")
	first := ""
	if len(flags) > 0 {
		first = ";; wat2wasm-flags: " + strings.Join(flags, " ") + "\n"
	}
	if err := os.WriteFile(path, []byte(first+src), 0o644); err != nil {
		t.Fatal(err)
	}
	return wat2wasm(t, path)
}

// TestRefusesWhatWazeroDoesNotEnable checks that the proposals wazero does
// not enable by default are refused by name rather than mis-decoded.
func TestRefusesWhatWazeroDoesNotEnable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, want string
		flags           []string
	}{
		{"tail call", `(module (func $f (return_call $f)))`, "tail calls", []string{"--enable-tail-call"}},
		{"threads", `(module (memory 1 1 shared) (func (drop (i32.atomic.load (i32.const 0)))))`, "shared or 64-bit memories", []string{"--enable-threads"}},
		{"atomics", `(module (memory 1) (func (drop (i32.atomic.load (i32.const 0)))))`, "threads", []string{"--enable-threads"}},
		{"exceptions", `(module (tag $e) (func (throw $e)))`, "unknown section id 13", []string{"--enable-exceptions"}},
		{"multi-memory", `(module (memory 1) (memory $b 1) (func (drop (i32.load $b (i32.const 0)))))`, "multiple memories", []string{"--enable-multi-memory"}},
		{"reserved import", `(module (import "strata:sandbox" "tick" (func)))`, "reserved", nil},
		{"reserved export", `(module (global (export "strata:ticks") i32 (i32.const 0)))`, "reserved", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Instrument(watModule(t, tc.src, tc.flags...), Config{MaxDepth: 100})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Instrument: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	src := `(module
  (table 10 funcref)
  (elem (i32.const 0) func 0 1 0)
  (global i32 (i32.const 0)) (global i32 (i32.const 0))
  (func (local i32 i32 i32)
    (block (block (block (br_table 0 1 2 (i32.const 0))))))
  (func))`
	b := watModule(t, src)
	tests := []struct {
		lim  Limits
		want string
	}{
		{Limits{MaxFunctions: 1}, "2 functions, over the limit max_functions of 1"},
		{Limits{MaxNesting: 2}, "3 levels of nested blocks in function 0, over the limit max_nesting of 2"},
		{Limits{MaxBrTableTargets: 1}, "2 targets of a br_table in function 0, over the limit max_br_table_targets of 1"},
		{Limits{MaxLocals: 2}, "3 locals in function 0, over the limit max_locals of 2"},
		{Limits{MaxTableEntries: 9}, "10 table entries declared, over the limit max_table_entries of 9"},
		{Limits{MaxElementEntries: 2}, "3 element segment entries, over the limit max_element_entries of 2"},
		{Limits{MaxGlobals: 1}, "2 globals, over the limit max_globals of 1"},
		{Limits{MaxFunctionBytes: 5}, "bytes in the body of function 0, over the limit max_function_bytes of 5"},
	}
	for _, tc := range tests {
		_, err := Scan(b, tc.lim)
		var le *LimitError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Scan with %+v: %v, want a *LimitError saying %q", tc.lim, err, tc.want)
		}
	}
	if _, err := Scan(b, Limits{MaxFunctions: 2, MaxNesting: 3, MaxBrTableTargets: 2, MaxLocals: 3, MaxTableEntries: 10, MaxElementEntries: 3, MaxGlobals: 2}); err != nil {
		t.Errorf("Scan at the limits: %v", err)
	}
}

// TestCountsAreRead checks that a section declaring more items than it
// holds is refused: wazero's decoder allocates by the declared count
// first, so a 14-byte module declaring 2^32-1 imports (or globals, data
// segments...) would make it allocate hundreds of GiB and kill the
// process.
func TestCountsAreRead(t *testing.T) {
	t.Parallel()
	for id := byte(1); id <= 11; id++ {
		if id == secStart {
			continue
		}
		b := append([]byte("\x00asm\x01\x00\x00\x00"), id, 5, 0xff, 0xff, 0xff, 0xff, 0x0f)
		_, err := Instrument(b, Config{})
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("section %d declaring 2^32-1 items: %v, want ErrMalformed", id, err)
		}
	}
}

// TestNamesFollowTheirFunctions checks that the "name" section is
// renumbered with the functions, so that traps name the right function.
func TestNamesFollowTheirFunctions(t *testing.T) {
	t.Parallel()
	b := watModule(t, `(module
  (import "env" "f" (func $imported))
  (func $first (export "first") (call $second))
  (func $second unreachable))`, "--debug-names")
	res, err := Instrument(b, Config{MaxDepth: 100})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cm, err := compiler().CompileModule(ctx, res.Binary)
	if err != nil {
		t.Fatal(err)
	}
	defer cm.Close(ctx)
	if got := cm.ExportedFunctions()["first"].Name(); got != "first" {
		t.Errorf("exported function named %q, want first", got)
	}
	if got := cm.ImportedFunctions()[0].Name(); got != "imported" {
		t.Errorf("imported function named %q, want imported", got)
	}
}

// TestTableGrowthCap checks that table.grow is refused once all tables
// together would pass MaxTableEntries, and granted below it.
func TestTableGrowthCap(t *testing.T) {
	t.Parallel()
	b := watModule(t, `(module
  (table $a 10 funcref)
  (table $b 10 externref)
  (func (export "a_grow_b_by_10") (result i32) (table.grow $b (ref.null extern) (i32.const 10)))
  (func (export "b_grow_a_by_1") (result i32) (table.grow $a (ref.null func) (i32.const 1)))
  (func (export "c_grow_a_by_huge") (result i32) (table.grow $a (ref.null func) (i32.const -3)))
  (func (export "d_sizes") (result i32 i32) (table.size $a) (table.size $b)))`)
	res, err := Instrument(b, Config{Limits: Limits{MaxTableEntries: 30}, MaxDepth: 100})
	if err != nil {
		t.Fatal(err)
	}
	rt, cm, err := compile(res.Binary)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	got, ok := runModule(t, rt, cm, true)
	if !ok {
		t.Fatal("could not run the module")
	}
	want := []string{
		"a_grow_b_by_10 = (0xa)",       // 30 entries: granted
		"b_grow_a_by_1 = (0xffffffff)", // 31: refused
		"c_grow_a_by_huge = (0xffffffff)",
		"d_sizes = (0xa, 0x14)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
}
