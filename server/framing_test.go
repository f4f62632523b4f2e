package server_test

import (
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
