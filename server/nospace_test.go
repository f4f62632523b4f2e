package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/testdisk"
)

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestDiskFull runs a server whose bolt file and search index share a
// real, small file system (tmpfs) and fills it: the write that does not
// fit answers 507 insufficient_storage with a clear detail and writes
// nothing; searches still answer; the process then stays nearly idle
// (scorch's merger and persister used to retry at once, forever, on one
// or two cores); once space is freed, writes and searches work again; and
// the server stops.
func TestDiskFull(t *testing.T) {
	dir := testdisk.Tiny(t, "8m")
	// Deleted later to free space.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startTestServer(t, dir)
	ts.defineType(`{"name": "notes", "schema": {"type": "object", "properties": {"title": {"type": "string", "maxLength": 100}, "n": {"type": "integer"}}},
	  "search": ["title"]}`)
	count := func() float64 {
		t.Helper()
		r := ts.must(http.StatusOK, "GET", "/api/notes/count?filter="+url.QueryEscape("n >= 0"), nil)
		return r.JSON(t)["count"].(float64)
	}
	// Unindexed padding fills the disk fast; the indexed fields make the
	// index write segments too.
	pad := strings.Repeat("p", 48<<10)
	note := func(i int) string {
		return fmt.Sprintf(`{"id": "n%04d", "title": "note number %d", "n": %d, "pad": %q}`, i, i, i, pad)
	}
	ts.must(http.StatusCreated, "POST", "/api/notes", note(0))
	if c := count(); c != 1 { // builds the index
		t.Fatalf("count %v, want 1", c)
	}
	full := -1
	for i := 1; i < 1000; i++ {
		r := ts.do("POST", "/api/notes", note(i))
		if r.Status == http.StatusCreated {
			if i%10 == 0 {
				count() // the index takes its share of the disk
			}
			continue
		}
		p := checkProblem(t, r, http.StatusInsufficientStorage, "insufficient_storage")
		if d, _ := p["detail"].(string); !strings.Contains(d, "disk is full") || strings.Contains(d, dir) {
			t.Errorf("detail %q: want it to say the disk is full, without naming files", d)
		}
		full = i
		break
	}
	if full < 0 {
		t.Fatal("the disk never filled")
	}
	ts.must(http.StatusNotFound, "GET", fmt.Sprintf("/api/notes/n%04d", full), nil)
	if c := count(); c != float64(full) {
		t.Errorf("count on a full disk: %v, want %d", c, full)
	}
	// Nothing should run now. The interval is a wait, not a sleep: the
	// point is what the process burns while no request arrives.
	const interval = 2 * time.Second
	before := cpuTime(t)
	timer := time.NewTimer(interval)
	<-timer.C
	used := cpuTime(t) - before
	t.Logf("CPU used in %s idle on a full disk: %s", interval, used)
	if used > interval/2 {
		t.Errorf("CPU used in %s idle on a full disk: %s, want under half a core", interval, used)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	ts.must(http.StatusCreated, "POST", "/api/notes", note(full))
	if c := count(); c != float64(full+1) {
		t.Errorf("count after freeing space: %v, want %d", c, full+1)
	}
	r := ts.must(http.StatusOK, "GET", "/api/notes?q="+url.QueryEscape(fmt.Sprintf(`"number %d"`, full)), nil)
	if items, _ := r.JSON(t)["items"].([]any); len(items) != 1 {
		t.Errorf("q after freeing space: %d items, want 1\n%s", len(items), r.Body)
	}

	stopped := make(chan struct{})
	go func() { ts.stop(); close(stopped) }()
	stopTimer := time.NewTimer(time.Minute)
	defer stopTimer.Stop()
	select {
	case <-stopped:
	case <-stopTimer.C:
		t.Fatal("the server did not stop within a minute")
	}
}
