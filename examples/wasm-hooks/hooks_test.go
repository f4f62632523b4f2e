package wasmhooks_test

// This file proves the example hook modules, not the hook runtime: a
// minimal ABI v1 host on wazero loads each module in build/ and checks that
// all of them answer every input the same way. TestMain runs make first, so
// a missing toolchain or a broken build fails the tests (it never skips).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// languages are the modules make builds, as build/<name>.wasm.
var languages = []string{"go", "c", "rust", "assemblyscript", "wat"}

// splicers are the languages that edit the data object in place, keeping
// its members' text; their outputs must agree byte for byte. The Go module
// re-encodes the data (sorted keys), so it agrees semantically only.
var splicers = []string{"c", "rust", "assemblyscript", "wat"}

const memoryLimitPages = 256 // 16 MiB, the SPEC's default hook memory limit

// compiled caches compiled modules across the tests' runtimes: compiling
// go.wasm takes a second, ten under the race detector. Set by TestMain.
var compiled wazero.CompilationCache

func TestMain(m *testing.M) {
	out, err := exec.Command("make").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "make -C examples/wasm-hooks failed: %v\n%s", err, out)
		os.Exit(1)
	}
	ctx := context.Background()
	compiled = wazero.NewCompilationCache()
	rt := wazero.NewRuntimeWithConfig(ctx, runtimeConfig())
	for _, lang := range languages {
		// A module that does not build or compile fails the tests that load it.
		if b, err := os.ReadFile(filepath.Join("build", lang+".wasm")); err == nil {
			rt.CompileModule(ctx, b)
		}
	}
	rt.Close(ctx)
	code := m.Run()
	compiled.Close(ctx)
	os.Exit(code)
}

// runtimeConfig is the configuration of every test runtime.
func runtimeConfig() wazero.RuntimeConfig {
	return wazero.NewRuntimeConfig().
		WithMemoryLimitPages(memoryLimitPages).
		WithCompilationCache(compiled)
}

// verdict is what a case expects the hook to answer.
type verdict int

const (
	slugged   verdict = iota // allow, data plus "slug"
	rejected                 // the all-caps rejection
	unchanged                // allow, data as given
	noData                   // allow, no data in the output
	hookError                // status 1
)

const rejection = `{"allow":false,"errors":[{"path":"/title","message":"title must not be all caps"}]}`

// Default envelope around a case's data; "previous" and "config" have
// titles of their own that the hook must not look at.
const (
	envelopeHead = `{"abi":1,"hook":"posts_validate","stage":"validate","type":"posts","id":"0193a1b2-c3d4","data":`
	envelopeTail = `,"previous":{"title":"PREVIOUS TITLE","slug":"previous-title"},"principal":{"id":"alice","roles":["editor"]},"request":{"id":"req-1","time":"2026-11-22T09:00:00Z"},"config":{"title":"CONFIG"}}`
)

