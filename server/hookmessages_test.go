package server_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// watModule compiles the WebAssembly text src with wat2wasm. A missing
// wat2wasm fails the test.
func watModule(t testing.TB, src string) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("wat2wasm", in, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm (install wabt): %v\n%s\n%s", err, msg, src)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// answerModule is a hook that answers every call with the output
// envelope out, and whose _initialize runs init (WAT instructions).
func answerModule(t testing.TB, out, init string) []byte {
	t.Helper()
	esc := strings.ReplaceAll(strings.ReplaceAll(out, `\`, `\5c`), `"`, `\22`)
	return watModule(t, `(module
  (import "hook" "output_write" (func $w (param i32 i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "`+esc+`")
  (func (export "hook_abi_v1"))
  (func (export "_initialize") `+init+`)
  (func (export "hook_handle") (param i32) (result i32)
    (call $w (i32.const 0) (i32.const `+strconv.Itoa(len(out))+`))
    (i32.const 0)))`)
}

// TestHookMessagesNameTheHook checks that the failures of a hook through
// the shape of its output, or of its _initialize, name the hook and say
// what happened (SPEC §4: 500 hook_failed naming the hook), and that
// nothing is written.
func TestHookMessagesNameTheHook(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	deep := `{"title":"t","n":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`
	cases := []struct {
		name, stage, out, init string
		status                 int
		code, detail           string
	}{
		{name: "shape_array", stage: "before_create", out: `{"allow":true,"data":[1,2]}`,
			status: 500, code: "hook_failed", detail: "hook shape_array (before_create) failed: returned data that is not a JSON object"},
		{name: "shape_string", stage: "before_update", out: `{"allow":true,"data":"x"}`,
			status: 500, code: "hook_failed", detail: "hook shape_string (before_update) failed: returned data that is not a JSON object"},
		{name: "shape_id", stage: "before_update", out: `{"allow":true,"data":{"id":"another","title":"t"}}`,
			status: 500, code: "hook_failed", detail: "hook shape_id (before_update) failed: changed the id"},
		{name: "shape_deep", stage: "before_create", out: `{"allow":true,"data":` + deep + `}`,
			status: 500, code: "hook_failed", detail: "hook shape_deep (before_create) failed: returned data that cannot be stored: "},
		{name: "shape_exit", stage: "validate", out: `{"allow":true}`, init: "(call $exit (i32.const 0))",
			status: 400, code: "bad_request", detail: `"shape_exit": it cannot be instantiated (trap): _initialize exited with code 0`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wasm := answerModule(t, tc.out, tc.init)
			r := ts.do("PUT", "/api/hooks/"+tc.name, wasm, "Content-Type", "application/wasm")
			if tc.status == 400 {
				p := checkProblem(t, r, tc.status, tc.code)
				if d, _ := p["detail"].(string); !strings.Contains(d, tc.detail) {
					t.Fatalf("detail %q, want it to say %q", d, tc.detail)
				}
				ts.must(http.StatusNotFound, "GET", "/api/hooks/"+tc.name, nil)
				return
			}
			if r.Status != http.StatusCreated {
				t.Fatalf("PUT: %d %s", r.Status, r.Body)
			}
			typ := "t_" + tc.name
			ts.defineType(hookedType(typ, tc.name, tc.stage))
			path := "/api/" + typ
			if tc.stage == "before_update" {
				// The hook runs on updates only: create first, then update.
				id := ts.must(http.StatusCreated, "POST", path, `{"title":"first"}`).JSON(t)["id"].(string)
				path += "/" + id
				p := checkProblem(t, ts.do("PUT", path, `{"title":"second"}`), tc.status, tc.code)
				if d, _ := p["detail"].(string); !strings.Contains(d, tc.detail) {
					t.Fatalf("detail %q, want it to say %q", d, tc.detail)
				}
				if got := ts.must(http.StatusOK, "GET", path, nil).JSON(t); dig(got, "data.title") != "first" {
					t.Fatalf("the failed update was written: %v", got)
				}
				return
			}
			p := checkProblem(t, ts.do("POST", path, `{"title":"first"}`), tc.status, tc.code)
			if d, _ := p["detail"].(string); !strings.Contains(d, tc.detail) {
				t.Fatalf("detail %q, want it to say %q", d, tc.detail)
			}
			if got := ts.must(http.StatusOK, "GET", path+"/count", nil).JSON(t); got["count"] != 0.0 {
				t.Fatalf("the failed create was written: %v", got)
			}
		})
	}
}
