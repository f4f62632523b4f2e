package server_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/server"
)

// paddedModule is wasm with a custom section appended so that it is
// exactly size bytes: a valid module of any size.
func paddedModule(t testing.TB, wasm []byte, size int) []byte {
	t.Helper()
	for lebLen := 1; lebLen <= 5; lebLen++ {
		payload := size - len(wasm) - 1 - lebLen // id, size, then name and padding
		if payload < 2 {
			t.Fatalf("module of %d bytes cannot be padded to %d", len(wasm), size)
		}
		leb := binary.AppendUvarint(nil, uint64(payload))
		if len(leb) != lebLen {
			continue
		}
		out := append(bytes.Clone(wasm), 0)
		out = append(out, leb...)
		out = append(out, 1, 'p')
		out = append(out, make([]byte, payload-2)...)
		return out
	}
	t.Fatalf("cannot pad to %d", size)
	return nil
}

// allowModule is the committed allow.wasm test module.
func allowModule(t testing.TB) []byte {
	t.Helper()
	wasm, err := os.ReadFile(filepath.Join("..", "hooks", "testdata", "allow.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// TestHookModuleLimit checks that a hook module has its own size limit,
// HookModuleLimit, for registrations and replays, above the body limit of
// other requests, and that a module over it is refused with 413 naming it.
func TestHookModuleLimit(t *testing.T) {
	t.Parallel()
	const limit = 256 << 10
	ts := newTestServer(t, func(o *server.Options) {
		o.HookModuleLimit = limit
		o.BodyLimit = 64 << 10
	})
	ts.defineType(`{"name":"posts","schema":{"type":"object"}}`)
	allow := allowModule(t)
	wasm := []string{"Content-Type", "application/wasm"}
	cases := []struct {
		name, method, path string
		body               []byte
		headers            []string
		status             int
		detail             string
	}{
		{"module at the limit", "PUT", "/api/hooks/big", paddedModule(t, allow, limit), wasm, 201, ""},
		{"module over the limit", "PUT", "/api/hooks/big", paddedModule(t, allow, limit+1), wasm, 413, "hook_module_limit (262144 bytes)"},
		{"candidate at the limit", "POST", "/api/hooks/big/replay?type=posts", paddedModule(t, allow, limit), wasm, 200, ""},
		{"candidate over the limit", "POST", "/api/hooks/big/replay?type=posts", paddedModule(t, allow, limit+1), wasm, 413, "hook_module_limit (262144 bytes)"},
		{"other body over its limit", "POST", "/api/posts", []byte(`{"pad":"` + strings.Repeat("a", 64<<10) + `"}`), nil, 413, "body_limit (65536 bytes)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(tc.method, tc.path, tc.body, tc.headers...)
			if tc.status != 413 {
				if r.Status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
				}
				return
			}
			p := checkProblem(t, r, 413, "too_large")
			if d, _ := p["detail"].(string); !strings.Contains(d, tc.detail) {
				t.Fatalf("detail %q, want it to name %q", d, tc.detail)
			}
		})
	}
	if got := ts.must(http.StatusOK, "GET", "/api/hooks/big", nil).JSON(t)["size"]; got != float64(limit) {
		t.Fatalf("registered module is %v bytes, want the one at the limit", got)
	}

	// A module announced over the limit is refused at once, without its
	// body being read: the client sends only the headers.
	if st, detail := announceModule(t, ts, "PUT", "/api/hooks/huge", 1<<30); st != http.StatusRequestEntityTooLarge || !strings.Contains(detail, "hook_module_limit") {
		t.Fatalf("status %d (%s), want 413 naming hook_module_limit", st, detail)
	}
}

// announceModule sends the headers of a request whose body would be a
// module of size bytes, and only its first 16 KiB (the server reads a
// little over 8 KiB of a streamed body before its handler runs), and
// returns the status and the problem's detail of the answer, which must
// come without the rest of the body being sent.
func announceModule(t testing.TB, ts *testServer, method, path string, size int) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute)) // a hang guard
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/wasm\r\nContent-Length: %d\r\n\r\n",
		method, path, testAdminKey, size)
	if _, err := conn.Write(make([]byte, 16<<10)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	defer resp.Body.Close()
	var p struct{ Detail string }
	_ = json.NewDecoder(resp.Body).Decode(&p)
	return resp.StatusCode, p.Detail
}

// TestHookModuleLimitDefault checks the default: a module larger than the
// default body limit is accepted, one over 16 MiB is not.
func TestHookModuleLimitDefault(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	allow := allowModule(t)
	r := ts.do("PUT", "/api/hooks/big", paddedModule(t, allow, server.DefaultBodyLimit+1), "Content-Type", "application/wasm")
	if r.Status != http.StatusCreated {
		t.Fatalf("module over the body limit, under the module limit: %d %s", r.Status, r.Body)
	}
	for _, route := range []struct{ method, path string }{{"PUT", "/api/hooks/big"}, {"POST", "/api/hooks/big/replay"}} {
		st, detail := announceModule(t, ts, route.method, route.path, server.DefaultHookModuleLimit+1)
		if st != http.StatusRequestEntityTooLarge || !strings.Contains(detail, "hook_module_limit (16777216 bytes)") {
			t.Fatalf("%s %s of 16 MiB + 1: status %d (%s), want 413 naming hook_module_limit", route.method, route.path, st, detail)
		}
	}
}
