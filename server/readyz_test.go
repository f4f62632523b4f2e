package server_test

import "testing"

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
