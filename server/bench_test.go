package server_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

var benchDoc = fmt.Sprintf(`{"title":"A benchmark document title","summary":"a short summary","body":%q,"tags":["a","b","c"],"views":12345}`,
	strings.Repeat("lorem ipsum dolor sit amet ", 32))

// benchServer is a test server with n documents over loopback HTTP, of
// a type anyone may read and create.
func benchServer(b *testing.B, n int) (*testServer, []string) {
	ts := newTestServer(b)
	ts.defineType(`{"name":"docs","schema":{"type":"object","required":["title"],"properties":{"title":{"type":"string"},"views":{"type":"integer"}}},` +
		`"permissions":{"read":["public"],"create":["public"]}}`)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = ts.must(201, "POST", "/api/docs", benchDoc).JSON(b)["id"].(string)
	}
	return ts, ids
}

// runHTTP sends the requests req makes from 16 clients per CPU, each
// with the Authorization header auth unless it is "".
func runHTTP(b *testing.B, ts *testServer, req func(i int64, r *fasthttp.Request)) {
	runHTTPAs(b, ts, "", req)
}

func runHTTPAs(b *testing.B, ts *testServer, auth string, req func(i int64, r *fasthttp.Request)) {
	addr := strings.TrimPrefix(ts.URL, "http://")
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := &fasthttp.HostClient{Addr: addr, MaxConns: 1}
		r, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		for pb.Next() {
			r.Reset()
			req(n.Add(1), r)
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			if err := c.Do(r, resp); err != nil || resp.StatusCode() >= 300 {
				b.Errorf("%v %d %s", err, resp.StatusCode(), resp.Body())
				return
			}
		}
	})
}

func BenchmarkHTTPGet(b *testing.B) {
	ts, ids := benchServer(b, 500)
	runHTTP(b, ts, func(i int64, r *fasthttp.Request) {
		r.SetRequestURI(ts.URL + "/api/docs/" + ids[i%int64(len(ids))])
	})
}

func BenchmarkHTTPList20(b *testing.B) {
	ts, _ := benchServer(b, 500)
	runHTTP(b, ts, func(i int64, r *fasthttp.Request) {
		r.SetRequestURI(ts.URL + "/api/docs?limit=20")
	})
}

func BenchmarkHTTPCreate(b *testing.B) {
	ts, _ := benchServer(b, 0)
	runHTTP(b, ts, func(i int64, r *fasthttp.Request) {
		r.SetRequestURI(ts.URL + "/api/docs")
		r.Header.SetMethod("POST")
		r.Header.SetContentType("application/json")
		r.SetBodyString(benchDoc)
	})
}

// BenchmarkHTTPGetWithKey is BenchmarkHTTPGet of a type readable only by
// a role, with an API key holding it: the cost of authentication.
func BenchmarkHTTPGetWithKey(b *testing.B) {
	ts := newTestServer(b)
	ts.defineType(`{"name":"docs","schema":{"type":"object"},"permissions":{"read":["role:reader"]}}`)
	ids := make([]string, 500)
	for i := range ids {
		ids[i] = ts.must(201, "POST", "/api/docs", benchDoc).JSON(b)["id"].(string)
	}
	token := ts.must(201, "POST", "/api/keys", map[string]any{"name": "bench", "roles": []string{"reader"}}).JSON(b)["token"].(string)
	runHTTPAs(b, ts, "Bearer "+token, func(i int64, r *fasthttp.Request) {
		r.SetRequestURI(ts.URL + "/api/docs/" + ids[i%int64(len(ids))])
	})
}
