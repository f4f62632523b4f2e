package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TestShutdownAfterIndexVanished deletes <data>/index under a running
// server and writes: searches still answer every resource, SIGTERM stops
// the server (its index's close used to wait forever for a persist into
// the vanished directory, with the persister spinning), and after a
// restart the index is rebuilt and answers the same.
func TestShutdownAfterIndexVanished(t *testing.T) {
	data := t.TempDir()
	p := startServer(t, data)
	call(t, "POST", p.url+"/api/types", docsType)
	count := func(p *process) string {
		t.Helper()
		st, raw := call(t, "GET", p.url+"/api/docs/count?filter="+url.QueryEscape("n >= 0"), "")
		if st != 200 {
			t.Fatalf("count: %d %s", st, raw)
		}
		return string(raw)
	}
	create := func(n int) {
		t.Helper()
		if st, raw := call(t, "POST", p.url+"/api/docs", `{"n":`+strconv.Itoa(n)+`}`); st != 201 {
			t.Fatalf("create: %d %s", st, raw)
		}
	}
	for n := range 3 {
		create(n)
	}
	if got := count(p); got != `{"count":3}` {
		t.Fatalf("count %s, want 3", got)
	}
	// The server may be writing into it meanwhile: a file created during
	// the walk makes RemoveAll fail, and the next try removes it.
	var err error
	for range 100 {
		if err = os.RemoveAll(filepath.Join(data, "index")); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	create(3)
	if got := count(p); got != `{"count":4}` {
		t.Errorf("count after the index vanished: %s, want 4", got)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.logText())
	}
	p2 := startServer(t, data)
	if got := count(p2); got != `{"count":4}` {
		t.Errorf("count after a restart: %s, want 4", got)
	}
}
