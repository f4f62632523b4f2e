package server_test

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAmbiguousFraming sends requests whose body length two parsers could
// read differently (request smuggling) over raw connections and checks
// that each is answered 400 problem+json at once, with the connection
// closed, rather than left waiting for body bytes until a read timeout.
func TestAmbiguousFraming(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	const head = "POST /api/types HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testAdminKey + "\r\nContent-Type: application/json\r\n"
	const def = `{"name":"notes","schema":{"type":"object"}}`
	cl := func(v string) string { return "Content-Length: " + v + "\r\n" }
	n := strconv.Itoa(len(def))
	cases := []struct {
		name, req, want string
	}{
		{"two Content-Length", head + cl("2") + cl(n) + "\r\n" + def, "two different Content-Length values, 2 and " + n},
		{"a list of two", head + cl("2, "+n) + "\r\n" + def, "Content-Length"},
		{"not a number", head + cl(n) + cl("0x2") + "\r\n" + def, "Content-Length"},
		{"Content-Length and chunked", head + cl("40") + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "both Content-Length and Transfer-Encoding"},
		// Repeats that agree are allowed (RFC 9110 §8.6).
		{"the same twice", head + "Connection: close\r\n" + cl(n) + cl(n) + "\r\n" + def, "HTTP/1.1 201 "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The bug held the answer for the whole body read timeout
			// (30 s); a prompt answer comes in milliseconds, so 5 s is
			// generous even for a loaded machine.
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write([]byte(tc.req)); err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(conn) // the server closes the connection
			if err != nil {
				t.Fatalf("no prompt answer: %v (read %q)", err, raw)
			}
			wants := []string{"HTTP/1.1 400 ", "Connection: close", "application/problem+json", "urn:strata:problem:bad_request", tc.want}
			if strings.HasPrefix(tc.want, "HTTP/") {
				wants = []string{tc.want}
			}
			for _, want := range wants {
				if !strings.Contains(string(raw), want) {
					t.Fatalf("answered %.500q, lacking %q", raw, want)
				}
			}
		})
	}
}

// TestMalformedChunks sends chunked bodies over raw connections: one
// whose framing is malformed (a chunk size that is not hex digits then
// ";ext" or CRLF, a trailer line without a colon) is answered 400
// problem+json at once, and its connection closed, where fasthttp read
// "0x1" as a last chunk and waited for a trailer until the read timeout;
// well-formed ones, extensions and trailers included, are served.
func TestMalformedChunks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	head := func(extra string) string {
		return "POST /api/types HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testAdminKey +
			"\r\nContent-Type: application/json\r\n" + extra + "\r\n"
	}
	const te = "Transfer-Encoding: chunked\r\n"
	const closing = "Connection: close\r\n"
	// def is a type definition padded with JSON whitespace to 0x5F bytes,
	// so that its size has a letter in it.
	def := func(i int) string {
		d := fmt.Sprintf(`{"name":"chunks%d","schema":{"type":"object"}}`, i)
		return d + strings.Repeat(" ", 0x5f-len(d))
	}
	cases := []struct {
		name string
		req  func(i int) string
		want []string // the status lines of the answers, in order
	}{
		{"0x1", func(i int) string { return head(te) + "5f\r\n" + def(i) + "\r\n0x1\r\n\r\n" }, []string{"400"}},
		{"0x", func(i int) string { return head(te) + "0x\r\n\r\n" }, []string{"400"}},
		{"size then junk", func(i int) string { return head(te) + "1 x\r\n{\r\n0\r\n\r\n" }, []string{"400"}},
		{"bare LF ends a size line", func(i int) string { return head(te) + "5f\n" + def(i) + "\r\n0\r\n\r\n" }, []string{"400"}},
		{"control byte in an extension", func(i int) string { return head(te) + "5f;a\x00b\r\n" + def(i) + "\r\n0\r\n\r\n" }, []string{"400"}},
		{"trailer line without colon", func(i int) string { return head(te) + "5f\r\n" + def(i) + "\r\n0\r\nno colon here\r\n\r\n" }, []string{"400"}},
		{"size line too long", func(i int) string {
			return head(te) + "5f;" + strings.Repeat("a", 4<<10) + "\r\n" + def(i) + "\r\n0\r\n\r\n"
		}, []string{"400"}},
		{"valid", func(i int) string { return head(te+closing) + "5f\r\n" + def(i) + "\r\n0\r\n\r\n" }, []string{"201"}},
		{"extension", func(i int) string { return head(te+closing) + "5f;ext=1\r\n" + def(i) + "\r\n0;last\r\n\r\n" }, []string{"201"}},
		{"whitespace before an extension", func(i int) string {
			return head(te+closing) + "5f ; ext = \"q v\"\r\n" + def(i) + "\r\n0\r\n\r\n"
		}, []string{"201"}},
		{"uppercase hex and several chunks", func(i int) string {
			d := def(i)
			return head(te+closing) + "A\r\n" + d[:10] + "\r\n55\r\n" + d[10:] + "\r\n0\r\n\r\n"
		}, []string{"201"}},
		{"trailer", func(i int) string { return head(te+closing) + "5F\r\n" + def(i) + "\r\n0\r\nX-Check: 1\r\n\r\n" }, []string{"201"}},
		{"valid then malformed, pipelined", func(i int) string {
			return head(te) + "5f\r\n" + def(i) + "\r\n0\r\n\r\n" + head(te) + "0x1\r\n\r\n"
		}, []string{"201", "400"}},
		{"Content-Length body that looks like chunks", func(i int) string {
			body := fmt.Sprintf("{\r\n\"name\":\"chunks%d\",\r\n\"schema\":{\"type\":\"object\",\"description\":\"0x1\"}\r\n}\r\n\r\n", i)
			return head(fmt.Sprintf("Content-Length: %d\r\n", len(body))) + body +
				"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		}, []string{"201", "200"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The bug held the answer for the body read timeout (30 s).
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write([]byte(tc.req(i))); err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(conn) // the server closes the connection
			if err != nil {
				t.Fatalf("no prompt answer: %v (read %q)", err, raw)
			}
			got := string(raw)
			if n := strings.Count(got, "HTTP/1.1 "); n != len(tc.want) {
				t.Fatalf("%d answers, want %d: %.800q", n, len(tc.want), got)
			}
			rest := got
			for _, status := range tc.want {
				at := strings.Index(rest, "HTTP/1.1 "+status+" ")
				if at < 0 {
					t.Fatalf("no %s answer in order in %.800q", status, got)
				}
				rest = rest[at+1:]
			}
			if tc.want[len(tc.want)-1] == "400" {
				for _, want := range []string{"Connection: close", "application/problem+json", "X-Content-Type-Options: nosniff",
					`"type":"urn:strata:problem:bad_request"`, "malformed chunked body: "} {
					if !strings.Contains(rest, want) {
						t.Fatalf("400 answer %.500q lacks %q", rest, want)
					}
				}
			}
		})
	}
}
