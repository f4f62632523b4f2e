package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-dev/strata/server"
)

// from returns a copy of ts whose requests come from the loopback address
// ip, or skips the test where the system cannot bind it.
func (ts *testServer) from(t *testing.T, ip string) *testServer {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	conn, err := d.DialContext(t.Context(), "tcp", strings.TrimPrefix(ts.URL, "http://"))
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Skipf("cannot send from %s: %v", ip, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	other := *ts
	other.t = t
	other.client = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	t.Cleanup(other.client.CloseIdleConnections)
	return &other
}

// TestRateLimitPerAddress drains an address's bucket over HTTP: the
// request past the burst is 429 rate_limited with Retry-After, other
// addresses are unaffected, and the address recovers as time passes.
func TestRateLimitPerAddress(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		rate       float64
		burst      int
		retryAfter string
		refill     time.Duration // time that restores one request
	}{
		{"one per second", 1, 3, "1", time.Second},
		{"one per four seconds", 0.25, 2, "4", 4 * time.Second},
		{"fractional wait rounds up", 0.4, 1, "3", 2500 * time.Millisecond},
		{"burst defaults to twice the rate", 2, 0, "1", 500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := server.NewFakeClock()
			ts := newTestServer(t, func(o *serverOptions) {
				o.RateLimit = server.RateLimit{IPRate: tc.rate, IPBurst: tc.burst, PrincipalRate: -1, Now: clock.Now}
			})
			burst := tc.burst
			if burst == 0 {
				burst = int(2 * tc.rate)
			}
			// Anonymous requests count against their address.
			anon := []string{"Authorization", ""}
			for i := range burst {
				if r := ts.do("GET", "/healthz", nil, anon...); r.Status != 200 {
					t.Fatalf("request %d of the burst: %d %s", i+1, r.Status, r.Body)
				}
			}
			r := ts.do("GET", "/api/types", nil, anon...)
			p := checkProblem(t, r, http.StatusTooManyRequests, "rate_limited")
			if got := r.Header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if d, _ := p["detail"].(string); !strings.Contains(d, "client address") {
				t.Errorf("detail %q does not say which limit", d)
			}
			if r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("429 without nosniff")
			}

			ts.from(t, "127.0.0.2").must(200, "GET", "/healthz", nil, anon...)

			clock.Advance(tc.refill - time.Millisecond)
			checkProblem(t, ts.do("GET", "/healthz", nil, anon...), http.StatusTooManyRequests, "rate_limited")
			clock.Advance(time.Millisecond)
			ts.must(200, "GET", "/healthz", nil, anon...)
			checkProblem(t, ts.do("GET", "/healthz", nil, anon...), http.StatusTooManyRequests, "rate_limited")
		})
	}
}

// TestRateLimitPerPrincipal checks the per-principal limit through the
// real authentication: each token's principal has its own bucket, and
// anonymous requests are counted only per address.
func TestRateLimitPerPrincipal(t *testing.T) {
	t.Parallel()
	clock := server.NewFakeClock()
	ts := newTestServer(t, func(o *serverOptions) {
		// Administrators are exempt unless Admins is set; the admin
		// key is the principal at hand here.
		o.RateLimit = server.RateLimit{IPRate: -1, PrincipalRate: 1, PrincipalBurst: 3, Admins: true, Now: clock.Now}
	})
	key := ts.must(201, "POST", "/api/keys", map[string]any{"name": "other", "roles": []string{"reader"}}).JSON(t)
	other, _ := key["token"].(string)
	if other == "" {
		t.Fatalf("no token in %v", key)
	}
	asOther := []string{"Authorization", "Bearer " + other}
	anonymous := []string{"Authorization", ""}
	steps := []struct {
		name    string
		headers []string
		advance time.Duration
		status  int
	}{
		{"admin 2", nil, 0, 200},
		{"admin 3", nil, 0, 200},
		{"admin over the burst", nil, 0, 429},
		{"another principal", asOther, 0, 200},
		{"anonymous", anonymous, 0, 200},
		{"anonymous again", anonymous, 0, 200},
		{"anonymous once more", anonymous, 0, 200},
		{"admin after a second", nil, time.Second, 200},
		{"admin spent it", nil, 0, 429},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		r := ts.do("GET", "/healthz", nil, st.headers...)
		if r.Status != st.status {
			t.Fatalf("%s: status %d, want %d\n%s", st.name, r.Status, st.status, r.Body)
		}
		if r.Status == 429 {
			p := checkProblem(t, r, 429, "rate_limited")
			if d, _ := p["detail"].(string); !strings.Contains(d, "principal") || r.Header.Get("Retry-After") != "1" {
				t.Fatalf("%s: detail %q, Retry-After %q", st.name, d, r.Header.Get("Retry-After"))
			}
		}
	}
}

