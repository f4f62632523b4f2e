package server_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/server"
)

// noXReject is what the noX module answers a title holding an x.
const noXReject = `{"allow":false,"errors":[{"path":"/title","message":"no x in titles"}]}`

// noXModule is a hook that rejects a title holding the letter x: it finds
// the first "title":" of the input envelope (the data's, which comes
// before previous) and scans the string that follows.
func noXModule(t testing.TB) []byte {
	t.Helper()
	return watModule(t, `(module
  (import "hook" "input_read" (func $read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $w (param i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "\22title\22:\22")
  (data (i32.const 16) "{\22allow\22:true}")
  (data (i32.const 32) "`+strings.ReplaceAll(noXReject, `"`, `\22`)+`")
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (local $i i32) (local $j i32) (local $end i32)
    (if (i32.gt_u (local.get $len) (i32.const 60000)) (then (return (i32.const 1))))
    (drop (call $read (i32.const 1024) (local.get $len)))
    (local.set $end (i32.add (i32.const 1024) (local.get $len)))
    (local.set $i (i32.const 1024))
    (block $notfound
      (block $found
        (loop $scan
          (br_if $notfound (i32.gt_u (i32.add (local.get $i) (i32.const 9)) (local.get $end)))
          (local.set $j (i32.const 0))
          (block $mismatch
            (loop $cmp
              (br_if $found (i32.eq (local.get $j) (i32.const 9)))
              (br_if $mismatch (i32.ne (i32.load8_u (i32.add (local.get $i) (local.get $j)))
                                       (i32.load8_u (local.get $j))))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $cmp)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $scan)))
      (local.set $i (i32.add (local.get $i) (i32.const 9)))
      (block $done
        (loop $title
          (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
          (br_if $done (i32.eq (i32.load8_u (local.get $i)) (i32.const 34)))
          (if (i32.eq (i32.load8_u (local.get $i)) (i32.const 120))
            (then
              (call $w (i32.const 32) (i32.const `+strconv.Itoa(len(noXReject))+`))
              (return (i32.const 0))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $title))))
    (call $w (i32.const 16) (i32.const 14))
    (i32.const 0)))`)
}

// replayWrite is one write the replay test made, newest last.
type replayWrite struct {
	id     string
	rev    int
	update bool
	x      bool // the title written holds an x
}

// writeReplayData makes n writes to typ: creates, and updates of the
// resources created, some of whose titles hold an x.
func writeReplayData(t *testing.T, ts *testServer, typ string, n int) []replayWrite {
	t.Helper()
	var writes []replayWrite
	var ids []string
	revs := map[string]int{}
	for i := range n {
		title := fmt.Sprintf("post %d", i)
		if i%7 == 3 || i%11 == 5 {
			title = fmt.Sprintf("post x %d", i)
		}
		body := fmt.Sprintf(`{"title":%q,"n":%d}`, title, i)
		w := replayWrite{x: strings.Contains(title, "x")}
		if i%5 == 4 && len(ids) > 0 {
			w.id, w.update = ids[(i*31)%len(ids)], true
			ts.must(http.StatusOK, "PUT", "/api/"+typ+"/"+w.id, body)
		} else {
			w.id = ts.must(http.StatusCreated, "POST", "/api/"+typ, body).JSON(t)["id"].(string)
			ids = append(ids, w.id)
		}
		revs[w.id]++
		w.rev = revs[w.id]
		writes = append(writes, w)
	}
	return writes
}

// expectReplay counts what noX should report over the newest last of
// writes, of the updates only if updates.
func expectReplay(writes []replayWrite, last int, updates bool) (checked, rejected int) {
	for i := len(writes) - 1; i >= 0 && checked < last; i-- {
		if updates && !writes[i].update {
			continue
		}
		checked++
		if writes[i].x {
			rejected++
		}
	}
	return checked, rejected
}

