package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-dev/strata/plugins/postgres/pgtest"
)

// strataBin is the strata binary built once for the end-to-end tests.
var strataBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	strataBin = filepath.Join(dir, "strata")
	build := exec.Command("go", "build", "-o", strataBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build strata:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running strata serve.
type process struct {
	cmd   *exec.Cmd
	url   string
	logs  *bytes.Buffer
	mu    sync.Mutex    // guards logs and wrote
	wrote chan struct{} // closed at the next line logged; nil when none waits
	eof   chan struct{} // closed when the server's stderr ends
	done  chan error
}

// logText is what the server has logged so far.
func (p *process) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// log records a line the server logged and wakes whoever waits for one.
func (p *process) log(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logs.WriteString(line + "\n")
	if p.wrote != nil {
		close(p.wrote)
		p.wrote = nil
	}
}

// nextLine is closed when the server logs its next line.
func (p *process) nextLine() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wrote == nil {
		p.wrote = make(chan struct{})
	}
	return p.wrote
}

// waitForLog waits until the server has logged s, woken by each line it
// logs. The bound only ends a test whose server never logs s.
func waitForLog(t *testing.T, p *process, s string) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		next := p.nextLine()
		if strings.Contains(p.logText(), s) {
			return
		}
		select {
		case <-next:
		case <-p.eof:
			if strings.Contains(p.logText(), s) {
				return
			}
			t.Fatalf("the server exited without logging %q:\n%s", s, p.logText())
		case <-deadline.C:
			t.Fatalf("the server never logged %q:\n%s", s, p.logText())
		}
	}
}

var listenPattern = regexp.MustCompile(`strata listening"? addr=(\S+)`)

// adminKey is the administrator key the end-to-end servers run with; call
// sends it.
const adminKey = "e2e-admin-key-0123456789"

// startServer runs strata serve over dataDir on a free loopback port, with
// adminKey as its administrator key, and waits until it listens.
func startServer(t *testing.T, dataDir string, extra ...string) *process {
	t.Helper()
	return startServerEnv(t, dataDir, []string{"STRATA_ADMIN_KEY=" + adminKey}, extra...)
}

// startServerEnv is startServer with env added to the environment instead
// of the admin key.
func startServerEnv(t *testing.T, dataDir string, env []string, extra ...string) *process {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir}, extra...)
	cmd := exec.Command(strataBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: &bytes.Buffer{}, eof: make(chan struct{}), done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.log(line)
			if m := listenPattern.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		close(p.eof)
		p.done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		p.url = "http://" + a
	case err := <-p.done:
		t.Fatalf("strata exited before listening: %v\n%s", err, p.logText())
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("strata did not start\n%s", p.logText())
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends sig and waits for the process to exit.
func (p *process) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		return err
	case <-time.After(30 * time.Second):
		// SIGQUIT makes the Go runtime print every goroutine's stack, which
		// says where shutdown is stuck.
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		t.Fatalf("strata did not stop within 30 s of %v:\n%s", sig, p.logText())
		return nil
	}
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

