package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/strata-dev/strata/server"
)

// TestHookRegisterTimeout: registering a module is bounded by
// HookRegisterTimeout, not RequestTimeout. With a RequestTimeout too short
// for any work, an ordinary request fails while a registration (its
// upload, handler and answer) succeeds.
func TestHookRegisterTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *server.Options) {
		o.RequestTimeout = time.Nanosecond
		o.HookRegisterTimeout = time.Hour // generous: the point is that it is not RequestTimeout
	})
	req, err := http.NewRequest("GET", ts.URL+"/api/types/none/count", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	if resp, err := ts.client.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 500 {
			t.Fatalf("an ordinary request answered %d within a RequestTimeout of 1ns", resp.StatusCode)
		}
	}
	r := ts.do("PUT", "/api/hooks/titles", exampleModule(t, "wat"), "Content-Type", "application/wasm")
	if r.Status != 201 {
		t.Fatalf("registration under a 1ns RequestTimeout: %d %s", r.Status, r.Body)
	}
	mods, err := ts.m.HookModules()
	if err != nil || len(mods) != 1 || mods[0].Name != "titles" {
		t.Fatalf("modules after registration: %v, %v", mods, err)
	}
}
