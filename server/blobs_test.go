package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/server"
)

func blobHash(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestBlobRoundTrip uploads bytes, uploads them again, and reads them back
// whole, by range, and conditionally.
func TestBlobRoundTrip(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	data := []byte(strings.Repeat("0123456789", 100)) // 1000 bytes
	want := blobHash(data)
	up := ts.must(201, "POST", "/api/blobs", data, "Content-Type", "text/csv").JSON(t)
	if up["hash"] != want || up["size"] != float64(1000) || up["content_type"] != "text/csv" {
		t.Fatalf("upload: %v", up)
	}
	// The same bytes again are stored once.
	again := ts.must(201, "POST", "/api/blobs", data, "Content-Type", "application/octet-stream").JSON(t)
	if again["hash"] != want || again["content_type"] != "text/csv" {
		t.Fatalf("second upload: %v", again)
	}
	files, _ := filepath.Glob(filepath.Join(ts.Dir, "blobs", "*", "*"))
	var stored []string
	for _, f := range files {
		if filepath.Base(filepath.Dir(f)) != "tmp" {
			stored = append(stored, f)
		}
	}
	if len(stored) != 1 || filepath.Base(stored[0]) != strings.TrimPrefix(want, "sha256:") {
		t.Fatalf("stored files %v", stored)
	}

	r := ts.must(200, "GET", "/api/blobs/"+want, nil)
	if string(r.Body) != string(data) {
		t.Fatalf("body %d bytes", len(r.Body))
	}
	for h, v := range map[string]string{"ETag": `"` + want + `"`, "Content-Type": "text/csv",
		"X-Content-Type-Options": "nosniff", "Accept-Ranges": "bytes"} {
		if got := r.Header.Get(h); got != v {
			t.Errorf("%s: %q, want %q", h, got, v)
		}
	}
	if r := ts.do("GET", "/api/blobs/"+want, nil, "If-None-Match", `"other", "`+want+`"`); r.Status != 304 || len(r.Body) != 0 {
		t.Fatalf("If-None-Match: %d %q", r.Status, r.Body)
	}
	ts.must(200, "GET", "/api/blobs/"+want, nil, "If-None-Match", `"other"`)
	if r := ts.must(200, "HEAD", "/api/blobs/"+want, nil); r.Header.Get("Content-Length") != "1000" || len(r.Body) != 0 {
		t.Fatalf("HEAD: Content-Length %q, %d bytes", r.Header.Get("Content-Length"), len(r.Body))
	}

	cases := []struct {
		rng, contentRange, body string
		status                  int
	}{
		{"bytes=0-9", "bytes 0-9/1000", "0123456789", 206},
		{"bytes=995-", "bytes 995-999/1000", "56789", 206},
		{"bytes=-3", "bytes 997-999/1000", "789", 206},
		{"bytes=990-5000", "bytes 990-999/1000", "0123456789", 206},
		{"bytes=1000-", "bytes */1000", "", 416},
		{"bytes=0-1,5-6", "", string(data), 200}, // several ranges: the whole blob
		{"items=0-1", "", string(data), 200},
	}
	for _, tc := range cases {
		t.Run(tc.rng, func(t *testing.T) {
			r := ts.do("GET", "/api/blobs/"+want, nil, "Range", tc.rng)
			if r.Status != tc.status || r.Header.Get("Content-Range") != tc.contentRange {
				t.Fatalf("status %d Content-Range %q\n%s", r.Status, r.Header.Get("Content-Range"), r.Body)
			}
			if tc.status == 416 {
				checkProblem(t, r, 416, "range_not_satisfiable")
				return
			}
			if string(r.Body) != tc.body {
				t.Fatalf("body %q", r.Body)
			}
		})
	}

	// Not stored, malformed: 404.
	checkProblem(t, ts.do("GET", "/api/blobs/"+blobHash([]byte("nope")), nil), 404, "not_found")
	checkProblem(t, ts.do("GET", "/api/blobs/sha256:xyz", nil), 404, "not_found")
	// Uploading needs credentials.
	checkProblem(t, ts.do("POST", "/api/blobs", data, "Authorization", ""), 401, "unauthorized")
}

// TestBlobSniffedType checks that a blob uploaded without a Content-Type
// gets the one its bytes look like.
func TestBlobSniffedType(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...)
	up := ts.must(201, "POST", "/api/blobs", png, "Content-Type", "").JSON(t)
	if up["content_type"] != "image/png" {
		t.Fatalf("content_type %v", up["content_type"])
	}
	r := ts.must(200, "GET", "/api/blobs/"+up["hash"].(string), nil)
	if r.Header.Get("Content-Type") != "image/png" || r.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("headers %v", r.Header)
	}
}

