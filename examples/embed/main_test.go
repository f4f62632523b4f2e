package main

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEmbedded drives the embedding application over HTTP: Strata's API
// under /strata, its search included, problem+json errors even though the host app keeps
// Fiber's default error handler, and the host's own route reading Strata.
func TestEmbedded(t *testing.T) {
	app, closeAll, err := newApp(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()

	send := func(method, path, body string) (int, string, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(raw)
	}

	status, _, body := send("POST", "/strata/api/notes", `{"text":"hello"}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	var env struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal([]byte(body), &env)
	if status, _, _ := send("GET", "/strata/api/notes/"+env.ID, ""); status != 200 {
		t.Fatalf("read: %d", status)
	}
	status, ctype, body := send("POST", "/strata/api/notes", `{"text":`+strings.Repeat(`"x`, 1)+`}`)
	if status != 400 || ctype != "application/problem+json" {
		t.Fatalf("malformed create: %d %s %s", status, ctype, body)
	}
	status, ctype, _ = send("POST", "/strata/api/notes", `{"text":"`+strings.Repeat("x", 300)+`"}`)
	if status != 422 || ctype != "application/problem+json" {
		t.Fatalf("invalid create: %d %s", status, ctype)
	}
	// The search index is built with the rest: a filter finds the note
	// just created (read-your-writes).
	if status, _, body := send("GET", `/strata/api/notes?filter=text%3D%22hello%22`, ""); status != 200 || !strings.Contains(body, env.ID) {
		t.Fatalf("search: %d %s", status, body)
	}
	if status, _, body := send("GET", "/hello", ""); status != 200 || !strings.Contains(body, `"notes":1`) {
		t.Fatalf("host route: %d %s", status, body)
	}
	// The host's route reads through the Manager with the request's
	// (anonymous) context: core refuses drafts as Strata's API does.
	if status, _, body := send("GET", "/drafts/count", ""); status != 401 {
		t.Fatalf("host route on an admins-only type: %d %s", status, body)
	}
	if status, _, body := send("GET", "/strata/api/drafts/count", ""); status != 401 {
		t.Fatalf("API on an admins-only type: %d %s", status, body)
	}
	if status, _, body := send("GET", "/strata/openapi.json", ""); status != 200 || !strings.Contains(body, `"notes"`) {
		t.Fatalf("openapi under the mount: %d", status)
	}
	// Location is relative to the mount point.
	req := httptest.NewRequest("POST", "/strata/api/notes", strings.NewReader(`{"text":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, _ := app.Test(req, -1)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/strata/api/notes/") {
		t.Fatalf("Location = %q", loc)
	}
}