var cases = []struct {
	name     string
	data     string // JSON; wrapped in the default envelope
	envelope string // whole input instead, when set (data is still what it holds)
	verdict  verdict
	slug     string // for slugged
}{
	{name: "normal", data: `{"title":"Hello, World","body":"Some text."}`, slug: "hello-world"},
	{name: "all caps", data: `{"title":"STOP THE PRESSES!","body":"x"}`, verdict: rejected},
	{name: "all caps with digits", data: `{"title":"NASA 2026: MARS"}`, verdict: rejected},
	{name: "one capital letter", data: `{"title":"X"}`, verdict: rejected},
	{name: "digits and punctuation", data: `{"title":"  Go 1.26 -- What's New?? "}`, slug: "go-1-26-what-s-new"},
	{name: "acronym in mixed case", data: `{"title":"HTTP/2 in Go"}`, slug: "http-2-in-go"},
	{name: "no letters", data: `{"title":"2026"}`, slug: "2026"},
	{name: "only separators", data: `{"title":"--!!--"}`, slug: ""},
	{name: "empty title", data: `{"title":""}`, slug: ""},
	{name: "escapes", data: `{"title":"Say \"Hi\" \\ back\/slash\ttab\n"}`, slug: "say-hi-back-slash-tab"},
	{name: "unicode escapes", data: `{"title":"Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"}`, slug: "caf-cr-me-br-l-e"},
	{name: "raw utf-8", data: `{"title":"Crème brûlée ✓ für alle"}`, slug: "cr-me-br-l-e-f-r-alle"},
	{name: "surrogate pair", data: `{"title":"Launch \ud83d\ude80 Day"}`, slug: "launch-day"},
	{name: "escaped capitals shout", data: `{"title":"\u0048\u0049 THERE"}`, verdict: rejected},
	{name: "escaped lowercase", data: `{"title":"HI THER\u0065"}`, slug: "hi-there"},
	{name: "non-ascii capitals ignored", data: `{"title":"ÉCOLE"}`, verdict: rejected},
	{name: "only non-ascii letters", data: `{"title":"Éé ÀÖ"}`, slug: ""},
	{name: "escaped key", data: `{"t\u0069tle":"LOUD KEY"}`, verdict: rejected},
	{name: "missing title", data: `{"body":"no title here","n":1}`, verdict: unchanged},
	{name: "empty data", data: `{}`, verdict: unchanged},
	{name: "number title", data: `{"title":42,"body":"x"}`, verdict: unchanged},
	{name: "null title", data: `{"title":null}`, verdict: unchanged},
	{name: "array title", data: `{"title":["LOUD"]}`, verdict: unchanged},
	{name: "object title", data: `{"title":{"text":"LOUD"},"slug":"kept"}`, verdict: unchanged},
	{name: "extra fields preserved",
		data: `{"big":12345678901234567890,"ratio":1.50,"tags":["A","B"],"meta":{"title":"NESTED LOUD","deep":[{"x":null},[]]},` +
			`"ok":true,"title":"Hello Again","slug":"stale-slug","price":-0.0e+10,"s":"}{\"][","last":false}`,
		slug: "hello-again"},
	{name: "whitespace in data", data: "{\n  \"title\" : \"Spaced  Out\" ,\n  \"slug\":\"x\" ,\n  \"n\" : [ 1 , 2 ]\n}", slug: "spaced-out"},
	{name: "data null", data: `null`, verdict: noData},
	{name: "data absent", envelope: `{"abi":1,"hook":"posts_validate","stage":"before_delete","type":"posts","id":"x"}`, verdict: noData},
	{name: "data after previous",
		data:     `{"title":"Quiet Now"}`,
		envelope: "{ \"abi\" : 1 ,\n \"previous\" : {\"title\":\"LOUD BEFORE\"},\n \"data\" : {\"title\":\"Quiet Now\"} ,\n \"config\":{} }",
		slug:     "quiet-now"},
	{name: "envelope not an object", envelope: `[]`, verdict: hookError},
	{name: "envelope not json", envelope: `nope`, verdict: hookError},
}

func TestHooks(t *testing.T) {
	t.Parallel()
	mods := loadAll(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			input := tc.envelope
			if input == "" {
				input = envelopeHead + tc.data + envelopeTail
			}
			want := expected(t, tc.data, tc.verdict, tc.slug)
			outs := map[string]string{}
			for _, lang := range languages {
				res, err := mods[lang].call([]byte(input))
				if err != nil {
					t.Errorf("%s: %v", lang, err)
					continue
				}
				if tc.verdict == hookError {
					if res.status != 1 {
						t.Errorf("%s: status %d, want 1 (output %q)", lang, res.status, res.output)
					}
					continue
				}
				if res.status != 0 {
					t.Errorf("%s: status %d, want 0; logs %q", lang, res.status, res.logs)
					continue
				}
				if !semanticallyEqual(res.output, want) {
					t.Errorf("%s:\n got %s\nwant %s", lang, res.output, want)
				}
				if want := []logLine{{1, "checked title"}}; !slices.Equal(res.logs, want) {
					t.Errorf("%s: logs %q, want %q", lang, res.logs, want)
				}
				outs[lang] = string(res.output)
			}
			if tc.verdict == rejected {
				for _, lang := range languages {
					if out, ok := outs[lang]; ok && out != rejection {
						t.Errorf("%s: rejection %s, want exactly %s", lang, out, rejection)
					}
				}
			}
			for _, lang := range splicers[1:] {
				a, b := outs[splicers[0]], outs[lang]
				if a != "" && b != "" && a != b {
					t.Errorf("%s and %s differ byte for byte:\n%s\n%s", splicers[0], lang, a, b)
				}
			}
		})
	}
}