// TestRateLimitAdmins checks that administrators are exempt from the
// per-principal limit by default, as PocketBase exempts superusers, while
// other principals are not, and that RateLimit.Admins subjects them to it.
func TestRateLimitAdmins(t *testing.T) {
	t.Parallel()
	const burst = 4
	cases := []struct {
		name   string
		admins bool
		over   int // status of admin requests past the burst
	}{
		{"exempt by default", false, 200},
		{"limited when set", true, 429},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := server.NewFakeClock()
			ts := newTestServer(t, func(o *serverOptions) {
				o.RateLimit = server.RateLimit{IPRate: -1, PrincipalRate: 1, PrincipalBurst: burst, Admins: tc.admins, Now: clock.Now}
			})
			clock.Advance(time.Hour) // the key creation below is forgotten
			key := ts.must(201, "POST", "/api/keys", map[string]any{"name": "reader", "roles": []string{"reader"}}).JSON(t)
			clock.Advance(time.Hour)
			for i := range 2 * burst {
				want := 200
				if i >= burst {
					want = tc.over
				}
				if r := ts.do("GET", "/api/types", nil); r.Status != want {
					t.Fatalf("admin request %d: status %d, want %d\n%s", i+1, r.Status, want, r.Body)
				}
			}
			asReader := []string{"Authorization", "Bearer " + key["token"].(string)}
			for range burst {
				ts.must(200, "GET", "/api/types", nil, asReader...)
			}
			checkProblem(t, ts.do("GET", "/api/types", nil, asReader...), 429, "rate_limited")
		})
	}
}

// TestRateLimitRefusedCredentials: refused tokens count against the
// address, so tokens cannot be guessed faster than the address's rate; an
// address out of tokens is refused before its token is looked at, even a
// good one; accepted tokens do not spend the address's tokens.
func TestRateLimitRefusedCredentials(t *testing.T) {
	t.Parallel()
	clock := server.NewFakeClock()
	ts := newTestServer(t, func(o *serverOptions) {
		o.RateLimit = server.RateLimit{IPRate: 1, IPBurst: 2, PrincipalRate: -1, Now: clock.Now}
	})
	forged := []string{"Authorization", "Bearer sk_0193aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa_guess"}
	checkProblem(t, ts.do("GET", "/api/types", nil, forged...), 401, "unauthorized")
	checkProblem(t, ts.do("GET", "/api/types", nil, forged...), 401, "unauthorized")
	checkProblem(t, ts.do("GET", "/api/types", nil, forged...), 429, "rate_limited")
	checkProblem(t, ts.do("GET", "/api/types", nil), 429, "rate_limited")
	clock.Advance(time.Second)
	for range 20 {
		ts.must(200, "GET", "/api/types", nil) // the admin key: not counted per address
	}
	checkProblem(t, ts.do("GET", "/api/types", nil, forged...), 401, "unauthorized")
	checkProblem(t, ts.do("GET", "/api/types", nil, forged...), 429, "rate_limited")
}

// TestRateLimitOff checks that negative settings turn the limits off.
func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *serverOptions) {
		o.RateLimit = server.RateLimit{IPRate: -1, PrincipalRate: -1, Now: server.NewFakeClock().Now}
	})
	for range 500 {
		ts.must(200, "GET", "/healthz", nil)
	}
}

