package server_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// eventsServerEnv makes TestEventsServerProcess serve instead of skipping:
// TestEventsIdleMemory runs the test binary again that way, so that the
// memory it measures is the server's alone.
const eventsServerEnv = "STRATA_TEST_EVENTS_SERVER"

// TestEventsServerProcess is the server process of TestEventsIdleMemory:
// it prints its URL and serves until its standard input closes.
func TestEventsServerProcess(t *testing.T) {
	if os.Getenv(eventsServerEnv) == "" {
		t.Skip("the server process of TestEventsIdleMemory")
	}
	ts := newTestServer(t)
	ts.defineType(postsType)
	fmt.Printf("URL=%s\n", ts.URL)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}

// TestEventsIdleMemory opens 1,000 idle event streams on a server in
// another process and measures how much its resident memory grows.
func TestEventsIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	t.Parallel()
	const subscribers = 1000
	// The bound is generous: what it catches is a buffer per subscriber,
	// such as a page of events or a channel of them held while idle. An
	// idle subscriber measured 37 KiB without the race detector (its
	// connection's buffers, the stream's, two goroutines) and 195 KiB
	// with it.
	maxPerSubscriber := 96 << 10
	if raceEnabled {
		maxPerSubscriber = 384 << 10
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEventsServerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), eventsServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	var url string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "URL="); ok {
			url = u
			break
		}
	}
	if url == "" {
		t.Fatal("the server process printed no URL")
	}
	go func() { // keep draining, so the child never blocks on its output
		for sc.Scan() {
		}
	}()
	addr := strings.TrimPrefix(url, "http://")
	open := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET /api/events?types=posts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", testAdminKey)
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("subscribe: %v", err)
			}
			if strings.HasPrefix(line, ": connected") {
				return c
			}
		}
	}
	// Warm up: the first connections grow pools that later ones reuse.
	for range 20 {
		open()
	}
	before := rss(t, cmd.Process.Pid)
	for range subscribers {
		open()
	}
	after := rss(t, cmd.Process.Pid)
	per := (after - before) / subscribers
	t.Logf("server RSS %d KiB before, %d KiB with %d more idle subscribers: %d KiB each",
		before>>10, after>>10, subscribers, per>>10)
	if per > maxPerSubscriber {
		t.Errorf("an idle subscriber costs %d KiB of server memory, want at most %d KiB", per>>10, maxPerSubscriber>>10)
	}
}

// rss returns the resident memory of process pid, in bytes.
func rss(t *testing.T, pid int) int {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
