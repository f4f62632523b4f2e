package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/app/apptest"
)

// languages are the example hook's languages; each is built by
// `make hooks` into examples/wasm-hooks/build/<language>.wasm.
var languages = []string{"go", "c", "rust", "assemblyscript", "wat"}

// exampleModule reads a built example hook. A missing module fails the
// test: every language must run through the server.
func exampleModule(t testing.TB, lang string) []byte {
	t.Helper()
	path := filepath.Join("..", "examples", "wasm-hooks", "build", lang+".wasm")
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("example hook %s is not built (run `make hooks`): %v", lang, err)
	}
	return wasm
}

// hostileModule compiles one of the runtime's hostile test modules.
func hostileModule(t testing.TB, name string) []byte {
	t.Helper()
	src := filepath.Join("..", "hooks", "testdata", "hostile", name+".wat")
	out := filepath.Join(t.TempDir(), name+".wasm")
	if msg, err := exec.Command("wat2wasm", src, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s (install wabt): %v\n%s", src, err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

func (ts *testServer) putHook(name string, wasm []byte) map[string]any {
	ts.t.Helper()
	apptest.WarmHooks(ts.t, wasm)
	r := ts.do("PUT", "/api/hooks/"+name, wasm, "Content-Type", "application/wasm")
	if r.Status != 201 && r.Status != 200 {
		ts.t.Fatalf("PUT hook %s: %d %s", name, r.Status, r.Body)
	}
	return r.JSON(ts.t)
}

func hookedType(name, module string, stages ...string) string {
	var bindings []string
	for _, s := range stages {
		bindings = append(bindings, fmt.Sprintf(`{"stage":%q,"module":%q,"timeout_ms":1000}`, s, module))
	}
	return fmt.Sprintf(`{"name":%q,"schema":{"type":"object","required":["title"],"properties":{"title":{"type":"string"},"slug":{"type":"string"},"n":{"type":"integer"}}},"hooks":[%s]}`,
		name, strings.Join(bindings, ","))
}

// TestExampleHooksEveryLanguage runs the same example hook, written in five
// languages, through the server and checks that they behave identically.
func TestExampleHooksEveryLanguage(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testExampleHooksEveryLanguage)
}

func testExampleHooksEveryLanguage(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	results := map[string][]string{}
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			module := lang + "_titles"
			info := ts.putHook(module, exampleModule(t, lang))
			sha := info["sha256"].(string)
			typ := "posts_" + lang
			ts.defineType(hookedType(typ, module, "validate", "before_create", "before_update"))

			created := ts.must(201, "POST", "/api/"+typ, `{"title":"Hello, World! 2026","n":1}`).JSON(t)
			if dig(created, "data.slug") != "hello-world-2026" || dig(created, "data.n") != 1.0 {
				t.Fatalf("%s: created data = %v", lang, created["data"])
			}
			prov, _ := dig(created, "revision.hooks").([]any)
			if len(prov) != 2 {
				t.Fatalf("%s: provenance = %v", lang, prov)
			}
			for i, stage := range []string{"validate", "before_create"} {
				if dig(prov[i], "name") != module || dig(prov[i], "stage") != stage || dig(prov[i], "sha256") != sha {
					t.Fatalf("%s: provenance[%d] = %v, want %s/%s/%s", lang, i, prov[i], module, stage, sha)
				}
			}
			id := created["id"].(string)

			p := checkProblem(t, ts.do("POST", "/api/"+typ, `{"title":"STOP SHOUTING"}`), 422, "validation")
			errs := p["errors"].([]any)
			if dig(errs[0], "source") != module || dig(errs[0], "path") != "/title" || dig(errs[0], "message") != "title must not be all caps" {
				t.Fatalf("%s: rejection = %s", lang, mustJSON(p))
			}
			upd := ts.must(200, "PUT", "/api/"+typ+"/"+id, `{"title":"Caf\u00e9 \"Quoted\""}`).JSON(t)
			checkProblem(t, ts.do("PATCH", "/api/"+typ+"/"+id, `{"title":"LOUD"}`), 422, "validation")
			if n := ts.must(200, "GET", "/api/"+typ+"/count", nil).JSON(t)["count"]; n != 1.0 {
				t.Fatalf("%s: rejected writes were stored: count %v", lang, n)
			}
			results[lang] = []string{mustJSON(created["data"]), mustJSON(upd["data"]),
				mustJSON(dig(errs[0], "path")), mustJSON(dig(errs[0], "message")), fmt.Sprint(len(errs))}
		})
	}
	for _, lang := range languages[1:] {
		if fmt.Sprint(results[lang]) != fmt.Sprint(results[languages[0]]) {
			t.Errorf("%s behaves differently from %s:\n%v\n%v", lang, languages[0], results[lang], results[languages[0]])
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestHookFailures checks that a failing hook fails the write with 500
// hook_failed naming the hook, writes nothing, and leaves the server
// serving; and that failure_policy ignore lets the write through.
func TestHookFailures(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testHookFailures)
}

func testHookFailures(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	ts.putHook("titles", exampleModule(t, "wat"))
	ts.defineType(hookedType("plain", "titles", "validate"))

	cases := []struct {
		module  string
		timeout string
	}{
		{"loop", "100"},
		{"exptree", "100"},
		{"recursion", "100"},
		{"trap", "100"},
		{"garbage", "100"},
		{"status1", "100"},
		{"oob_output", "100"},
		{"grow_beyond", "100"},
		{"output_big", "100"},
	}
	for _, tc := range cases {
		t.Run(tc.module, func(t *testing.T) {
			ts.putHook(tc.module, hostileModule(t, tc.module))
			typ := "hostile_" + tc.module
			ts.defineType(fmt.Sprintf(`{"name":%q,"schema":{"type":"object"},"hooks":[{"stage":"validate","module":%q,"timeout_ms":%s}]}`, typ, tc.module, tc.timeout))
			start := time.Now()
			p := checkProblem(t, ts.do("POST", "/api/"+typ, `{"x":1}`), 500, "hook_failed")
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("hostile %s took %v", tc.module, took)
			}
			if !strings.Contains(p["detail"].(string), tc.module) {
				t.Fatalf("problem does not name the hook: %v", p["detail"])
			}
			if n := ts.must(200, "GET", "/api/"+typ+"/count", nil).JSON(t)["count"]; n != 0.0 {
				t.Fatalf("a failed hook let a write through: count %v", n)
			}
			// Others are still served, hooks included.
			ts.must(201, "POST", "/api/plain", `{"title":"still fine"}`)
		})
	}

	t.Run("missing module", func(t *testing.T) {
		// A type cannot bind a missing module, but its module can be
		// removed by force afterwards.
		ts.putHook("nowhere", exampleModule(t, "wat"))
		ts.defineType(hookedType("orphans", "nowhere", "before_create"))
		ts.must(204, "DELETE", "/api/hooks/nowhere?force=true", nil)
		p := checkProblem(t, ts.do("POST", "/api/orphans", `{"title":"x"}`), 500, "hook_failed")
		if !strings.Contains(p["detail"].(string), "nowhere") {
			t.Fatalf("detail = %v", p["detail"])
		}
	})
	t.Run("failure_policy ignore", func(t *testing.T) {
		ts.defineType(`{"name":"lenient","schema":{"type":"object"},"hooks":[{"stage":"validate","module":"loop","timeout_ms":50,"failure_policy":"ignore"},{"stage":"validate","module":"titles","timeout_ms":5000}]}`)
		res := ts.must(201, "POST", "/api/lenient", `{"title":"ok"}`).JSON(t)
		prov := dig(res, "revision.hooks").([]any)
		if len(prov) != 1 || dig(prov[0], "name") != "titles" {
			t.Fatalf("provenance = %v; the ignored hook must not be listed", prov)
		}
	})
	t.Run("concurrent runaway guests", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				checkProblem(t, ts.do("POST", "/api/hostile_exptree", `{"x":1}`), 500, "hook_failed")
			}()
		}
		start := time.Now()
		ts.must(200, "GET", "/healthz", nil)
		if took := time.Since(start); took > time.Second {
			t.Fatalf("healthz took %v while guests ran away", took)
		}
		wg.Wait()
	})
}

