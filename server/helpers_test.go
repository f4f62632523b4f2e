package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/server"
)

// testServer is a Strata server on a loopback port over a bolt file in a
// temporary directory, or over a PostgreSQL database of its own, built by
// the shared fixture as strata serve builds it.
type testServer struct {
	t      testing.TB
	URL    string
	Dir    string // the data directory: the bolt file and the index
	env    *apptest.Env
	m      *core.Manager
	client *http.Client
}

func newTestServer(t testing.TB, opts ...func(*server.Options)) *testServer {
	t.Helper()
	return startTestServer(t, t.TempDir(), opts...)
}

// newTestServerOn is newTestServer over backend b.
func newTestServerOn(t testing.TB, b apptest.Backend, opts ...func(*server.Options)) *testServer {
	t.Helper()
	return startServer(t, t.TempDir(), apptest.WithBackend(b), auth.Config{AdminKey: testAdminKey}, opts...)
}

// forEachBackend runs test once over each durable storage backend, as
// parallel subtests named after them (bolt, postgres): what the API
// promises must not depend on the store it runs over.
func forEachBackend(t *testing.T, test func(t *testing.T, b apptest.Backend)) {
	for _, b := range apptest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			test(t, b)
		})
	}
}

// startTestServer is newTestServer over the data directory dir.
func startTestServer(t testing.TB, dir string, opts ...func(*server.Options)) *testServer {
	t.Helper()
	return startTestServerAuth(t, dir, auth.Config{AdminKey: testAdminKey}, opts...)
}

// startTestServerAuth is startTestServer whose authenticator, unless an
// option sets one, keeps API keys in the store and is configured by cfg.
func startTestServerAuth(t testing.TB, dir string, cfg auth.Config, opts ...func(*server.Options)) *testServer {
	t.Helper()
	return startServer(t, dir, apptest.WithBackend(apptest.Bolt), cfg, opts...)
}

// startServer is startTestServerAuth over the store store says.
func startServer(t testing.TB, dir string, store apptest.Option, cfg auth.Config, opts ...func(*server.Options)) *testServer {
	t.Helper()
	// Tests fire bursts from one address and one principal; the tests of
	// the rate limits turn them on.
	o := server.Options{RateLimit: server.RateLimit{IPRate: -1, PrincipalRate: -1}}
	for _, f := range opts {
		f(&o)
	}
	env := apptest.New(t, apptest.WithDir(dir), store, apptest.WithIndex(), apptest.Served(func(c *app.Config) {
		// As strata serve does by default, the largest document is the
		// body limit.
		c.MaxDocumentSize, c.Auth, c.Server, c.Logger = o.BodyLimit, cfg, o, o.Logger
	}))
	ts := &testServer{t: t, URL: env.URL, Dir: dir, env: env, m: env.Manager,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	t.Cleanup(ts.client.CloseIdleConnections)
	return ts
}

// stop stops the server and closes what it was built on.
func (ts *testServer) stop() {
	ts.client.CloseIdleConnections()
	ts.env.Close()
}

// restart stops the server and starts a new one over the same directory
// and store.
func (ts *testServer) restart() *testServer {
	ts.t.Helper()
	ts.stop()
	store := apptest.WithBackend(apptest.Bolt)
	if url := ts.env.StorageURL; url != "" {
		store = apptest.WithPostgresDatabase(url)
	}
	return startServer(ts.t, ts.Dir, store, auth.Config{AdminKey: testAdminKey})
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return v
}

// testAdminKey is the administrator key of every test server; requests
// send it unless they set their own Authorization ("" for none).
const testAdminKey = "test-admin-key-0123456789"

// do sends a request. body may be nil, a string or []byte (sent as is), or
// any other value (encoded as JSON). headers are name, value pairs; a JSON
// Content-Type is set when there is a body and none is given.
func (ts *testServer) do(method, path string, body any, headers ...string) response {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// must sends a request and fails the test unless the status is want.
func (ts *testServer) must(want int, method, path string, body any, headers ...string) response {
	ts.t.Helper()
	r := ts.do(method, path, body, headers...)
	if r.Status != want {
		ts.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, r.Status, want, r.Body)
	}
	return r
}

// defineType creates a type from a JSON definition.
func (ts *testServer) defineType(def string) {
	ts.t.Helper()
	ts.must(http.StatusCreated, "POST", "/api/types", def)
}

const postsType = `{
  "name": "posts",
  "schema": {"type": "object", "required": ["title"],
             "properties": {"title": {"type": "string", "minLength": 1}, "body": {"type": "string"},
                            "author": {"type": ["string", "null"]}, "tags": {"type": "array", "items": {"type": "string"}},
                            "views": {"type": "integer"}}},
  "search": ["title", "body"],
  "unique": ["title"]
}`

const usersType = `{
  "name": "users",
  "schema": {"type": "object", "required": ["name"],
             "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}}},
  "unique": ["email"]
}`

// str digs a string out of a decoded JSON value by a dotted path.
func dig(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// checkProblem asserts a problem+json body with the given status and code.
func checkProblem(t testing.TB, r response, status int, code string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d\n%s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json\n%s", ct, r.Body)
	}
	p := r.JSON(t)
	if p["type"] != "urn:strata:problem:"+code {
		t.Fatalf("problem type %v, want %s\n%s", p["type"], code, r.Body)
	}
	if int(p["status"].(float64)) != status {
		t.Fatalf("problem status %v, want %d", p["status"], status)
	}
	if p["title"] == "" {
		t.Fatalf("problem has no title: %s", r.Body)
	}
	return p
}

type serverOptions = server.Options
