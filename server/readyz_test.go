package server_test

import (
	"net/http"
	"testing"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/server"
)

// TestReadyzAfterHooks checks that /readyz shows where the after_* hook
// runner stands: running, its position and its lag behind the change log.
func TestReadyzAfterHooks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(usersType)
	body := ts.must(200, "GET", "/readyz", nil).JSON(t)
	ah, ok := body["after_hooks"].(map[string]any)
	if !ok {
		t.Fatalf("/readyz has no after_hooks: %v", body)
	}
	if ah["running"] != true {
		t.Fatalf("after_hooks %v: not running", ah)
	}
	for _, k := range []string{"seq", "lag"} {
		if _, ok := ah[k].(float64); !ok {
			t.Fatalf("after_hooks %v: no number %s", ah, k)
		}
	}
	if _, failing := ah["failing_since"]; failing {
		t.Fatalf("after_hooks %v: failing on a healthy store", ah)
	}
}

// TestReadyzChangeLog checks that /readyz shows an administrator where the
// change log stands and every consumer of it (the search index, the
// after_* hook runner, each webhook), with its position and lag, and
// shows them to no one else: consumer names carry webhook ids.
func TestReadyzChangeLog(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.WithIndex(), apptest.Served(func(c *app.Config) {
		c.Auth = auth.Config{AdminKey: testAdminKey}
		c.Server = server.Options{RateLimit: server.RateLimit{IPRate: -1, PrincipalRate: -1}}
		c.Webhooks = fastWebhooks(true)
	}))
	ts := &testServer{t: t, URL: env.URL, Dir: env.Dir, env: env, m: env.Manager, client: &http.Client{}}
	t.Cleanup(ts.client.CloseIdleConnections)
	ts.defineType(usersType)
	hook := ts.must(201, "POST", "/api/webhooks", map[string]any{"url": "http://127.0.0.1:9/hook", "types": []string{"users"}}).JSON(t)
	ts.must(201, "POST", "/api/users", map[string]any{"name": "ada", "email": "ada@example.com"})

	body := ts.must(200, "GET", "/readyz", nil).JSON(t)
	ch, ok := body["changes"].(map[string]any)
	if !ok {
		t.Fatalf("/readyz has no changes section for an administrator: %v", body)
	}
	if ch["last_seq"].(float64) < 2 {
		t.Errorf("changes %v: last_seq below the two entries written", ch)
	}
	names := map[string]bool{}
	for _, c := range ch["consumers"].([]any) {
		c := c.(map[string]any)
		names[c["name"].(string)] = true
		for _, k := range []string{"seq", "lag"} {
			if _, ok := c[k].(float64); !ok {
				t.Errorf("consumer %v: no number %s", c, k)
			}
		}
	}
	for _, want := range []string{"search-index", "after_hooks", "webhook." + hook["id"].(string)} {
		if !names[want] {
			t.Errorf("consumers %v: %s missing", names, want)
		}
	}

	token := ts.must(201, "POST", "/api/keys", map[string]any{"name": "reader", "roles": []string{"reader"}}).JSON(t)["token"].(string)
	for _, auth := range []string{"", "Bearer " + token} {
		body := ts.do("GET", "/readyz", nil, "Authorization", auth)
		if body.Status != 200 {
			t.Fatalf("/readyz with %q: %d", auth, body.Status)
		}
		if _, ok := body.JSON(t)["changes"]; ok {
			t.Errorf("/readyz with %q shows the change log: %s", auth, body.Body)
		}
	}
}
