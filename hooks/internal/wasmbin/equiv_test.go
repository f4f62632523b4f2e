package wasmbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// testLimits are generous: the fuzzer is after rewriting bugs, not limits.
var testLimits = Limits{MaxTableEntries: 1 << 16, MaxNesting: 10_000, MaxBrTableTargets: 1 << 16, MaxLocals: 50_000}

// testDepth is the call depth the equivalence check instruments with: far
// deeper than any seed recurses, so that it changes no outcome.
const testDepth = 1 << 20

// seeds returns the modules of the corpus: random valid modules made by
// binaryen's wasm-opt -ttf (testdata/seeds), the example hooks (if built)
// and the hook runtime's test and hostile modules (with wat2wasm).
func seeds(tb testing.TB) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	add := func(pattern string, compile bool) {
		files, err := filepath.Glob(pattern)
		if err != nil {
			tb.Fatal(err)
		}
		for _, f := range files {
			var b []byte
			if compile {
				b = wat2wasm(tb, f)
			} else if b, err = os.ReadFile(f); err != nil {
				tb.Fatal(err)
			}
			out[filepath.Base(f)] = b
		}
	}
	add("testdata/seeds/*.wasm", false)
	add("../../../examples/wasm-hooks/build/*.wasm", false)
	add("../../testdata/*.wat", true)
	add("../../testdata/hostile/*.wat", true)
	if len(out) < 20 {
		tb.Fatalf("only %d seed modules", len(out))
	}
	return out
}

// wat2wasm compiles a WAT file, honouring a first line
// ";; wat2wasm-flags: ...". A missing wat2wasm fails the test.
func wat2wasm(tb testing.TB, path string) []byte {
	tb.Helper()
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		tb.Fatalf("wat2wasm is needed (apt-get install -y wabt): %v", err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var args []string
	first, _, _ := strings.Cut(string(src), "\n")
	if f, ok := strings.CutPrefix(first, ";; wat2wasm-flags:"); ok {
		args = strings.Fields(f)
	}
	out := filepath.Join(tb.TempDir(), filepath.Base(path)+".wasm")
	var stderr bytes.Buffer
	cmd := exec.Command(tool, append(args, path, "-o", out)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("wat2wasm %s: %v\n%s", path, err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// checkRewrite instruments b and, if wazero compiles b, checks that it
// compiles the result too and, where it can run both, that they behave
// the same. It returns what it could check.
func checkRewrite(t *testing.T, b []byte, trusted bool) string {
	t.Helper()
	// wazero's decoder allocates by the counts a binary declares before it
	// reads the items: a mutated count of a billion imports would take the
	// test down. decode reads every counted item, so only binaries it
	// accepts are handed to wazero as they are (the fuzzed, untrusted
	// ones).
	if _, err := decode(b, &Limits{MaxLocals: 50_000}); err != nil && !trusted {
		if _, err := Instrument(b, Config{Limits: testLimits, MaxDepth: testDepth}); err == nil {
			t.Fatalf("Instrument accepted a module decode refuses")
		}
		return "refused"
	}
	origRT, origCM, origErr := compile(b)
	defer closeRuntime(origRT) // made whether or not the module compiles
	res, err := Instrument(b, Config{Limits: testLimits, MaxDepth: testDepth})
	if err != nil {
		var le *LimitError
		if origErr == nil && !errors.As(err, &le) && !strings.Contains(err.Error(), "not enabled") && !strings.Contains(err.Error(), "reserved") {
			t.Fatalf("Instrument refused a module wazero compiles: %v", err)
		}
		return "refused"
	}
	if origErr != nil {
		return "invalid"
	}
	rt, cm, err := compile(res.Binary)
	defer closeRuntime(rt)
	if err != nil {
		t.Fatalf("the instrumented module does not compile: %v", err)
	}
	want, ok := runModule(t, origRT, origCM, false)
	if !ok {
		return "compiled"
	}
	got, ok := runModule(t, rt, cm, true)
	if !ok {
		return "compiled"
	}
	if !slices.Equal(got, want) {
		t.Fatalf("behaviour differs:\noriginal:     %q\ninstrumented: %q", want, got)
	}
	return "same"
}

func closeRuntime(rt wazero.Runtime) { _ = rt.Close(context.Background()) }

// compile compiles b in a runtime of its own, where runModule can then
// run it; it returns the runtime whether or not b compiles, and the
// caller closes it.
func compile(b []byte) (wazero.Runtime, wazero.CompiledModule, error) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	cm, err := rt.CompileModule(ctx, b)
	return rt, cm, err
}

// runModule instantiates cm in rt, the runtime it was compiled in (and
// runs nothing else), with every imported
// function logging its calls, then calls each of the original module's
// exported functions that take no parameters, in name order, and returns
// the log: imports called, results or the first line of traps, and a hash
// of the memory. It reports false when the module cannot be run so (non
// function imports, v128 in an import, a run that does not end in time,
// the stack exhausted).
func runModule(t *testing.T, rt wazero.Runtime, cm wazero.CompiledModule, instrumented bool) ([]string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if len(cm.ImportedMemories()) > 0 {
		return nil, false
	}
	var log []string
	byModule := map[string]wazero.HostModuleBuilder{}
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		types := append(slices.Clone(def.ParamTypes()), def.ResultTypes()...)
		for _, vt := range types {
			if vt != api.ValueTypeI32 && vt != api.ValueTypeI64 && vt != api.ValueTypeF32 && vt != api.ValueTypeF64 {
				return nil, false
			}
		}
		hb, ok := byModule[mod]
		if !ok {
			hb = rt.NewHostModuleBuilder(mod)
			byModule[mod] = hb
		}
		var fn api.GoModuleFunc
		if mod == HostModule {
			fn = func(ctx context.Context, m api.Module, _ []uint64) {
				if ctx.Err() != nil {
					panic(ctx.Err())
				}
				m.ExportedGlobal(ExportTicks).(api.MutableGlobal).Set(tickEvery)
			}
		} else {
			params, results := def.ParamTypes(), def.ResultTypes()
			fn = func(_ context.Context, _ api.Module, stack []uint64) {
				log = append(log, fmt.Sprintf("%s.%s%s", mod, name, values(params, stack[:len(params)])))
				for i := range results {
					stack[i] = 0
				}
			}
		}
		hb.NewFunctionBuilder().WithGoModuleFunction(fn, def.ParamTypes(), def.ResultTypes()).Export(name)
	}
	for mod, hb := range byModule {
		if _, err := hb.Instantiate(ctx); err != nil {
			t.Fatalf("host module %s: %v", mod, err)
		}
	}
	m, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("m").WithStartFunctions())
	if err != nil {
		if ctx.Err() != nil || strings.Contains(err.Error(), "stack overflow") {
			return nil, false
		}
		return append(log, "instantiate: "+startFailure(firstLine(err))), true
	}
	var names []string
	for name, def := range cm.ExportedFunctions() {
		if len(def.ParamTypes()) == 0 && !strings.HasPrefix(name, "strata:") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		fn := m.ExportedFunction(name)
		res, err := fn.Call(ctx)
		if err != nil {
			if ctx.Err() != nil || strings.Contains(err.Error(), "stack overflow") {
				return nil, false
			}
			log = append(log, name+": "+firstLine(err))
		} else {
			log = append(log, name+" = "+values(fn.Definition().ResultTypes(), res))
		}
		if instrumented {
			m.ExportedGlobal(ExportDepth).(api.MutableGlobal).Set(0)
		}
	}
	if mem := m.ExportedMemory("memory"); mem != nil {
		b, _ := mem.Read(0, mem.Size())
		log = append(log, fmt.Sprintf("memory %d bytes, sum %x", len(b), sum(b)))
	}
	return log, true
}

// values formats values by their types (i32 and f32 from their low 32
// bits: wazero leaves the upper ones as they come), all NaNs of a type
// alike.
func values(types []api.ValueType, vs []uint64) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, typ := range types {
		if i > 0 {
			b.WriteString(", ")
		}
		v := vs[i]
		switch typ {
		case api.ValueTypeI32:
			fmt.Fprintf(&b, "%#x", uint32(v))
		case api.ValueTypeF32:
			if f := math.Float32frombits(uint32(v)); f != f {
				b.WriteString("nan")
				continue
			}
			fmt.Fprintf(&b, "%#x", uint32(v))
		case api.ValueTypeF64:
			if f := math.Float64frombits(v); f != f {
				b.WriteString("nan")
				continue
			}
			fmt.Fprintf(&b, "%#x", v)
		default:
			fmt.Fprintf(&b, "%#x", v)
		}
	}
	b.WriteByte(')')
	return b.String()
}

