package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// putModule registers wasm as name on the server at base.
func putModule(t *testing.T, base, name string, wasm []byte) {
	t.Helper()
	req, err := http.NewRequest("PUT", base+"/api/hooks/"+name, bytes.NewReader(wasm))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/wasm")
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT hook %s: %s", name, resp.Status)
	}
}

// TestHookReplayCommand replays, through strata hook replay, a candidate
// module and the registered one over a running server's writes.
func TestHookReplayCommand(t *testing.T) {
	p := startServer(t, t.TempDir(), noRateLimits...)
	allow, err := os.ReadFile(filepath.Join("..", "..", "hooks", "testdata", "allow.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	putModule(t, p.url, "titles", allow)
	if st, raw := call(t, "POST", p.url+"/api/types", `{"name":"posts","schema":{"type":"object"},"hooks":[{"stage":"validate","module":"titles","timeout_ms":5000}]}`); st != 201 {
		t.Fatalf("define type: %d %s", st, raw)
	}
	for i := range 20 {
		title := fmt.Sprintf("Post %d", i)
		if i%7 == 0 {
			title = fmt.Sprintf("LOUD %d", i) // the example hook rejects it
		}
		if st, raw := call(t, "POST", p.url+"/api/posts", fmt.Sprintf(`{"title":%q}`, title)); st != 201 {
			t.Fatalf("create: %d %s", st, raw)
		}
	}
	_, before := call(t, "GET", p.url+"/api/hooks/titles", "")
	cases := []struct {
		name   string
		args   []string
		exitOK bool
		want   []string
	}{
		{"candidate", []string{builtHook(t, "c"), "--name", "titles", "--type", "posts", "--last", "1000"}, false,
			[]string{"titles (sha256 ", "at validate over the last 20 writes of posts: 17 allowed, 3 rejected, 0 failed",
				"rejected posts/", "/title: title must not be all caps"}},
		{"candidate, last 6", []string{builtHook(t, "c"), "--name", "titles", "--type", "posts", "--last", "6"}, false,
			[]string{"over the last 6 writes of posts: 5 allowed, 1 rejected, 0 failed"}},
		{"registered module", []string{"--name", "titles", "--type", "posts", "--json"}, true,
			[]string{`"checked": 20`, `"allowed": 20`, `"rejected": 0`}},
		{"unknown type", []string{builtHook(t, "c"), "--type", "nope"}, false,
			[]string{"404 Not Found", `unknown type "nope"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(strataBin, append([]string{"hook", "replay", "--url", p.url}, tc.args...)...)
			cmd.Env = append(os.Environ(), "STRATA_TOKEN="+adminKey)
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.exitOK {
				t.Fatalf("exit %v, want ok=%v\n%s", err, tc.exitOK, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	if _, after := call(t, "GET", p.url+"/api/hooks/titles", ""); !bytes.Equal(before, after) {
		t.Fatalf("registered module changed by the replays: %s, was %s", after, before)
	}
}