// TestReplay replays candidate modules and the registered one over known
// writes through POST /api/hooks/{name}/replay, and checks the counts,
// the samples, that nothing is written and that the registered module is
// neither replaced nor joined by the candidate.
func TestReplay(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	bound := ts.putHook("titles", exampleModule(t, "wat"))
	ts.defineType(hookedType("posts", "titles", "validate"))
	writes := writeReplayData(t, ts, "posts", 500)
	noX, trap := noXModule(t), hostileModule(t, "trap")
	seq := ts.m.LastSeq()

	cases := []struct {
		name   string
		module []byte
		query  string
		// want: checked, allowed, rejected, failed
		want    [4]int
		sha     string
		failure string // a failure sample's message holds it
	}{}
	add := func(name string, module []byte, query string, last int, updates bool) {
		checked, rejected := expectReplay(writes, last, updates)
		cases = append(cases, struct {
			name    string
			module  []byte
			query   string
			want    [4]int
			sha     string
			failure string
		}{name: name, module: module, query: query, want: [4]int{checked, checked - rejected, rejected, 0}})
	}
	add("candidate over all", noX, "type=posts&last=1000", 1000, false)
	add("candidate over the last 100", noX, "type=posts&last=100", 100, false)
	add("candidate default last", noX, "type=posts", 100, false)
	add("candidate over updates", noX, "type=posts&stage=before_update&last=10000", 10000, true)
	cases = append(cases, struct {
		name    string
		module  []byte
		query   string
		want    [4]int
		sha     string
		failure string
	}{name: "trapping candidate", module: trap, query: "type=posts&last=250", want: [4]int{250, 0, 0, 250},
		failure: "hook titles (validate) failed: hooks: hook titles failed (trap): wasm error: unreachable"})
	cases = append(cases, struct {
		name    string
		module  []byte
		query   string
		want    [4]int
		sha     string
		failure string
	}{name: "registered module", module: nil, query: "type=posts&last=1000", want: [4]int{500, 500, 0, 0}, sha: bound["sha256"].(string)})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			headers := []string{}
			if tc.module != nil {
				body = tc.module
				headers = []string{"Content-Type", "application/wasm"}
			}
			rep := ts.must(http.StatusOK, "POST", "/api/hooks/titles/replay?"+tc.query, body, headers...).JSON(t)
			got := [4]int{int(rep["checked"].(float64)), int(rep["allowed"].(float64)), int(rep["rejected"].(float64)), int(rep["failed"].(float64))}
			if got != tc.want {
				t.Fatalf("checked, allowed, rejected, failed = %v, want %v\n%v", got, tc.want, rep)
			}
			if rep["hook"] != "titles" || rep["type"] != "posts" || rep["truncated"] != false {
				t.Fatalf("report %v", rep)
			}
			if tc.sha != "" && rep["sha256"] != tc.sha {
				t.Fatalf("sha256 %v, want the registered module's %s", rep["sha256"], tc.sha)
			}
			per := map[string]int{}
			for _, raw := range rep["samples"].([]any) {
				s := raw.(map[string]any)
				per[s["outcome"].(string)]++
				if s["id"] == "" || s["revision"].(float64) < 1 {
					t.Fatalf("sample %v", s)
				}
				switch s["outcome"] {
				case "rejected":
					e := s["errors"].([]any)[0].(map[string]any)
					if e["path"] != "/title" || e["message"] != "no x in titles" || e["source"] != "titles" {
						t.Fatalf("rejected sample %v", s)
					}
				case "failed":
					e := s["errors"].([]any)[0].(map[string]any)
					if msg, _ := e["message"].(string); !strings.Contains(msg, tc.failure) || e["source"] != "titles" {
						t.Fatalf("failed sample %v, want it to say %q", s, tc.failure)
					}
				}
			}
			for i, outcome := range []string{"allowed", "rejected", "failed"} {
				if want := min(tc.want[i+1], 5); per[outcome] != want {
					t.Fatalf("%d %s samples, want %d: %v", per[outcome], outcome, want, rep["samples"])
				}
			}
		})
	}

	// Nothing was written, and the registered module is the same and alone.
	if got := ts.m.LastSeq(); got != seq {
		t.Fatalf("change log at %d after the replays, want %d", got, seq)
	}
	mods := ts.must(http.StatusOK, "GET", "/api/hooks", nil).JSON(t)["items"].([]any)
	if len(mods) != 1 || mods[0].(map[string]any)["sha256"] != bound["sha256"] {
		t.Fatalf("modules after the replays: %v, want only titles %s", mods, bound["sha256"])
	}
	// The registered module still runs.
	checkProblem(t, ts.do("POST", "/api/posts", `{"title":"LOUD"}`), http.StatusUnprocessableEntity, "validation")
}

