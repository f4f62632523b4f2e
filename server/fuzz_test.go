package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/server"
)

// FuzzRequests sends arbitrary methods, paths, content types, bodies,
// credentials and headers through the whole HTTP stack over a real bolt
// file and search index. No request may get a 5xx or panic, every error
// must be problem+json, and afterwards storage must be consistent.
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
	for i, s := range seeds {
		f.Add(s.method, s.path, s.ctype, []byte(s.body), uint8(i), "X-Request-ID", "r1")
	}
	f.Add("GET", "/api/notes?filter=text~%22a%22&total=true", "", []byte(nil), uint8(2), "If-None-Match", `"x:1"`)
	f.Add("POST", "/api/notes", "application/json", []byte(`{"text":"n"}`), uint8(3), "Authorization", "Bearer sk_bad_x")
	f.Add("POST", "/api/keys", "application/json", []byte(`{"name":"k","roles":["r"]}`), uint8(1), "Origin", "http://x")
	ctx := context.Background()
	env := apptest.New(f, apptest.WithIndex(), apptest.WithApp(func(c *app.Config) {
		c.Auth = auth.Config{AdminKey: testAdminKey}
		c.Server = fuzzServerOptions()
	}))
	m := env.Manager
	// Runs before the Env's own cleanup, registered earlier, closes it.
	f.Cleanup(func() { checkConsistent(f, m) })
	keys := auth.NewKeys(env.Store)
	// Credentials a fuzzed request may carry: none, the admin key, keys
	// with and without roles, and a forged one.
	tokens := []string{"", "Bearer " + testAdminKey, "", "", "Bearer sk_0193aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa_forged"}
	for i, roles := range [][]string{{"editor"}, {}} {
		_, tok, err := keys.Create(ctx, "fuzz", roles, core.Principal{})
		if err != nil {
			f.Fatal(err)
		}
		tokens[2+i] = "Bearer " + tok
	}
	app := env.App.Server().NewApp()
	for _, def := range []string{usersType, postsType, notesType} {
		req := httptest.NewRequest("POST", "/api/types", strings.NewReader(def))
		req.Header.Set("Authorization", tokens[1])
		req.Header.Set("Content-Type", "application/json")
		if resp, err := app.Test(req, -1); err != nil || resp.StatusCode != 201 {
			f.Fatalf("define type: %v %v", err, resp)
		}
	}
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
	f.Fuzz(func(t *testing.T, method, path, ctype string, body []byte, who uint8, hname, hval string) {
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
		if tok := tokens[int(who)%len(tokens)]; tok != "" {
			req.Header.Set("Authorization", tok)
		}
		if validHeader(hname, hval) && !strings.EqualFold(hname, "Content-Length") && !strings.EqualFold(hname, "Transfer-Encoding") && !strings.EqualFold(hname, "Host") {
			req.Header.Set(hname, hval)
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

// fuzzServerOptions are the options of the fuzzed server.
func fuzzServerOptions() server.Options {
	// Rate limits off: every fuzzed request comes from one address.
	return server.Options{BodyLimit: 64 << 10, RateLimit: server.RateLimit{IPRate: -1, PrincipalRate: -1}}
}

// validHeader reports whether a header could be sent by an HTTP client.
func validHeader(name, value string) bool {
	if name == "" || len(name) > 64 || len(value) > 1024 {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	return !strings.ContainsAny(value, "\r\n\x00")
}

// checkConsistent walks every type: each listed resource reads back at
// its current revision with its revisions complete, and the counters
// agree with the lists.
func checkConsistent(t testing.TB, m *core.Manager) {
	ctx := core.AsSystem(context.Background())
	for _, typ := range m.Types() {
		seen, live := 0, 0
		cursor := ""
		for {
			page, err := m.List(ctx, typ.Name, core.ListOptions{Limit: 1000, Cursor: cursor, IncludeDeleted: true})
			if err != nil {
				t.Fatalf("list %s: %v", typ.Name, err)
			}
			for _, res := range page.Items {
				seen++
				if !res.Meta.Deleted {
					live++
				}
				got, err := m.Get(ctx, typ.Name, res.ID, core.GetOptions{IncludeDeleted: true})
				if err != nil || got.Revision.Number != res.Meta.CurrentRevision {
					t.Fatalf("%s/%s: listed at revision %d, reads %v %v", typ.Name, res.ID, res.Meta.CurrentRevision, got, err)
				}
				revs, err := m.Revisions(ctx, typ.Name, res.ID, core.ListOptions{Limit: 1000})
				// Retention may have pruned old revisions, never all.
				if err != nil || len(revs.Items) == 0 || len(revs.Items) > res.Meta.RevisionCount {
					t.Fatalf("%s/%s: %d revisions recorded, %v listed: %v", typ.Name, res.ID, res.Meta.RevisionCount, revs, err)
				}
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		all, err1 := m.Count(ctx, typ.Name, true)
		n, err2 := m.Count(ctx, typ.Name, false)
		if err1 != nil || err2 != nil || all != seen || n != live {
			t.Fatalf("%s: counts %d/%d (%v %v), lists %d/%d", typ.Name, n, all, err1, err2, live, seen)
		}
	}
}
