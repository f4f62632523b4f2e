package server_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// eventSourceDir holds the Node EventSource client the test drives (its
// packages are installed by `make eventsource-client`, which `make test`
// runs).
const eventSourceDir = "testdata/eventsource"

// nodePackage returns the path of node, once the npm package pkg is
// installed in dir (by `make target`, which `make test` runs). Without
// them the test is skipped, and under CI it fails.
func nodePackage(t *testing.T, dir, pkg, target string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg)); err != nil {
		msg := fmt.Sprintf("the npm package %s is not installed; run `make %s`", pkg, target)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip("node is not installed")
	}
	return node
}

// TestEventSourceClient drives a real EventSource client (the npm
// `eventsource` package) against the server: it loses its connection,
// 100 changes are written meanwhile, and it reconnects by itself with
// Last-Event-ID; every change must arrive exactly once, in order
// (testdata/eventsource/reconnect.mjs checks).
func TestEventSourceClient(t *testing.T) {
	t.Parallel()
	node := nodePackage(t, eventSourceDir, "eventsource", "eventsource-client")
	ts := newTestServer(t)
	ts.defineType(`{"name":"notes","schema":{"type":"object","properties":{"n":{"type":"integer"}}}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "reconnect.mjs", ts.URL, testAdminKey, "notes")
	cmd.Dir = eventSourceDir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the EventSource client: %v\n%s", err, out.String())
	}
	t.Logf("%s", out.String())
}
