package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/server"
)

// FuzzRequests sends arbitrary methods, paths, content types and bodies
// through the whole HTTP stack over a real bolt file. No request may get a
// 5xx or panic, and every error must be problem+json.
func FuzzRequests(f *testing.F) {
	seeds := []struct{ method, path, ctype, body string }{
		{"POST", "/api/posts", "application/json", `{"title":"a","views":1}`},
		{"POST", "/api/posts", "application/json", `{"id":"fixed","title":"b"}`},
		{"PUT", "/api/posts/fixed", "application/json", `{"title":"c"}`},
		{"PATCH", "/api/posts/fixed", "application/json-patch+json", `[{"op":"add","path":"/tags","value":["x"]}]`},
		{"PATCH", "/api/posts/fixed", "application/merge-patch+json", `{"views":null}`},
		{"GET", "/api/posts/fixed?fields=title,a.b&returns=data", "", ""},
		{"GET", "/api/posts?limit=3&cursor=o.AAAA&sort=-created_at", "", ""},
		{"GET", "/api/posts/fixed/diff?from=1&to=2", "", ""},
		{"POST", "/api/posts/fixed/switch/1", "", ""},
		{"DELETE", "/api/posts/fixed?purge=true", "", ""},
		{"POST", "/api/batch", "application/json", `{"requests":[{"method":"POST","url":"/api/posts","body":{"title":"z"}}]}`},
		{"POST", "/api/types", "application/json", `{"name":"x1","schema":{"type":"object"},"unique":["a"]}`},
		{"PUT", "/api/types/posts", "application/json", `{"name":"posts","schema":{"type":"object"}}`},
		{"GET", "/api/changes?since=0&types=posts", "", ""},
		{"POST", "/api/posts", "application/json; charset=utf-8", `{"title":"\ud800"}`},
		{"GET", "/api/%zz", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.ctype, []byte(s.body))
	}
	ctx := context.Background()
	store, err := bolt.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"), storage.OpenOptions{})
	if err != nil {
		f.Fatal(err)
	}
	m, err := core.Open(ctx, store, core.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close(); store.Close() })
	app := server.New(m, server.Options{BodyLimit: 64 << 10}).NewApp()
	for _, def := range []string{usersType, postsType} {
		req := httptest.NewRequest("POST", "/api/types", strings.NewReader(def))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := app.Test(req, -1); err != nil || resp.StatusCode != 201 {
			f.Fatalf("define type: %v %v", err, resp)
		}
	}
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
	f.Fuzz(func(t *testing.T, method, path, ctype string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") || len(path) > 2048 {
			return
		}
		valid := false
		for _, m := range methods {
			valid = valid || m == method
		}
		if !valid {
			return
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			return // not a request a client could send
		}
		req := httptest.NewRequest(method, "http://strata.test"+path, bytes.NewReader(body))
		if ctype != "" && !strings.ContainsAny(ctype, "\r\n") {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := app.Test(req, 10_000)
		if err != nil {
			if strings.Contains(err.Error(), "timeout") {
				t.Fatalf("%s %s (%s) %q: no answer within 10s", method, path, ctype, body)
			}
			return // the request could not be written: nothing reached the server
		}
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s (%s) %q → %d %s", method, path, ctype, body, resp.StatusCode, raw)
		}
		if resp.StatusCode >= 400 && method != "HEAD" && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %s → %d with Content-Type %q", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
}