// TestHookModulesAPI covers PUT/GET/DELETE /api/hooks.
func TestHookModulesAPI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testHookModulesAPI)
}

func testHookModulesAPI(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	wasm := exampleModule(t, "c")
	r := ts.do("PUT", "/api/hooks/titles", wasm, "Content-Type", "application/wasm")
	if r.Status != 201 {
		t.Fatalf("first PUT: %d %s", r.Status, r.Body)
	}
	if r := ts.do("PUT", "/api/hooks/titles", exampleModule(t, "rust"), "Content-Type", "application/wasm"); r.Status != 200 {
		t.Fatalf("replacing PUT: %d %s", r.Status, r.Body)
	}
	items := ts.must(200, "GET", "/api/hooks", nil).JSON(t)["items"].([]any)
	if len(items) != 1 || dig(items[0], "name") != "titles" || dig(items[0], "size") != float64(len(exampleModule(t, "rust"))) {
		t.Fatalf("modules = %v", items)
	}
	ts.must(200, "GET", "/api/hooks/titles", nil)
	checkProblem(t, ts.do("PUT", "/api/hooks/bad", []byte("not wasm"), "Content-Type", "application/wasm"), 400, "bad_request")
	checkProblem(t, ts.do("PUT", "/api/hooks/evil", hostileModule(t, "evil_import"), "Content-Type", "application/wasm"), 400, "bad_request")
	checkProblem(t, ts.do("PUT", "/api/hooks/Bad Name", wasm, "Content-Type", "application/wasm"), 400, "bad_request")
	checkProblem(t, ts.do("PUT", "/api/hooks/x", wasm, "Content-Type", "application/octet-stream"), 415, "unsupported_media_type")
	ts.must(204, "DELETE", "/api/hooks/titles", nil)
	checkProblem(t, ts.do("DELETE", "/api/hooks/titles", nil), 404, "not_found")
	checkProblem(t, ts.do("GET", "/api/hooks/titles", nil), 404, "not_found")
}