// TestABI checks each module's imports and exports against ABI v1.
func TestABI(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rt := wazero.NewRuntimeWithConfig(ctx, runtimeConfig())
	t.Cleanup(func() { rt.Close(context.WithoutCancel(ctx)) })
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			cm, err := rt.CompileModule(ctx, readModule(t, lang))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range cm.ImportedFunctions() {
				mod, name, _ := f.Import()
				switch {
				case mod == "wasi_snapshot_preview1", mod == "env" && name == "abort":
				case mod == "hook" && slices.Contains([]string{"input_read", "output_write", "log"}, name):
				default:
					t.Errorf("imports %s.%s, which ABI v1 does not provide", mod, name)
				}
			}
			if _, ok := cm.ExportedMemories()["memory"]; !ok {
				t.Error("does not export memory")
			}
			fns := cm.ExportedFunctions()
			if _, ok := fns["hook_abi_v1"]; !ok {
				t.Error("does not export hook_abi_v1")
			}
			h, ok := fns["hook_handle"]
			if !ok {
				t.Fatal("does not export hook_handle")
			}
			i32 := []api.ValueType{api.ValueTypeI32}
			if !slices.Equal(h.ParamTypes(), i32) || !slices.Equal(h.ResultTypes(), i32) {
				t.Errorf("hook_handle is (%v) -> (%v), want (i32) -> (i32)", h.ParamTypes(), h.ResultTypes())
			}
		})
	}
}

// TestMemoryFlat calls each module 10,000 times and checks that its linear
// memory stops growing once warm and stays well inside the default hook
// memory limit. The Go module is the one at risk: its runtime lets the heap
// grow to a 4 MiB goal before collecting unless hookguest forces it to.
func TestMemoryFlat(t *testing.T) {
	t.Parallel()
	mods := loadAll(t)
	input := []byte(envelopeHead + cases[0].data + envelopeTail)
	big := []byte(envelopeHead + `{"title":"Big One","body":"` + strings.Repeat("lorem ipsum ", 20000) + `"}` + envelopeTail)
	const (
		calls  = 10_000
		warm   = calls / 2
		budget = memoryLimitPages / 2
	)
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			m := mods[lang]
			var warmPages uint32
			for i := range calls {
				in := input
				if i%100 == 0 {
					in = big // ~240 KB every 100 calls: garbage the heap must give back
				}
				res, err := m.call(in)
				if err != nil || res.status != 0 {
					t.Fatalf("call %d: status %d, err %v", i, res.status, err)
				}
				if i == warm {
					warmPages = m.pages()
				}
			}
			end := m.pages()
			t.Logf("%d pages after %d calls, %d after %d", warmPages, warm, end, calls)
			if end > warmPages {
				t.Errorf("memory grew from %d to %d pages between call %d and %d", warmPages, end, warm, calls)
			}
			if end > budget {
				t.Errorf("memory is %d pages, more than the %d-page budget (half the default limit)", end, budget)
			}
		})
	}
}

// BenchmarkHandle reports the cost of one hook_handle call per module,
// host side included, on the "normal" case.
func BenchmarkHandle(b *testing.B) {
	mods := loadAll(b)
	input := []byte(envelopeHead + cases[0].data + envelopeTail)
	for _, lang := range languages {
		b.Run(lang, func(b *testing.B) {
			b.ReportAllocs()
			m := mods[lang]
			for b.Loop() {
				if res, err := m.call(input); err != nil || res.status != 0 {
					b.Fatalf("status %d, err %v", res.status, err)
				}
			}
		})
	}
}

// expected builds the output envelope a case wants.
func expected(t testing.TB, data string, v verdict, slug string) []byte {
	t.Helper()
	switch v {
	case rejected:
		return []byte(rejection)
	case noData, hookError:
		return []byte(`{"allow":true}`)
	}
	var d map[string]any
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("case data %s: %v", data, err)
	}
	if v == slugged {
		d["slug"] = slug
	}
	out, err := json.Marshal(map[string]any{"allow": true, "data": d})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// semanticallyEqual reports whether a and b are the same JSON value,