func call(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	status, raw, err := tryCall(method, url, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return status, raw
}

func tryCall(method, url, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

const docsType = `{"name":"docs","schema":{"type":"object","required":["n"],"properties":{"n":{"type":"integer"},"w":{"type":"integer"},"pad":{"type":"string"}}},"unique":["n"]}`

// TestKillDuringWrites kills the server with SIGKILL in the middle of a
// stream of concurrent creates and checks, after a restart, that every
// acknowledged write is present and intact and the change log has no gap.
func TestKillDuringWrites(t *testing.T) {
	data := t.TempDir()
	p := startServer(t, data, noRateLimits...)
	if st, body := call(t, "POST", p.url+"/api/types", docsType); st != 201 {
		t.Fatalf("define type: %d %s", st, body)
	}

	type ack struct {
		id   string
		body string
	}
	var (
		mu    sync.Mutex
		acked []ack
		wg    sync.WaitGroup
	)
	stopWriting := make(chan struct{})
	reached := make(chan struct{})
	var reachedOnce sync.Once
	const writers, target = 16, 1500
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopWriting:
					return
				default:
				}
				body := fmt.Sprintf(`{"n":%d,"w":%d,"pad":%q}`, w*1_000_000+i, w, strings.Repeat("x", 200))
				status, raw, err := tryCall("POST", p.url+"/api/docs", body)
				if err != nil {
					return // the server died under us: this write was not acknowledged
				}
				if status != 201 {
					continue
				}
				var env struct{ ID string }
				if json.Unmarshal(raw, &env) == nil {
					mu.Lock()
					acked = append(acked, ack{env.ID, body})
					if len(acked) >= target {
						reachedOnce.Do(func() { close(reached) })
					}
					mu.Unlock()
				}
			}
		}()
	}
	// Let writes flow, then kill mid-stream.
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
	}
	_ = p.stop(t, syscall.SIGKILL)
	close(stopWriting)
	wg.Wait()
	if len(acked) < 100 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}

	p2 := startServer(t, data, noRateLimits...)
	for _, a := range acked {
		status, raw := call(t, "GET", p2.url+"/api/docs/"+a.id+"?returns=data", "")
		if status != 200 {
			t.Fatalf("acknowledged write %s lost after kill: %d %s", a.id, status, raw)
		}
		var got, want map[string]any
		_ = json.Unmarshal(raw, &got)
		_ = json.Unmarshal([]byte(a.body), &want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("write %s damaged: got %s want %s", a.id, raw, a.body)
		}
	}
	// The change log is gap-free and covers every resource.
	var seq uint64
	creates := 0
	for {
		status, raw := call(t, "GET", fmt.Sprintf("%s/api/changes?since=%d&limit=1000", p2.url, seq), "")
		if status != 200 {
			t.Fatalf("changes: %d %s", status, raw)
		}
		var page struct {
			Items []struct {
				Seq    uint64 `json:"seq"`
				Action string `json:"action"`
			} `json:"items"`
			NextSince uint64 `json:"next_since"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Items) == 0 {
			break
		}
		for _, it := range page.Items {
			if it.Seq != seq+1 {
				t.Fatalf("change log gap: %d after %d", it.Seq, seq)
			}
			seq = it.Seq
			if it.Action == "create" {
				creates++
			}
		}
	}
	_, raw := call(t, "GET", p2.url+"/api/docs/count", "")
	var count struct{ Count int }
	_ = json.Unmarshal(raw, &count)
	if creates != count.Count || creates < len(acked) {
		t.Fatalf("change log has %d creates, store has %d resources, %d were acknowledged", creates, count.Count, len(acked))
	}
	t.Logf("%d acknowledged creates survived SIGKILL; %d committed in all; change log 1..%d without gaps", len(acked), count.Count, seq)
}

// TestGracefulShutdown stops the server with SIGTERM and SIGINT and
// checks it exits cleanly with its data intact and the store unlocked.
func TestGracefulShutdown(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			data := t.TempDir()
			p := startServer(t, data)
			call(t, "POST", p.url+"/api/types", docsType)
			st, raw := call(t, "POST", p.url+"/api/docs", `{"n":1}`)
			if st != 201 {
				t.Fatalf("create: %d %s", st, raw)
			}
			if err := p.stop(t, sig); err != nil {
				t.Fatalf("exit after %v: %v\n%s", sig, err, p.logText())
			}
			if !strings.Contains(p.logText(), "stopped") {
				t.Fatalf("no clean stop logged:\n%s", p.logText())
			}
			// The store is closed and unlocked: the CLI can read it directly.
			out, err := exec.Command(strataBin, "types", "--data", data).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "docs") {
				t.Fatalf("strata types after shutdown: %v\n%s", err, out)
			}
			p2 := startServer(t, data)
			if st, _ := call(t, "GET", p2.url+"/api/docs/count", ""); st != 200 {
				t.Fatalf("restart: %d", st)
			}
		})
	}
}

// TestConfigFileTypes starts the server with types declared in
// strata.yaml and lists them with strata types --url.
func TestConfigFileTypes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "strata.yaml")
	err := os.WriteFile(cfg, []byte(`
types:
  - name: books
    schema:
      type: object
      required: [title]
      properties:
        title: {type: string}
    unique: [title]
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p := startServer(t, filepath.Join(dir, "data"), "--config", cfg)
	if st, raw := call(t, "POST", p.url+"/api/books", `{"title":"Dune"}`); st != 201 {
		t.Fatalf("create book: %d %s", st, raw)
	}
	if st, _ := call(t, "POST", p.url+"/api/books", `{"title":"Dune"}`); st != 409 {
		t.Fatalf("unique from config not enforced: %d", st)
	}
	if st, _ := call(t, "POST", p.url+"/api/books", `{"author":"x"}`); st != 422 {
		t.Fatalf("schema from config not enforced: %d", st)
	}
	typesCmd := exec.Command(strataBin, "types", "--url", p.url)
	typesCmd.Env = append(os.Environ(), "STRATA_TOKEN="+adminKey)
	out, err := typesCmd.CombinedOutput()
	if err != nil || !regexp.MustCompile(`books\s+1\s+title`).Match(out) || strings.Contains(string(out), "STRATA_TOKEN") {
		t.Fatalf("strata types --url: %v\n%s", err, out)
	}
	// Without a token only public types are listed (books is not), and
	// stderr says so rather than leaving the list silently short.
	typesCmd = exec.Command(strataBin, "types", "--url", p.url)
	typesCmd.Env = append(os.Environ(), "STRATA_TOKEN=")
	var stdout, stderr bytes.Buffer
	typesCmd.Stdout, typesCmd.Stderr = &stdout, &stderr
	if err := typesCmd.Run(); err != nil || strings.Contains(stdout.String(), "books") ||
		!strings.Contains(stderr.String(), "STRATA_TOKEN is not set: listing only the types anonymous clients may read") {
		t.Fatalf("strata types --url without a token: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	// While the server runs, the data directory is locked.
	out, err = exec.Command(strataBin, "types", "--data", filepath.Join(dir, "data")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--url") {
		t.Fatalf("strata types on a locked store: %v\n%s", err, out)
	}
}

// TestReindex rebuilds the search index offline and finds the same results.
func TestReindex(t *testing.T) {
	data := t.TempDir()
	p := startServer(t, data)
	call(t, "POST", p.url+"/api/types", docsType)
	for i := range 30 {
		call(t, "POST", p.url+"/api/docs", fmt.Sprintf(`{"n":%d,"w":%d}`, i, i%3))
	}
	query := p.url + "/api/docs?filter=w%20%3D%202&sort=-n&limit=100"
	_, before := call(t, "GET", query, "")
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"reindex", "docs"}, {"reindex"}} {
		out, err := exec.Command(strataBin, append(args, "--data", data)...).CombinedOutput()
		// The types rebuilt are named, also when none was asked for.
		if err != nil || !strings.HasPrefix(string(out), "reindexed docs in ") {
			t.Fatalf("strata %v: %v\n%s", args, err, out)
		}
	}
	if out, err := exec.Command(strataBin, "reindex", "nothing", "--data", data).CombinedOutput(); err == nil {
		t.Fatalf("reindex of an unknown type succeeded:\n%s", out)
	}
	p2 := startServer(t, data)
	if _, after := call(t, "GET", strings.Replace(query, p.url, p2.url, 1), ""); string(after) != string(before) {
		t.Fatalf("after reindex:\n%s\nbefore:\n%s", after, before)
	}
}

// TestServePostgres runs strata serve over PostgreSQL, selected by a
// postgres:// storage URL, and creates, reads, lists and searches through
// HTTP; a restarted server finds everything again.
func TestServePostgres(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	data := t.TempDir()
	p := startServer(t, data, "--storage", dbURL)
	searchable := strings.Replace(docsType, `"unique":["n"]`, `"unique":["n"],"search":["pad"]`, 1)
	if st, body := call(t, "POST", p.url+"/api/types", searchable); st != 201 {
		t.Fatalf("create type: %d %s", st, body)
	}
	ids := make([]string, 10)
	for i := range ids {
		st, body := call(t, "POST", p.url+"/api/docs", fmt.Sprintf(`{"n":%d,"w":%d,"pad":"word%d"}`, i, i%3, i))
		if st != 201 {
			t.Fatalf("create %d: %d %s", i, st, body)
		}
		var r struct{ ID string }
		if err := json.Unmarshal(body, &r); err != nil || r.ID == "" {
			t.Fatalf("create %d: id in %s: %v", i, body, err)
		}
		ids[i] = r.ID
	}
	if st, body := call(t, "POST", p.url+"/api/docs", `{"n":3}`); st != 409 {
		t.Fatalf("create with a taken unique value: %d %s, want 409", st, body)
	}
	check := func(p *process) {
		t.Helper()
		st, body := call(t, "GET", p.url+"/api/docs/"+ids[4], "")
		if st != 200 || !strings.Contains(string(body), `"n":4`) {
			t.Fatalf("get: %d %s", st, body)
		}
		tests := []struct {
			query string
			want  int
		}{
			{"limit=100", 10},
			{"filter=w%20%3D%202&limit=100", 3},
			{"q=word7", 1},
		}
		for _, tt := range tests {
			st, body := call(t, "GET", p.url+"/api/docs?"+tt.query, "")
			var page struct{ Items []json.RawMessage }
			if err := json.Unmarshal(body, &page); st != 200 || err != nil || len(page.Items) != tt.want {
				t.Fatalf("list %s: %d, %d items (want %d): %s", tt.query, st, len(page.Items), tt.want, body)
			}
		}
	}
	check(p)
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	check(startServer(t, t.TempDir(), "--storage", dbURL)) // a fresh node: its index is rebuilt from the database
}