// blobServer is a test server with the given blob limit.
func blobServer(t *testing.T, limit int64) *testServer {
	t.Helper()
	dir := t.TempDir()
	o := server.Options{RateLimit: server.RateLimit{IPRate: -1, PrincipalRate: -1}}
	env := apptest.New(t, apptest.WithDir(dir), apptest.WithIndex(), apptest.Served(func(c *app.Config) {
		c.Auth, c.Server, c.BlobLimit = auth.Config{AdminKey: testAdminKey}, o, limit
	}))
	ts := &testServer{t: t, URL: env.URL, Dir: dir, env: env, m: env.Manager, client: &http.Client{}}
	t.Cleanup(ts.client.CloseIdleConnections)
	return ts
}

// TestBlobLimit checks that a blob over blob_limit is 413 naming the
// limit, whether its length is announced or it comes chunked, and that
// nothing of it is kept.
func TestBlobLimit(t *testing.T) {
	t.Parallel()
	ts := blobServer(t, 1000)
	ts.must(201, "POST", "/api/blobs", make([]byte, 1000))
	p := checkProblem(t, ts.do("POST", "/api/blobs", make([]byte, 1001)), 413, "too_large")
	if !strings.Contains(p["detail"].(string), "1000 bytes") {
		t.Fatalf("detail %v", p["detail"])
	}
	// Chunked: no Content-Length to refuse early.
	req, _ := http.NewRequest("POST", ts.URL+"/api/blobs", io.MultiReader(strings.NewReader(strings.Repeat("x", 5000))))
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked: %d", resp.StatusCode)
	}
	left, _ := os.ReadDir(filepath.Join(ts.Dir, "blobs", "tmp"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// zeros is a reader of n bytes that are not held anywhere.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), z.n))
	for i := range p[:k] {
		p[i] = byte(i)
	}
	z.n -= int64(k)
	return k, nil
}

// TestBlobUploadStreams uploads 200 MiB and checks that the heap of the
// process (server and client share it) never grew by anything near that:
// the body is streamed to disk, never held.
func TestBlobUploadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 MiB")
	}
	ts := blobServer(t, 256<<20)
	const size = 200 << 20
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			max = maxU(max, ms.HeapAlloc)
			select {
			case <-stop:
				peak <- max
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	req, _ := http.NewRequest("POST", ts.URL+"/api/blobs", &zeros{n: size})
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := ts.client.Do(req)
	close(stop)
	p := <-peak
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	growth := int64(p) - int64(base.HeapAlloc)
	t.Logf("heap: base %d MiB, peak %d MiB", base.HeapAlloc>>20, p>>20)
	if growth > 48<<20 {
		t.Fatalf("the heap grew by %d MiB while uploading %d MiB", growth>>20, size>>20)
	}
	// And it reads back whole.
	var up struct{ Hash string }
	if err := json.Unmarshal(body, &up); err != nil {
		t.Fatal(err)
	}
	r, err := ts.client.Do(mustRequest(t, "GET", ts.URL+"/api/blobs/"+up.Hash))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if n != size {
		t.Fatalf("read back %d bytes", n)
	}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	return req
}