// numbers compared by their text.
func semanticallyEqual(a, b []byte) bool {
	var va, vb any
	for _, p := range []struct {
		src []byte
		dst *any
	}{{a, &va}, {b, &vb}} {
		dec := json.NewDecoder(bytes.NewReader(p.src))
		dec.UseNumber()
		if err := dec.Decode(p.dst); err != nil || dec.More() {
			return false
		}
	}
	return reflect.DeepEqual(va, vb)
}

// The minimal ABI v1 host.

type logLine struct {
	Level int32
	Msg   string
}

// result is what one hook_handle call produced.
type result struct {
	status int32
	output []byte
	logs   []logLine
}

// callState is the host's side of one call, found by the host functions
// through the context.
type callState struct {
	input []byte
	result
}

type callKey struct{}

func state(ctx context.Context) *callState { return ctx.Value(callKey{}).(*callState) }

// guest is one instantiated module.
type guest struct {
	ctx    context.Context // the loading test's
	mod    api.Module
	handle api.Function
}

func (g *guest) pages() uint32 { return g.mod.Memory().Size() / 65536 }

// call runs hook_handle on input. err reports a trap, not a hook error.
func (g *guest) call(input []byte) (result, error) {
	st := &callState{input: input}
	ctx := context.WithValue(g.ctx, callKey{}, st)
	res, err := g.handle.Call(ctx, uint64(len(input)))
	if err != nil {
		return st.result, err
	}
	st.status = int32(res[0])
	return st.result, nil
}

// loadAll instantiates every module in a runtime of its own, closed when
// t ends. An instance serves one call at a time, so each test loads its
// own and calls them sequentially.
func loadAll(t testing.TB) map[string]*guest {
	t.Helper()
	ctx := t.Context()
	rt := wazero.NewRuntimeWithConfig(ctx, runtimeConfig())
	t.Cleanup(func() { rt.Close(context.WithoutCancel(ctx)) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	if _, err := rt.NewHostModuleBuilder("hook").
		NewFunctionBuilder().WithFunc(inputRead).Export("input_read").
		NewFunctionBuilder().WithFunc(outputWrite).Export("output_write").
		NewFunctionBuilder().WithFunc(hostLog).Export("log").
		Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(abort).Export("abort").
		Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	mods := map[string]*guest{}
	for _, lang := range languages {
		mod, err := rt.InstantiateWithConfig(ctx, readModule(t, lang),
			wazero.NewModuleConfig().WithName(lang).WithStartFunctions())
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		if init := mod.ExportedFunction("_initialize"); init != nil {
			if _, err := init.Call(ctx); err != nil {
				t.Fatalf("%s: _initialize: %v", lang, err)
			}
		}
		h := mod.ExportedFunction("hook_handle")
		if h == nil {
			t.Fatalf("%s: no hook_handle export", lang)
		}
		mods[lang] = &guest{ctx: ctx, mod: mod, handle: h}
	}
	return mods
}

func readModule(t testing.TB, lang string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("build", lang+".wasm"))
	if err != nil {
		t.Fatalf("%s module not built: %v", lang, err)
	}
	return b
}

func inputRead(ctx context.Context, m api.Module, ptr, n uint32) uint32 {
	in := state(ctx).input
	if int(n) < len(in) {
		in = in[:n]
	}
	if !m.Memory().Write(ptr, in) {
		panic("input_read: out of bounds")
	}
	return uint32(len(in))
}

func outputWrite(ctx context.Context, m api.Module, ptr, n uint32) {
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		panic("output_write: out of bounds")
	}
	st := state(ctx)
	st.output = append(st.output[:0], b...)
}

func hostLog(ctx context.Context, m api.Module, level, ptr, n uint32) {
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		panic("log: out of bounds")
	}
	st := state(ctx)
	st.logs = append(st.logs, logLine{int32(level), string(b)})
}

// abort is AssemblyScript's env.abort: the guest gave up, so trap.
func abort(ctx context.Context, msg, file, line, col uint32) {
	panic(fmt.Sprintf("abort at %d:%d", line, col))
}