// TestRateLimitTrustedProxies checks which address a request behind a
// trusted proxy is counted against: the nearest X-Forwarded-For hop that
// is not itself trusted, never what the client wrote further left.
func TestRateLimitTrustedProxies(t *testing.T) {
	t.Parallel()
	limited := func(trusted ...string) *testServer {
		return newTestServer(t, func(o *serverOptions) {
			o.RateLimit = server.RateLimit{IPRate: 1, IPBurst: 1, PrincipalRate: -1, Now: server.NewFakeClock().Now}
			o.TrustedProxies = trusted
		})
	}
	behindProxy := limited("127.0.0.1", "10.0.0.0/8")
	direct := limited()
	steps := []struct {
		name   string
		ts     *testServer
		xff    string
		status int
	}{
		{"first request of a client", behindProxy, "203.0.113.7", 200},
		{"its second is limited", behindProxy, "203.0.113.7", 429},
		{"another client is not", behindProxy, "203.0.113.8", 200},
		{"a spoofed left part changes nothing", behindProxy, "198.51.100.1, 203.0.113.7", 429},
		{"trusted hops are skipped", behindProxy, "203.0.113.9, 10.1.2.3", 200},
		{"and counted for the client", behindProxy, "203.0.113.9", 429},
		{"garbage keys on the last good hop", behindProxy, "not-an-ip, 10.9.9.9", 200},
		{"IPv6 clients share their /64", behindProxy, "2001:db8::1", 200},
		{"the same /64 is limited", behindProxy, "2001:db8::2", 429},
		{"another /64 is not", behindProxy, "2001:db8:0:1::1", 200},
		{"untrusted peer: header ignored", direct, "203.0.113.7", 200},
		{"untrusted peer: counted as itself", direct, "203.0.113.8", 429},
	}
	for _, st := range steps {
		r := st.ts.do("GET", "/healthz", nil, "X-Forwarded-For", st.xff, "Authorization", "")
		if r.Status != st.status {
			t.Fatalf("%s: status %d, want %d\n%s", st.name, r.Status, st.status, r.Body)
		}
	}
}

// TestCORS checks preflights and responses with CORS off (the default),
// with a list of origins, with credentials and with any origin.
func TestCORS(t *testing.T) {
	t.Parallel()
	const app, evil = "https://app.example.com", "https://evil.example.net"
	off := newTestServer(t)
	listed := newTestServer(t, func(o *serverOptions) {
		o.CORS = server.CORS{Origins: []string{"https://APP.example.com:443/"}, MaxAge: time.Hour}
	})
	creds := newTestServer(t, func(o *serverOptions) {
		o.CORS = server.CORS{Origins: []string{app}, Credentials: true}
	})
	anyOrigin := newTestServer(t, func(o *serverOptions) {
		o.CORS = server.CORS{Origins: []string{"*"}}
	})
	preflight := func(origin string) []string {
		return []string{"Origin", origin, "Access-Control-Request-Method", "PUT",
			"Access-Control-Request-Headers", "authorization, content-type, if-match", "Authorization", ""}
	}
	cases := []struct {
		name        string
		ts          *testServer
		method      string
		path        string
		headers     []string
		status      int
		allowOrigin string
		check       func(t *testing.T, h http.Header)
	}{
		{"off: preflight gets no CORS headers", off, "OPTIONS", "/api/types", preflight(app), 0, "", nil},
		{"off: request gets no CORS headers", off, "GET", "/api/types", []string{"Origin", app}, 200, "", nil},
		{"preflight of an allowed origin", listed, "OPTIONS", "/api/types/posts", preflight(app), 204, app, func(t *testing.T, h http.Header) {
			if !strings.Contains(h.Get("Access-Control-Allow-Methods"), "PUT") {
				t.Errorf("Allow-Methods %q", h.Get("Access-Control-Allow-Methods"))
			}
			if ah := strings.ToLower(h.Get("Access-Control-Allow-Headers")); !strings.Contains(ah, "authorization") || !strings.Contains(ah, "if-match") {
				t.Errorf("Allow-Headers %q", ah)
			}
			if h.Get("Access-Control-Max-Age") != "3600" {
				t.Errorf("Max-Age %q", h.Get("Access-Control-Max-Age"))
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed without being configured")
			}
		}},
		{"preflight of another origin", listed, "OPTIONS", "/api/types/posts", preflight(evil), 204, "", nil},
		{"request of an allowed origin", listed, "GET", "/api/types", []string{"Origin", app}, 200, app, func(t *testing.T, h http.Header) {
			if !strings.Contains(h.Get("Access-Control-Expose-Headers"), "ETag") {
				t.Errorf("Expose-Headers %q", h.Get("Access-Control-Expose-Headers"))
			}
		}},
		{"error of an allowed origin", listed, "GET", "/api/nope/1", []string{"Origin", app}, 404, app, nil},
		{"docs of an allowed origin", listed, "GET", "/openapi.json", []string{"Origin", app}, 200, app, nil},
		{"request of another origin", listed, "GET", "/api/types", []string{"Origin", evil}, 200, "", nil},
		{"credentials", creds, "OPTIONS", "/api/types", preflight(app), 204, app, func(t *testing.T, h http.Header) {
			if h.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("Allow-Credentials %q", h.Get("Access-Control-Allow-Credentials"))
			}
			if h.Get("Access-Control-Max-Age") != "600" {
				t.Errorf("default Max-Age %q", h.Get("Access-Control-Max-Age"))
			}
		}},
		{"any origin", anyOrigin, "GET", "/api/types", []string{"Origin", evil}, 200, "*", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.ts.do(tc.method, tc.path, nil, tc.headers...)
			if tc.status != 0 && r.Status != tc.status {
				t.Fatalf("status %d, want %d\n%s", r.Status, tc.status, r.Body)
			}
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != tc.allowOrigin {
				t.Fatalf("Allow-Origin %q, want %q", got, tc.allowOrigin)
			}
			if tc.ts == off {
				for name := range r.Header {
					if strings.HasPrefix(name, "Access-Control-") {
						t.Errorf("CORS header %s sent", name)
					}
				}
			}
			if r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
			if tc.check != nil {
				tc.check(t, r.Header)
			}
		})
	}
}

