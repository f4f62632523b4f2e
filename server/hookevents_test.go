package server_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// outputModule assembles, with wat2wasm, a hook module that answers
// output whatever its input.
func outputModule(t testing.TB, output string) []byte {
	t.Helper()
	var data strings.Builder
	for i := 0; i < len(output); i++ {
		if c := output[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&data, `\%02x`, c)
		} else {
			data.WriteByte(c)
		}
	}
	wat := fmt.Sprintf(`(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "%s")
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (call $output_write (i32.const 0) (i32.const %d))
    (i32.const 0)))
`, data.String(), len(output))
	dir := t.TempDir()
	src, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(src, []byte(wat), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("wat2wasm", src, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm (install wabt): %v\n%s", err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// hookEntry is a change entry as /api/changes and /api/events send it,
// with the event a hook published.
type hookEntry struct {
	Seq      uint64 `json:"seq"`
	Type     string `json:"type"`
	ID       string `json:"id"`
	Action   string `json:"action"`
	Revision int    `json:"revision"`
	By       string `json:"by"`
	Event    *struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	} `json:"event"`
	Resource json.RawMessage `json:"resource"`
}

// short is "action type/id rev", and for an event its type and data.
func (e hookEntry) short() string {
	s := fmt.Sprintf("%s %s/%s %d", e.Action, e.Type, e.ID, e.Revision)
	if e.Event != nil {
		s += " " + e.Event.Type + " " + string(e.Event.Data)
	}
	return s
}

// TestHookEventsHTTP: the events a WebAssembly hook returns are in the
// change log after the write's entry, delivered by GET /api/changes and
// GET /api/events (`event: event`, the event in the data, no resource)
// to whoever may read the resource (owner-only: its owner); a write that a
// later hook rejects, that a hook fails, or whose events break the limits
// publishes none; the search index passes over them.
func TestHookEventsHTTP(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.putHook("emit", outputModule(t, `{"allow":true,"events":[{"type":"diary.written","data":{"words":3}},{"type":"diary.tagged","data":["a","b"]}]}`))
	ts.putHook("refuse", outputModule(t, `{"allow":false,"errors":[{"path":"/text","message":"no"}],"events":[{"type":"refused","data":1}]}`))
	ts.putHook("toolong", outputModule(t, `{"allow":true,"events":[{"type":"`+strings.Repeat("t", 129)+`"}]}`))
	ts.putHook("after", outputModule(t, `{"allow":true}`))
	ts.putHook("trap", hostileModule(t, "trap"))
	ts.defineType(`{"name":"diaries","schema":{"type":"object","properties":{"text":{"type":"string"}}},
	  "permissions":{"read":["owner"],"create":["authenticated"],"update":["owner"],"delete":["owner"]},
	  "hooks":[{"stage":"before_create","module":"emit"},{"stage":"after_create","module":"after"}]}`)
	for _, name := range []string{"refuse", "trap", "toolong"} {
		ts.defineType(fmt.Sprintf(`{"name":"with_%s","schema":{"type":"object"},
		  "hooks":[{"stage":"validate","module":"emit"},{"stage":"before_create","module":%q}]}`, name, name))
	}
	key := func(name string) string {
		return ts.must(201, "POST", "/api/keys", map[string]any{"name": name, "roles": []string{"writer"}}).JSON(t)["token"].(string)
	}
	alice, bob := key("alice"), key("bob")
	auth := func(token string) []string { return []string{"Authorization", "Bearer " + token} }

	before := ts.m.LastSeq()
	sa := ts.openEvents("/api/events", alice)
	sb := ts.openEvents("/api/events?types=diaries", bob)
	sa.connected()
	sb.connected()
	ts.must(201, "POST", "/api/diaries", `{"id":"a1","text":"x"}`, auth(alice)...)
	ts.must(201, "POST", "/api/diaries", `{"id":"b1","text":"x"}`, auth(bob)...)
	for _, tc := range []struct {
		typ    string
		status int
		code   string
	}{{"with_refuse", 422, "validation"}, {"with_trap", 500, "hook_failed"}, {"with_toolong", 500, "hook_failed"}} {
		r := ts.must(tc.status, "POST", "/api/"+tc.typ, `{}`)
		if p := r.JSON(t); p["type"] != "urn:strata:problem:"+tc.code {
			t.Fatalf("%s: %v", tc.typ, p)
		}
	}
	ts.must(201, "POST", "/api/diaries", `{"id":"a2","text":"x"}`, auth(alice)...)

	events := func(id string) []string {
		return []string{"create diaries/" + id + " 1",
			"event diaries/" + id + ` 1 diary.written {"words":3}`,
			"event diaries/" + id + ` 1 diary.tagged ["a","b"]`}
	}
	// The change log, as an administrator reads it: nothing of the
	// refused writes.
	var page struct {
		Items []hookEntry `json:"items"`
	}
	r := ts.must(200, "GET", fmt.Sprintf("/api/changes?since=%d", before), nil)
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, e := range page.Items {
		got = append(got, e.short())
		if i > 0 && e.Action == "event" && (e.By != page.Items[i-1].By || e.By == "") {
			t.Fatalf("event %+v is not by the writer", e)
		}
	}
	want := slices.Concat(events("a1"), events("b1"), events("a2"))
	if !slices.Equal(got, want) {
		t.Fatalf("change log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// An owner-only type is not in alice's /api/changes, events included.
	if r := ts.must(200, "GET", fmt.Sprintf("/api/changes?since=%d", before), nil, auth(alice)...); strings.Contains(string(r.Body), "diary.") {
		t.Fatalf("alice's /api/changes shows events of an owner-only type: %s", r.Body)
	}

	// The feed: each sees the events of its own resources, as `event`.
	check := func(s *sseStream, who string, want []string) {
		t.Helper()
		for _, w := range want {
			ev := s.must()
			var e hookEntry
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
				t.Fatalf("%s: %v\n%s", who, err, ev.Data)
			}
			if e.short() != w || ev.Event != e.Action || ev.ID != fmt.Sprint(e.Seq) {
				t.Fatalf("%s got %s (event: %s, id: %s), want %s", who, e.short(), ev.Event, ev.ID, w)
			}
			if (e.Action == "event") != (e.Resource == nil) {
				t.Fatalf("%s: %s with resource %s", who, w, e.Resource)
			}
		}
	}
	check(sa, "alice", slices.Concat(events("a1"), events("a2")))
	check(sb, "bob", events("b1"))

	// The index went past the events: a search that waits for it to reach
	// the last entry answers.
	r = ts.must(200, "GET", "/api/diaries?filter="+url.QueryEscape(`text = "x"`)+"&total=true", nil)
	if n := r.JSON(t)["total"]; n != float64(3) {
		t.Fatalf("search total %v, want 3", n)
	}
}