// syncBuffer is a log sink safe for the server's goroutines. Each write
// wakes a wait on wrote.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	notify chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notify != nil {
		close(s.notify)
		s.notify = nil
	}
	return s.b.Write(p)
}

// wrote is closed at the next write.
func (s *syncBuffer) wrote() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notify == nil {
		s.notify = make(chan struct{})
	}
	return s.notify
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAfterHooks checks that after_* hooks run from the change log after
// the write, with their logs in the server log, and that their failures
// never change the response.
func TestAfterHooks(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testAfterHooks)
}

func testAfterHooks(t *testing.T, b apptest.Backend) {
	logs := &syncBuffer{}
	ts := newTestServerOn(t, b, func(o *serverOptions) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ts.putHook("titles", exampleModule(t, "go"))
	ts.putHook("trap", hostileModule(t, "trap"))
	ts.defineType(`{"name":"journal","schema":{"type":"object"},"hooks":[
		{"stage":"after_create","module":"titles","timeout_ms":5000},{"stage":"after_update","module":"titles","timeout_ms":5000},
		{"stage":"after_delete","module":"trap","timeout_ms":5000}]}`)
	id := ts.must(201, "POST", "/api/journal", `{"title":"after"}`, "X-Request-ID", "req-42").JSON(t)["id"].(string)
	ts.must(200, "PUT", "/api/journal/"+id, `{"title":"again"}`)
	ts.must(204, "DELETE", "/api/journal/"+id, nil)

	// A failure is counted before it is logged, and a hook's own log is
	// written to logs: each step toward the condition is followed by a
	// write, so waiting for writes misses none.
	deadline := time.After(10 * time.Second)
	for {
		wrote := logs.wrote()
		if ts.m.AfterHookFailures() >= 1 && strings.Count(logs.String(), "checked title") >= 2 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("after hooks did not run: %d failures, logs:\n%s", ts.m.AfterHookFailures(), logs)
		case <-wrote:
		}
	}
	if !strings.Contains(logs.String(), "hook=titles") {
		t.Fatalf("hook logs do not name the hook:\n%s", logs)
	}
}

// TestHookRunsOncePerWrite: a write runs each of its hooks once when
// nothing moved under it, the first write after a type change included.
// Over PostgreSQL the node's follower used to reload the types after the
// node's own type change, and a write committing meanwhile was staged
// again, its hooks run twice.
func TestHookRunsOncePerWrite(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testHookRunsOncePerWrite)
}

func testHookRunsOncePerWrite(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	ts.putHook("titles", exampleModule(t, "wat"))
	const types = 30
	for i := range types {
		typ := fmt.Sprintf("once_%d", i)
		ts.defineType(hookedType(typ, "titles", "validate"))
		ts.must(201, "POST", "/api/"+typ, `{"title":"right after the type"}`)
	}
	calls, _ := value(scrape(t, ts, "Bearer "+testAdminKey), "strata_hook_calls_total", map[string]string{"hook": "titles", "stage": "validate"})
	if calls != types {
		t.Fatalf("%d writes ran the validate hook %v times", types, calls)
	}
}