// TestOptionsValidate checks the settings Validate refuses.
func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts server.Options
		ok   bool
	}{
		{"zero", server.Options{}, true},
		{"origins and proxies", server.Options{CORS: server.CORS{Origins: []string{"https://a.example", "http://localhost:3000"}, Credentials: true},
			TrustedProxies: []string{"10.0.0.1", "fd00::/8"}}, true},
		{"any origin", server.Options{CORS: server.CORS{Origins: []string{"*"}}}, true},
		{"any origin with credentials", server.Options{CORS: server.CORS{Origins: []string{"*"}, Credentials: true}}, false},
		{"origin with a path", server.Options{CORS: server.CORS{Origins: []string{"https://a.example/app"}}}, false},
		{"origin without scheme", server.Options{CORS: server.CORS{Origins: []string{"a.example"}}}, false},
		{"bad proxy", server.Options{TrustedProxies: []string{"10.0.0.300"}}, false},
		{"bad proxy network", server.Options{TrustedProxies: []string{"10.0.0.0/33"}}, false},
		{"rate not a number", server.Options{RateLimit: server.RateLimit{IPRate: math.NaN()}}, false},
		{"infinite rate", server.Options{RateLimit: server.RateLimit{PrincipalRate: math.Inf(1)}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.opts.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestSecurityHeaders checks that every response says nosniff and that
// HTML pages also refuse framing, referrers and foreign content.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	page := map[string]string{
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Content-Security-Policy": "default-src 'self'",
	}
	cases := []struct {
		path   string
		status int
		html   bool
	}{
		{"/docs", 200, true},
		{"/docs/assets/swagger-ui.css", 200, false},
		{"/openapi.json", 200, false},
		{"/healthz", 200, false},
		{"/api/types", 200, false},
		{"/api/types/nope", 404, false},
		{"/nowhere", 404, false},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			r := ts.do("GET", tc.path, nil)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d", r.Status, tc.status)
			}
			if r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", r.Header.Get("X-Content-Type-Options"))
			}
			for name, want := range page {
				got := r.Header.Get(name)
				if tc.html && !strings.HasPrefix(got, want) {
					t.Errorf("%s %q, want %q", name, got, want)
				}
				if !tc.html && got != "" {
					t.Errorf("%s %q on a non-HTML response", name, got)
				}
			}
		})
	}
}