// TestReplayRefusals checks the replays refused, and how.
func TestReplayRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.putHook("titles", exampleModule(t, "wat"))
	ts.defineType(hookedType("posts", "titles", "validate"))
	wasm := []string{"Content-Type", "application/wasm"}
	cases := []struct {
		name, path string
		body       any
		headers    []string
		status     int
		code       string
		detail     string
	}{
		{"no type", "/api/hooks/titles/replay", nil, nil, 400, "bad_request", "name the type"},
		{"unknown type", "/api/hooks/titles/replay?type=nope", nil, nil, 404, "not_found", "nope"},
		{"stage not replayable", "/api/hooks/titles/replay?type=posts&stage=after_create", nil, nil, 400, "bad_request", "not \"after_create\""},
		{"too many", "/api/hooks/titles/replay?type=posts&last=10001", nil, nil, 400, "bad_request", "1 to 10000 revisions"},
		{"none", "/api/hooks/titles/replay?type=posts&last=-1", nil, nil, 400, "bad_request", "1 to 10000 revisions"},
		{"last not a number", "/api/hooks/titles/replay?type=posts&last=lots", nil, nil, 400, "bad_request", "last"},
		{"unknown module", "/api/hooks/nope/replay?type=posts", nil, nil, 404, "not_found", "no hook module nope"},
		{"not a module", "/api/hooks/titles/replay?type=posts", []byte("not wasm"), wasm, 400, "bad_request", `invalid candidate module: hooks: invalid module "titles": `},
		{"candidate that cannot run", "/api/hooks/titles/replay?type=posts", hostileModule(t, "init_trap"), wasm, 400, "bad_request",
			`invalid candidate module: hooks: invalid module "titles": it cannot be instantiated (trap)`},
		{"wrong media type", "/api/hooks/titles/replay?type=posts", []byte("\x00asm"), []string{"Content-Type", "application/octet-stream"}, 415, "unsupported_media_type", "application/wasm"},
		{"anonymous", "/api/hooks/titles/replay?type=posts", nil, []string{"Authorization", ""}, 401, "unauthorized", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := checkProblem(t, ts.do("POST", tc.path, tc.body, tc.headers...), tc.status, tc.code)
			if d, _ := p["detail"].(string); !strings.Contains(d, tc.detail) {
				t.Fatalf("detail %q, want it to say %q", d, tc.detail)
			}
		})
	}
	if mods := ts.must(http.StatusOK, "GET", "/api/hooks", nil).JSON(t)["items"].([]any); len(mods) != 1 {
		t.Fatalf("modules after refused replays: %v", mods)
	}
}

// TestReplayDeadline replays a module that loops over every write under a
// short route deadline: the replay stops before the deadline and answers
// with what it checked, marked truncated, instead of timing out.
func TestReplayDeadline(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *server.Options) { o.HookRegisterTimeout = 3 * time.Second })
	ts.putHook("titles", exampleModule(t, "wat"))
	ts.defineType(hookedType("posts", "titles", "validate"))
	for i := range 20 {
		ts.must(http.StatusCreated, "POST", "/api/posts", fmt.Sprintf(`{"title":"post %d"}`, i))
	}
	rep := ts.must(http.StatusOK, "POST", "/api/hooks/titles/replay?type=posts", hostileModule(t, "loop"), "Content-Type", "application/wasm").JSON(t)
	if rep["truncated"] != true || rep["checked"].(float64) >= 20 || rep["failed"] != rep["checked"] {
		t.Fatalf("report %v, want it truncated before the 20 writes, each failed", rep)
	}
	if mods := ts.must(http.StatusOK, "GET", "/api/hooks", nil).JSON(t)["items"].([]any); len(mods) != 1 {
		t.Fatalf("modules after the replay: %v", mods)
	}
}

// TestReplayOutcomes checks how a replay counts what a module answers,
// as the write would have taken it: data a before_* hook returns that the
// schema refuses is a rejection; data that is not an object or changes
// the id, or invalid events, a failure.
func TestReplayOutcomes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.putHook("titles", exampleModule(t, "wat"))
	ts.defineType(hookedType("posts", "titles", "before_create"))
	for i := range 6 {
		ts.must(http.StatusCreated, "POST", "/api/posts", fmt.Sprintf(`{"title":"post %d"}`, i))
	}
	cases := []struct {
		name, stage, out string
		outcome, message string
	}{
		{"allowed", "before_create", `{"allow":true,"data":{"title":"fine"}}`, "allowed", ""},
		{"schema refuses the data", "before_create", `{"allow":true,"data":{"title":5}}`, "rejected", "string"},
		{"data not an object", "before_create", `{"allow":true,"data":[1]}`, "failed",
			"hook titles (before_create) failed: returned data that is not a JSON object"},
		{"id changed", "before_create", `{"allow":true,"data":{"id":"other","title":"t"}}`, "failed",
			"hook titles (before_create) failed: changed the id"},
		{"data ignored at validate", "validate", `{"allow":true,"data":[1]}`, "allowed", ""},
		{"invalid event", "validate", `{"allow":true,"events":[{"type":"a\u0007b"}]}`, "failed",
			"hook titles (validate) failed: invalid events"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := ts.must(http.StatusOK, "POST", "/api/hooks/titles/replay?type=posts&stage="+tc.stage,
				answerModule(t, tc.out, ""), "Content-Type", "application/wasm").JSON(t)
			if rep["checked"] != 6.0 || rep[tc.outcome] != 6.0 {
				t.Fatalf("report %v, want the 6 writes %s", rep, tc.outcome)
			}
			s := rep["samples"].([]any)[0].(map[string]any)
			if tc.message == "" {
				return
			}
			e := s["errors"].([]any)[0].(map[string]any)
			if msg, _ := e["message"].(string); !strings.Contains(msg, tc.message) {
				t.Fatalf("sample %v, want it to say %q", s, tc.message)
			}
		})
	}
}