// TestBlobReferences checks "format": "blob" fields: a missing or
// unreadable blob is 409, and a blob is readable through the resources
// that reference it and by nobody else.
func TestBlobReferences(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name":"notes","schema":{"type":"object","properties":{
		"title":{"type":"string"},
		"file":{"type":"string","format":"blob"},
		"more":{"type":"array","items":{"type":"string","format":"blob"}}}},
		"permissions":{"read":["owner"],"create":["owner"],"update":["owner"]}}`)
	ts.defineType(`{"name":"pages","schema":{"type":"object","properties":{"file":{"type":"string","format":"blob"}}},
		"permissions":{"read":["authenticated"],"create":["authenticated"]}}`)
	token := func(name string) string {
		return ts.must(201, "POST", "/api/keys", map[string]any{"name": name, "roles": []string{"user"}}).JSON(t)["token"].(string)
	}
	alice, bob := "Bearer "+token("alice"), "Bearer "+token("bob")

	secret := []byte("alice's secret file")
	h := ts.must(201, "POST", "/api/blobs", secret, "Authorization", alice, "Content-Type", "text/plain").JSON(t)["hash"].(string)
	missing := blobHash([]byte("never uploaded"))

	// Writes naming blobs.
	p := checkProblem(t, ts.do("POST", "/api/notes", map[string]any{"file": missing}, "Authorization", alice), 409, "conflict")
	if errs := p["errors"].([]any); len(errs) != 1 || dig(errs[0], "path") != "/file" {
		t.Fatalf("errors %v", p["errors"])
	}
	checkProblem(t, ts.do("POST", "/api/notes", map[string]any{"more": []string{h, missing}}, "Authorization", alice), 409, "conflict")
	checkProblem(t, ts.do("POST", "/api/notes", map[string]any{"file": "sha256:abc"}, "Authorization", alice), 422, "validation")
	// Bob cannot gain access by naming Alice's blob.
	checkProblem(t, ts.do("POST", "/api/pages", map[string]any{"file": h}, "Authorization", bob), 409, "conflict")

	note := ts.must(201, "POST", "/api/notes", map[string]any{"file": h}, "Authorization", alice).JSON(t)
	id := note["id"].(string)

	// Alice (her note references it) and admins read it; Bob does not
	// learn it exists.
	ts.must(200, "GET", "/api/blobs/"+h, nil, "Authorization", alice)
	ts.must(200, "GET", "/api/blobs/"+h, nil)
	checkProblem(t, ts.do("GET", "/api/blobs/"+h, nil, "Authorization", bob), 404, "not_found")
	checkProblem(t, ts.do("GET", "/api/blobs/"+h, nil, "Authorization", ""), 404, "not_found")

	// Alice may not name a blob she may not read; once it is in a note
	// of the administrator's (owner-only), she still may not read it.
	adminBlob := ts.must(201, "POST", "/api/blobs", []byte("from the admin")).JSON(t)["hash"].(string)
	checkProblem(t, ts.do("PUT", "/api/notes/"+id, map[string]any{"file": h, "more": []string{adminBlob}}, "Authorization", alice), 409, "conflict")
	ts.must(201, "POST", "/api/notes", map[string]any{"more": []string{adminBlob}})
	checkProblem(t, ts.do("GET", "/api/blobs/"+adminBlob, nil, "Authorization", alice), 404, "not_found")
	checkProblem(t, ts.do("GET", "/api/blobs/"+adminBlob, nil, "Authorization", bob), 404, "not_found")
	// Alice's next revision drops the blob: the old revision still
	// references it, and she may still read it.
	ts.must(200, "PUT", "/api/notes/"+id, map[string]any{"title": "no file"}, "Authorization", alice)
	ts.must(200, "GET", "/api/blobs/"+h, nil, "Authorization", alice)

	// Referenced by a resource Bob may read: Bob reads it.
	page := ts.must(201, "POST", "/api/pages", map[string]any{"file": adminBlob}).JSON(t)["id"].(string)
	ts.must(200, "GET", "/api/blobs/"+adminBlob, nil, "Authorization", bob)
	// Bob names it in his own owner-only note. Once the page is deleted,
	// the note alone lends access: to Bob, its owner, and to nobody else.
	ts.must(201, "POST", "/api/notes", map[string]any{"file": adminBlob}, "Authorization", bob)
	ts.must(200, "GET", "/api/blobs/"+adminBlob, nil, "Authorization", alice)
	ts.must(204, "DELETE", "/api/pages/"+page, nil)
	ts.must(200, "GET", "/api/blobs/"+adminBlob, nil, "Authorization", bob)
	checkProblem(t, ts.do("GET", "/api/blobs/"+adminBlob, nil, "Authorization", alice), 404, "not_found")
}

// TestBlobSetNull checks that an on_delete set_null, which writes a new
// revision of someone else's resource, keeps its blobs: the deleting user
// need not be able to read them.
func TestBlobSetNull(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name":"tags","schema":{"type":"object"},
		"permissions":{"read":["authenticated"],"create":["authenticated"],"delete":["owner"]}}`)
	ts.defineType(`{"name":"notes","schema":{"type":"object","properties":{
		"tag":{"type":["string","null"]},"file":{"type":"string","format":"blob"}}},
		"references":{"tag":{"type":"tags","on_delete":"set_null"}},
		"permissions":{"read":["owner"],"create":["owner"]}}`)
	token := func(name string) string {
		return "Bearer " + ts.must(201, "POST", "/api/keys", map[string]any{"name": name, "roles": []string{"user"}}).JSON(t)["token"].(string)
	}
	alice, bob := token("alice"), token("bob")
	tag := ts.must(201, "POST", "/api/tags", map[string]any{}, "Authorization", bob).JSON(t)["id"].(string)
	h := ts.must(201, "POST", "/api/blobs", []byte("alice's"), "Authorization", alice).JSON(t)["hash"].(string)
	note := ts.must(201, "POST", "/api/notes", map[string]any{"tag": tag, "file": h}, "Authorization", alice).JSON(t)["id"].(string)
	ts.must(204, "DELETE", "/api/tags/"+tag, nil, "Authorization", bob)
	got := ts.must(200, "GET", "/api/notes/"+note, nil, "Authorization", alice).JSON(t)
	if dig(got, "data.tag") != nil || dig(got, "data.file") != h || dig(got, "revision.number") != 2.0 {
		t.Fatalf("note after set_null: %v", got)
	}
}