// deepJSON is an object nested depth levels: {"a":{"a":…{"a":1}…}}.
func deepJSON(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

// TestJSONDepth checks the nesting limit of JSON bodies: at the limit is
// fine, one deeper is 400 naming the limit, brackets inside strings and
// non-JSON bodies are not counted, and a batch's envelope is free.
func TestJSONDepth(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name":"things","schema":{"type":"object"}}`)
	small := newTestServer(t, func(o *serverOptions) { o.MaxJSONDepth = 8 })
	small.defineType(`{"name":"things","schema":{"type":"object"}}`)
	batch := func(body string) string {
		return `{"requests":[{"method":"POST","url":"/api/things","body":` + body + `}]}`
	}
	cases := []struct {
		name    string
		ts      *testServer
		method  string
		path    string
		body    string
		ctype   string
		status  int
		mention string // in the problem detail
	}{
		{"at the limit", ts, "POST", "/api/things", deepJSON(64), "", 201, ""},
		{"one level deeper", ts, "POST", "/api/things", deepJSON(65), "", 400, "64 levels"},
		{"arrays count too", ts, "POST", "/api/things", `{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + "}", "", 400, "64 levels"},
		{"brackets in strings", ts, "POST", "/api/things", `{"a":"` + strings.Repeat(`[{\"`, 200) + `"}`, "", 201, ""},
		{"merge patch", ts, "PATCH", "/api/things/x", deepJSON(65), "application/merge-patch+json", 400, "64 levels"},
		{"batch at the limit", ts, "POST", "/api/batch", batch(deepJSON(64)), "", 200, ""},
		{"batch one deeper", ts, "POST", "/api/batch", batch(deepJSON(65)), "", 400, "64 levels"},
		{"type definition", ts, "POST", "/api/types", `{"name":"deep","schema":` + deepJSON(64) + `}`, "", 400, "64 levels"},
		{"not JSON: not scanned", ts, "POST", "/api/things", strings.Repeat("[", 100), "text/plain", 415, ""},
		{"configured limit", small, "POST", "/api/things", deepJSON(9), "", 400, "8 levels"},
		{"configured limit: at it", small, "POST", "/api/things", deepJSON(8), "", 201, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.ctype != "" {
				headers = []string{"Content-Type", tc.ctype}
			}
			r := tc.ts.do(tc.method, tc.path, tc.body, headers...)
			if tc.status < 400 {
				if r.Status != tc.status {
					t.Fatalf("status %d, want %d\n%s", r.Status, tc.status, r.Body)
				}
				return
			}
			code := map[int]string{400: "bad_request", 415: "unsupported_media_type"}[tc.status]
			p := checkProblem(t, r, tc.status, code)
			if d, _ := p["detail"].(string); !strings.Contains(d, tc.mention) {
				t.Errorf("detail %q does not mention %q", d, tc.mention)
			}
		})
	}
}

// rawRequest writes req on a new connection and returns what the server
// answers until it closes the connection.
func rawRequest(t *testing.T, ts *testServer, req string) (string, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(ts.URL, "http://"), 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		return "", err
	}
	raw, err := io.ReadAll(conn) // the server closes after an error
	if len(raw) > 0 {
		err = nil
	}
	return string(raw), err
}

// TestHeaderLimit checks that a request line or headers beyond the header
// limit get 431 problem+json, and the server keeps serving.
func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	small := newTestServer(t, func(o *serverOptions) { o.HeaderLimit = 4 << 10 })
	cases := []struct {
		name string
		ts   *testServer
		req  string
	}{
		{"big header", ts, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n"},
		{"many headers", ts, "GET /healthz HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: aaaaaaaaaaaaaaaa\r\n", 1500) + "\r\n"},
		{"long request line", ts, "GET /api/types?" + strings.Repeat("q", 20<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"configured limit", small, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 5<<10) + "\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := rawRequest(t, tc.ts, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(resp, "HTTP/1.1 431 ") {
				t.Fatalf("answer %.300q", resp)
			}
			for _, want := range []string{"application/problem+json", `"status":431`, "nosniff"} {
				if !strings.Contains(resp, want) {
					t.Errorf("answer lacks %q: %.500q", want, resp)
				}
			}
			tc.ts.must(200, "GET", "/healthz", nil)
		})
	}
	// Just under the limit is served.
	ts.must(200, "GET", "/healthz", nil, "X-Big", strings.Repeat("a", 12<<10))
}

// TestQueryBounds checks that an over-long filter and out-of-range list
// limits are refused with 400 problem+json.
func TestQueryBounds(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(postsType)
	ts.must(201, "POST", "/api/posts", `{"id":"x","title":"a"}`)
	long := url.QueryEscape(`title = "` + strings.Repeat("x", 5000) + `"`)
	cases := []struct {
		name, path, mention string
	}{
		{"filter over 4096 bytes", "/api/posts?filter=" + long, "4096"},
		{"filter nested too deep", "/api/posts?filter=" + url.QueryEscape(strings.Repeat("(", 40)+"views > 1"+strings.Repeat(")", 40)), "32"},
		{"count with a long filter", "/api/posts/count?filter=" + long, "4096"},
		{"limit over 1000", "/api/posts?limit=1001", "1000"},
		{"limit zero", "/api/posts?limit=0", "1000"},
		{"limit negative", "/api/posts?limit=-5", ""},
		{"limit not a number", "/api/posts?limit=lots", ""},
		{"changes limit over 1000", "/api/changes?limit=5000", "1000"},
		{"revisions limit over 1000", "/api/posts/x/revisions?limit=1001", "1000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do("GET", tc.path, nil)
			p := checkProblem(t, r, 400, "bad_request")
			if d, _ := p["detail"].(string); !strings.Contains(d, tc.mention) {
				t.Errorf("detail %q does not mention %q", d, tc.mention)
			}
		})
	}
	ts.must(200, "GET", "/api/posts?limit=1000", nil)
}

// get is one request that reports failure instead of ending the test, for
// use off the test goroutine. headers are name, value pairs.
func get(ctx context.Context, client *http.Client, url string, headers ...string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
