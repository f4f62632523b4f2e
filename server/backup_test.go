package server_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const backupNotesType = `{"name": "jots", "schema": {"type": "object", "required": ["n"],
  "properties": {"n": {"type": "integer"}, "w": {"type": "integer"}, "pad": {"type": "string"}}}, "search": []}`

// TestBackupWhileWriting takes a backup while 16 writers create
// resources: the copy holds every write acknowledged before the backup
// was asked for, and a server started on a directory holding only the
// copy, as strata.db, serves them, its search index rebuilt.
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(backupNotesType)

	const writers = 16
	var (
		mu      sync.Mutex
		acked   []string
		failed  []string
		stop    = make(chan struct{})
		started = make(chan struct{})
		once    sync.Once
		wg      sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%02d-%06d", w, i)
				body := fmt.Sprintf(`{"id": %q, "n": %d, "w": %d}`, id, i, w)
				req, _ := http.NewRequest("POST", ts.URL+"/api/jots", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+testAdminKey)
				resp, err := ts.client.Do(req)
				if err != nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
					return
				}
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == http.StatusCreated {
					acked = append(acked, id)
				} else {
					failed = append(failed, id+": "+resp.Status)
				}
				n := len(acked)
				mu.Unlock()
				if n >= 20*writers {
					once.Do(func() { close(started) })
				}
			}
		})
	}
	<-started
	mu.Lock()
	before := slices.Clone(acked)
	mu.Unlock()
	r := ts.must(200, "GET", "/api/backup", nil)
	close(stop)
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("writes failed during the backup: %v", failed[:min(len(failed), 5)])
	}
	if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(len(r.Body)) {
		t.Fatalf("Content-Length %s for %d bytes", cl, len(r.Body))
	}
	t.Logf("%d writes acknowledged before the backup, %d in all", len(before), len(acked))

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "strata.db"), r.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := startTestServer(t, dir)
	for _, id := range before {
		restored.must(200, "GET", "/api/jots/"+id, nil)
	}
	// The index, rebuilt from the copy, finds them too.
	total := restored.must(200, "GET", "/api/jots?filter=n%3E%3D0&total=true&limit=1", nil).JSON(t)["total"].(float64)
	if int(total) < len(before) || int(total) > len(acked) {
		t.Fatalf("the restored index counts %v notes: want between %d and %d", total, len(before), len(acked))
	}
}

// TestBackupIsABoltFile: the backup is a bolt file.
func TestBackupIsABoltFile(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := ts.must(200, "GET", "/api/backup", nil)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/octet-stream") || len(r.Body) < 4096 {
		t.Fatalf("backup: %v, %d bytes", r.Header, len(r.Body))
	}
	// bolt's magic number, in the meta page.
	if !strings.Contains(string(r.Body[:4096]), "\xed\xda\x0c\xed") {
		t.Fatal("the backup does not hold bolt's magic number")
	}
}

// TestBackupClientGoesAway: a client that stops reading a backup and
// closes the connection ends the copy and its read transaction, so the
// server closes at once (a leaked transaction would hold its store's
// Close until transfer_timeout).
func TestBackupClientGoesAway(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(backupNotesType)
	pad := strings.Repeat("x", 60_000)
	for i := range 200 {
		ts.must(201, "POST", "/api/jots", fmt.Sprintf(`{"n": %d, "pad": %q}`, i, pad))
	}
	req, _ := http.NewRequest("GET", ts.URL+"/api/backup", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength < 10<<20 {
		t.Fatalf("a backup of %d bytes: too small to outlast the socket buffers", resp.ContentLength)
	}
	if _, err := resp.Body.Read(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // unread: the connection is closed
	ts.stop()         // returns once the copy's transaction has ended
}