// FuzzTitle checks that the five modules agree with each other and with a
// reference on any title, written plainly or with every character other
// than [A-Za-z0-9 ] as a \u escape.
func FuzzTitle(f *testing.F) {
	for _, s := range []string{"Hello, World", "LOUD", "", "Éé", "Caf\u00e9 \"x\"", "a\\b/c", "\x00\x1f", "\xff\xfe", "🚀 GO"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	mods := loadAll(f)
	f.Fuzz(func(t *testing.T, title string, escaped bool) {
		quoted, err := json.Marshal(title)
		if err != nil {
			t.Skip()
		}
		if escaped {
			quoted = escapeAll(title)
		}
		data := `{"n":1,"title":` + string(quoted) + `}`
		var d map[string]any
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			t.Fatalf("test built bad data %s: %v", data, err)
		}
		v, slug := reference(d["title"].(string))
		want := expected(t, data, v, slug)
		input := []byte(envelopeHead + data + envelopeTail)
		var first []byte
		for _, lang := range languages {
			res, err := mods[lang].call(input)
			if err != nil || res.status != 0 {
				t.Fatalf("%s: status %d, err %v, input %s", lang, res.status, err, input)
			}
			if !semanticallyEqual(res.output, want) {
				t.Errorf("%s on %s:\n got %s\nwant %s", lang, data, res.output, want)
			}
			if lang == splicers[0] {
				first = res.output
			} else if slices.Contains(splicers, lang) && !bytes.Equal(res.output, first) {
				t.Errorf("%s and %s differ byte for byte:\n%s\n%s", splicers[0], lang, first, res.output)
			}
		}
	})
}

// reference is the hook's rule, written plainly.
func reference(title string) (verdict, string) {
	upper := strings.ContainsFunc(title, func(r rune) bool { return 'A' <= r && r <= 'Z' })
	lower := strings.ContainsFunc(title, func(r rune) bool { return 'a' <= r && r <= 'z' })
	if upper && !lower {
		return rejected, ""
	}
	var b strings.Builder
	dash := false
	for _, c := range []byte(title) {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteByte(c)
			dash = false
		} else {
			dash = true
		}
	}
	return slugged, b.String()
}

// escapeAll quotes s with every rune other than [A-Za-z0-9 ] escaped as
// \uXXXX (a surrogate pair outside the BMP).
func escapeAll(s string) []byte {
	b := []byte{'"'}
	for _, r := range s {
		switch {
		case 'A' <= r && r <= 'Z', 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == ' ':
			b = append(b, byte(r))
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			b = fmt.Appendf(b, `\u%04x\u%04x`, r1, r2)
		default:
			b = fmt.Appendf(b, `\u%04x`, r)
		}
	}
	return append(b, '"')
}

// FuzzData checks that the five modules agree on any data object: nesting,
// whitespace, escaped and repeated keys, odd numbers.
func FuzzData(f *testing.F) {
	for _, tc := range cases {
		if tc.envelope == "" {
			f.Add(tc.data)
		}
	}
	f.Add(`{"title":"A","title":"b","slug":1,"slug":2}`)
	f.Add(`{"s\u006cug":"x","a":{"title":"LOUD"},"title":"Quiet"}`)
	mods := loadAll(f)
	f.Fuzz(func(t *testing.T, data string) {
		var d map[string]any
		if !json.Valid([]byte(data)) || json.Unmarshal([]byte(data), &d) != nil || d == nil {
			t.Skip()
		}
		v, slug := unchanged, ""
		if title, ok := d["title"].(string); ok {
			v, slug = reference(title)
		}
		want := expected(t, data, v, slug)
		input := []byte(envelopeHead + data + envelopeTail)
		var first []byte
		for _, lang := range languages {
			res, err := mods[lang].call(input)
			if err != nil || res.status != 0 {
				t.Fatalf("%s: status %d, err %v, input %s", lang, res.status, err, input)
			}
			if !semanticallyEqual(res.output, want) {
				t.Errorf("%s on %s:\n got %s\nwant %s", lang, data, res.output, want)
			}
			if lang == splicers[0] {
				first = res.output
			} else if slices.Contains(splicers, lang) && !bytes.Equal(res.output, first) {
				t.Errorf("%s and %s differ byte for byte:\n%s\n%s", splicers[0], lang, first, res.output)
			}
		}
	})
}
