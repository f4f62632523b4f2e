package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/server"
	"github.com/strata-dev/strata/server/ui"
)

// TestAdminUIServed checks how the admin UI's pages and files are served:
// the strict headers, gzip with an ETag per encoding and 304 on a match,
// the UI's page for any other name under /_/, and nothing else reachable.
func TestAdminUIServed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	get := func(path string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		// A transport of its own: Go's would ask for gzip and undo it.
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `href="/_/"`},
		{"/_/", "text/html; charset=utf-8", `src="/_/app.js"`},
		{"/_", "text/html; charset=utf-8", `src="/_/app.js"`},
		{"/_/?x=1", "text/html; charset=utf-8", `src="/_/app.js"`},
		{"/_/app.js", "text/javascript; charset=utf-8", "hashchange"},
		{"/_/style.css", "text/css; charset=utf-8", ":focus-visible"},
		{"/_/landing.js", "text/javascript; charset=utf-8", "/readyz"},
		{"/_/no-such-page", "text/html; charset=utf-8", `src="/_/app.js"`}, // the page routes by fragment
		{"/_/..%2fui.go", "text/html; charset=utf-8", `src="/_/app.js"`},
		{"/_/index.html", "text/html; charset=utf-8", `src="/_/app.js"`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp := get(tc.path)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.ctype || !bytes.Contains(body, []byte(tc.contains)) {
				t.Fatalf("%s: %d %s, want 200 %s with %q\n%.300s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.ctype, tc.contains, body)
			}
			for h, want := range map[string]string{"Content-Security-Policy": ui.CSP, "X-Frame-Options": "DENY",
				"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s: %s %q, want %q", tc.path, h, got, want)
				}
			}
			if strings.Contains(string(body), "%BASE%") {
				t.Errorf("%s: the base placeholder is left in", tc.path)
			}
		})
	}

	plain := get("/_/app.js")
	plainBody, _ := io.ReadAll(plain.Body)
	gz := get("/_/app.js", "Accept-Encoding", "gzip, deflate")
	if gz.Header.Get("Content-Encoding") != "gzip" || gz.Header.Get("ETag") == plain.Header.Get("ETag") || !strings.Contains(gz.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("gzip answer: Content-Encoding %q, ETag %q (plain %q), Vary %q", gz.Header.Get("Content-Encoding"), gz.Header.Get("ETag"), plain.Header.Get("ETag"), gz.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, plainBody) {
		t.Fatal("the gzipped file is not the file")
	}
	if r := get("/_/app.js", "Accept-Encoding", "gzip;q=0"); r.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip sent to a client that refuses it")
	}
	for _, tc := range []struct{ enc, tag string }{{"", plain.Header.Get("ETag")}, {"gzip", gz.Header.Get("ETag")}} {
		r := get("/_/app.js", "Accept-Encoding", tc.enc, "If-None-Match", tc.tag)
		if r.StatusCode != http.StatusNotModified || r.Header.Get("Content-Encoding") != "" {
			t.Fatalf("If-None-Match %s (Accept-Encoding %q): %d, Content-Encoding %q; want 304 with none", tc.tag, tc.enc, r.StatusCode, r.Header.Get("Content-Encoding"))
		}
	}
	if r := get("/_/app.js", "If-None-Match", gz.Header.Get("ETag")); r.StatusCode != 200 {
		t.Fatalf("the gzip ETag matched the plain file: %d", r.StatusCode)
	}
	// Under a group, the pages address their files and the API there.
	host := fiber.New()
	server.New(ts.m, server.Options{}).Mount(host.Group("/strata"))
	for path, want := range map[string]string{
		"/strata/":    `<meta name="strata-base" content="/strata">`,
		"/strata/_/":  `src="/strata/_/app.js"`,
		"/strata/_/x": `href="/strata/_/style.css"`,
	} {
		resp, err := host.Test(httptest.NewRequest("GET", path, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(want)) {
			t.Errorf("GET %s under a group: %d, want 200 with %q\n%.400s", path, resp.StatusCode, want, body)
		}
	}
	// The API is untouched: an unknown path under /api is still a problem.
	if r := get("/api/nosuchtype", "Authorization", "Bearer "+testAdminKey); r.StatusCode != 404 || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("GET /api/nosuchtype: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
}

// uiTestDir holds the browser test (browser.mjs) and its pinned
// playwright-core, installed by `make ui-browser`, which `make test` runs.
const uiTestDir = "testdata/ui"

// chromiumPath is Debian's Chromium, which the browser test drives.
const chromiumPath = "/usr/bin/chromium"

// TestAdminUIBrowser drives the admin UI in a real browser (Chromium via
// playwright-core) against a live server through the whole flow of issue
// 16: sign in, define a type in the editor, create, fail validation, fix,
// edit, diff, switch, filter (and fail), delete and restore, upload a bad
// hook module and a good one (its calls then counted), keys, the live feed; it checks keyboard reach, labels, the
// absence of console errors and of script injection, saves screenshots
// under build/screenshots, and reports the load size, the time to
// interactive and the time to render 1,000 rows (testdata/ui/browser.mjs).
func TestAdminUIBrowser(t *testing.T) {
	t.Parallel()
	node := nodePackage(t, uiTestDir, "playwright-core", "ui-browser")
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; run `make ui-browser`", chromiumPath)
		}
		t.Skipf("%s is not installed; run `make ui-browser`", chromiumPath)
	}
	ts := newTestServer(t)
	ts.defineType(`{"name":"people","schema":{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}},"search":["name"]}`)
	ts.must(http.StatusCreated, "POST", "/api/people", `{"id":"ada","name":"Ada Lovelace"}`)
	// 1,000 rows for the table's render time, in one batch.
	ts.defineType(`{"name":"bulk","schema":{"type":"object","properties":{"title":{"type":"string"},"n":{"type":"integer"},"done":{"type":"boolean"},"note":{"type":"string"}}}}`)
	reqs := make([]map[string]any, 1000)
	for i := range reqs {
		reqs[i] = map[string]any{"method": "POST", "url": "/api/bulk", "body": map[string]any{
			"title": fmt.Sprintf("row %04d", i), "n": i, "done": i%3 == 0, "note": strings.Repeat("lorem ipsum ", 3)}}
	}
	ts.must(http.StatusOK, "POST", "/api/batch", map[string]any{"requests": reqs})

	shots, err := filepath.Abs(filepath.Join("..", "build", "screenshots"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(t.TempDir(), "junk.wasm")
	if err := os.WriteFile(wasm, bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0x61}, 200), 0o644); err != nil {
		t.Fatal(err)
	}

	good := filepath.Join(t.TempDir(), "titles.wasm")
	if err := os.WriteFile(good, exampleModule(t, "wat"), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute) // a hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "browser.mjs")
	cmd.Dir = uiTestDir
	cmd.Env = append(os.Environ(), "STRATA_URL="+ts.URL, "STRATA_KEY="+testAdminKey, "CHROMIUM="+chromiumPath,
		"SCREENSHOTS="+shots, "BAD_WASM="+wasm, "GOOD_WASM="+good)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	var figures map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "FIGURES "); ok {
			_ = json.Unmarshal([]byte(line), &figures)
		}
	}
	if runErr != nil {
		t.Fatalf("the browser test: %v\n%s", runErr, out.String())
	}
	t.Logf("%s", out.String())
	if figures == nil {
		t.Fatal("the browser test printed no figures")
	}
	t.Logf("first load of /_/: %v bytes transferred (gzip) in %v requests, interactive after %v ms", figures["load_bytes"], figures["load_requests"], figures["interactive_ms"])
	t.Logf("1,000 rows: DOM built in %v ms, longest task %v ms; %v ms from submit to rows in the page (the API answered in %v ms, %v bytes), %v ms from the click as the test saw it",
		figures["render_1000_ms"], figures["longest_task_1000_ms"], figures["load_1000_ms"], figures["api_1000_ms"], figures["api_1000_bytes"], figures["rows_1000_ms"])
	// The size does not depend on the machine's load; the times do, and
	// are reported, not asserted.
	if b, _ := figures["load_bytes"].(float64); b <= 0 || b > 300*1024 {
		t.Errorf("first load of /_/ transferred %v bytes, over 300 KB", figures["load_bytes"])
	}
}