// startFailure drops what wazero's message says of which function failed
// at instantiation ("start function[2] export[...] failed: "): the index
// moves with the functions the rewriter adds, and the names with it.
func startFailure(msg string) string {
	if i := strings.Index(msg, "start function["); i >= 0 {
		if j := strings.Index(msg[i:], " failed: "); j >= 0 {
			return msg[:i] + "start function failed: " + msg[i+j+len(" failed: "):]
		}
	}
	return msg
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func sum(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// tickEvery is what the test's tick grants.
const tickEvery = 10_000

var (
	sharedRuntime     wazero.Runtime
	sharedRuntimeOnce sync.Once
)

// compiler is the runtime modules are compiled with (and nothing run in).
func compiler() wazero.Runtime {
	sharedRuntimeOnce.Do(func() {
		sharedRuntime = wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	})
	return sharedRuntime
}

// TestSeedsBehaveTheSame runs checkRewrite over the whole corpus.
func TestSeedsBehaveTheSame(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	count := map[string]int{}
	t.Run("seeds", func(t *testing.T) {
		for name, b := range seeds(t) {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if len(b) > 1<<20 {
					// The Go example (3 MB) takes minutes to compile
					// under the race detector; the hooks package's and
					// the examples' tests compile and run it
					// instrumented.
					if _, err := Instrument(b, Config{Limits: testLimits, MaxDepth: testDepth}); err != nil {
						t.Fatal(err)
					}
					return
				}
				got := checkRewrite(t, b, true)
				mu.Lock()
				count[got]++
				mu.Unlock()
			})
		}
	})
	t.Logf("outcomes: %v", count)
	if count["same"] < 20 {
		t.Errorf("only %d modules could be run and compared: %v", count["same"], count)
	}
}

// FuzzInstrument mutates the corpus: whatever Instrument accepts of a
// module wazero compiles must compile, and behave the same.
func FuzzInstrument(f *testing.F) {
	all := seeds(f)
	for _, name := range slices.Sorted(maps.Keys(all)) {
		// The Go example (3 MB) is too large to mutate usefully, and the
		// fuzzing engine's workers do not survive it; the plain test
		// covers it.
		if len(all[name]) <= 256<<10 {
			f.Add(all[name])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkRewrite(t, b, false)
	})
}
