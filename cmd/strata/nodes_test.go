package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-dev/strata/plugins/postgres/pgtest"
)

// answer is one HTTP answer of a node.
type answer struct {
	status int
	body   []byte
	header http.Header
}

// seq is the answer's Strata-Seq, 0 when it has none.
func (a answer) seq() uint64 {
	n, _ := strconv.ParseUint(a.header.Get("Strata-Seq"), 10, 64)
	return n
}

// do sends a request with the admin key (or token, when not empty) and
// Strata-Seq seq when not 0.
func do(t *testing.T, method, url, body, token string, seq uint64) answer {
	t.Helper()
	a, err := tryDo(method, url, body, token, seq)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return a
}

func tryDo(method, url, body, token string, seq uint64) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return answer{}, err
	}
	switch {
	case strings.HasPrefix(body, "\x00asm"):
		req.Header.Set("Content-Type", "application/wasm")
	case body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	if token == "" {
		token = adminKey
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if seq > 0 {
		req.Header.Set("Strata-Seq", strconv.FormatUint(seq, 10))
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, raw, resp.Header}, err
}

// seqReceiver is a webhook receiver counting the deliveries of each seq.
type seqReceiver struct {
	mu  sync.Mutex
	got map[uint64]int
}

func (rc *seqReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev struct{ Data struct{ Seq uint64 } }
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.Data.Seq == 0 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got[ev.Data.Seq]++
	rc.mu.Unlock()
}

// counts returns how often each seq was delivered.
func (rc *seqReceiver) counts() map[uint64]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[uint64]int, len(rc.got))
	for k, v := range rc.got {
		out[k] = v
	}
	return out
}

// eventually polls cond every 10 ms until it holds and returns how long
// that took; the bound only ends a test whose cond never holds.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestNodesShareOneDatabase runs three strata serve processes on one
// PostgreSQL database, as a cluster behind a round-robin balancer would:
// what is written on one node is read and searched on the others (with
// Strata-Seq), a unique value raced for on all of them is won once, a
// hook uploaded on one runs on the others, a key revoked on one is
// refused by the others, a blob uploaded on one is served by the others
// (whole and by range), a webhook gets each change once, and a node
// killed with SIGKILL under load loses no acknowledged write, while the
// others go on serving and the restarted node catches up.
func TestNodesShareOneDatabase(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	rc := &seqReceiver{got: map[uint64]int{}}
	hookSrv := httptest.NewServer(rc)
	t.Cleanup(hookSrv.Close)
	args := append([]string{"--storage", dbURL, "--lease-ttl", "2s", "--webhook-allow-private"}, noRateLimits...)
	dataDirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := make([]*process, 3)
	for i := range nodes {
		nodes[i] = startServer(t, dataDirs[i], args...)
	}
	node := func(i int) string { return nodes[i%len(nodes)].url }
	t.Cleanup(func() {
		if t.Failed() {
			for i := range nodes {
				if a, err := tryDo("GET", node(i)+"/api/webhooks", "", "", 0); err == nil {
					t.Logf("node %d webhooks: %s", i, a.body)
				}
			}
			for i, p := range nodes {
				t.Logf("node %d logged:\n%s", i, p.logText())
			}
		}
	})

	searchable := strings.Replace(docsType, `"unique":["n"]`, `"unique":["n"],"search":["pad"]`, 1)
	created := do(t, "POST", node(0)+"/api/types", searchable, "", 0)
	if created.status != 201 || created.seq() == 0 {
		t.Fatalf("create type: %d %s (Strata-Seq %q)", created.status, created.body, created.header.Get("Strata-Seq"))
	}
	wh := do(t, "POST", node(1)+"/api/webhooks", fmt.Sprintf(`{"url":%q,"types":["docs"]}`, hookSrv.URL), "", created.seq())
	var webhook struct{ ID string }
	if err := json.Unmarshal(wh.body, &webhook); wh.status != 201 || err != nil || webhook.ID == "" {
		t.Fatalf("create webhook: %d %s", wh.status, wh.body)
	}
	webhookID := webhook.ID
	var lastSeq uint64 // the newest seq a write answered

	t.Run("read-your-writes", func(t *testing.T) {
		seq := created.seq()
		for i := range 30 {
			w := do(t, "POST", node(i)+"/api/docs", fmt.Sprintf(`{"n":%d,"w":%d,"pad":"word%d"}`, i, i%3, i), "", seq)
			if w.status != 201 || w.seq() <= seq {
				t.Fatalf("create %d on node %d: %d %s, Strata-Seq %d after %d", i, i%3, w.status, w.body, w.seq(), seq)
			}
			seq = w.seq()
			// At once, on the next node: a search, a filtered count.
			r := do(t, "GET", node(i+1)+fmt.Sprintf("/api/docs?q=word%d", i), "", "", seq)
			var page struct{ Items []json.RawMessage }
			if err := json.Unmarshal(r.body, &page); r.status != 200 || err != nil || len(page.Items) != 1 {
				t.Fatalf("search for write %d on node %d: %d %s", i, (i+1)%3, r.status, r.body)
			}
			c := do(t, "GET", node(i+2)+"/api/docs/count?filter=w%20%3E%3D%200", "", "", seq)
			if c.status != 200 || !strings.Contains(string(c.body), fmt.Sprintf(`"count":%d`, i+1)) {
				t.Fatalf("count after write %d on node %d: %d %s", i, (i+2)%3, c.status, c.body)
			}
		}
		batch := do(t, "POST", node(2)+"/api/batch", `{"requests":[{"method":"POST","url":"/api/docs","body":{"n":100}}]}`, "", seq)
		if batch.status != 200 || batch.seq() <= seq {
			t.Fatalf("batch: %d %s, Strata-Seq %d after %d", batch.status, batch.body, batch.seq(), seq)
		}
		lastSeq = batch.seq()
		if r := do(t, "GET", node(0)+"/api/docs", "", "", lastSeq+1000); r.status != 503 {
			t.Fatalf("a Strata-Seq no node has seen: %d %s, want 503", r.status, r.body)
		}
	})

	t.Run("unique-race", func(t *testing.T) {
		var wg sync.WaitGroup
		statuses := make(chan int, 9)
		for i := range 9 {
			wg.Go(func() {
				a, err := tryDo("POST", node(i)+"/api/docs", `{"n":-1}`, "", 0)
				if err != nil {
					t.Errorf("race %d: %v", i, err)
					return
				}
				statuses <- a.status
			})
		}
		wg.Wait()
		close(statuses)
		won := 0
		for st := range statuses {
			switch st {
			case 201:
				won++
			case 409:
			default:
				t.Errorf("racing create: %d, want 201 or 409", st)
			}
		}
		if won != 1 {
			t.Fatalf("%d of 9 creates racing on one unique value on 3 nodes succeeded, want 1", won)
		}
	})

	t.Run("hook-on-every-node", func(t *testing.T) {
		wasm, err := os.ReadFile(builtHook(t, "c"))
		if err != nil {
			t.Fatal(err)
		}
		up := do(t, "PUT", node(0)+"/api/hooks/titles", string(wasm), "", 0)
		if up.status != 200 && up.status != 201 {
			t.Fatalf("upload hook: %d %s", up.status, up.body)
		}
		took := eventually(t, "the hook uploaded on node 0 on node 1", func() bool {
			return do(t, "GET", node(1)+"/api/hooks/titles", "", "", 0).status == 200
		})
		t.Logf("a hook uploaded on one node was loaded by another after %v", took)
		typ := do(t, "POST", node(0)+"/api/types", `{"name":"posts","schema":{"type":"object"},"hooks":[{"stage":"before_create","module":"titles","timeout_ms":5000}]}`, "", 0)
		if typ.status != 201 {
			t.Fatalf("create posts: %d %s", typ.status, typ.body)
		}
		for i := 1; i < 3; i++ {
			if r := do(t, "POST", node(i)+"/api/posts", `{"title":"LOUD"}`, "", typ.seq()); r.status != 422 {
				t.Fatalf("a title the hook rejects, on node %d: %d %s, want 422", i, r.status, r.body)
			}
			if r := do(t, "POST", node(i)+"/api/posts", `{"title":"Hello World"}`, "", typ.seq()); r.status != 201 || !strings.Contains(string(r.body), `"slug":"hello-world"`) {
				t.Fatalf("a title the hook allows, on node %d: %d %s", i, r.status, r.body)
			}
		}
	})

	t.Run("key-revoked-everywhere", func(t *testing.T) {
		k := do(t, "POST", node(0)+"/api/keys", `{"name":"temp","roles":["admin"]}`, "", 0)
		var key struct{ ID, Token string }
		if err := json.Unmarshal(k.body, &key); k.status != 201 || err != nil || key.Token == "" {
			t.Fatalf("create key: %d %s", k.status, k.body)
		}
		for i := range 3 {
			if r := do(t, "GET", node(i)+"/api/types", "", key.Token, 0); r.status != 200 {
				t.Fatalf("the new key on node %d: %d %s", i, r.status, r.body)
			}
		}
		if r := do(t, "DELETE", node(0)+"/api/keys/"+key.ID, "", "", 0); r.status != 204 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		took := eventually(t, "the key revoked on node 0 refused on nodes 1 and 2", func() bool {
			return do(t, "GET", node(1)+"/api/types", "", key.Token, 0).status == 401 &&
				do(t, "GET", node(2)+"/api/types", "", key.Token, 0).status == 401
		})
		t.Logf("a key revoked on one node was refused by the others after %v", took)
	})

	t.Run("events-on-any-node", func(t *testing.T) {
		// A real EventSource client subscribed on node 0, written to on
		// every node, loses its connection and reconnects to node 1 with
		// Last-Event-ID: every change arrives once, in order
		// (reconnect.mjs checks).
		node0 := eventSourceClient(t)
		typ := do(t, "POST", node(0)+"/api/types", `{"name":"notes","schema":{"type":"object","properties":{"n":{"type":"integer"}}}}`, "", 0)
		if typ.status != 201 {
			t.Fatalf("create notes: %d %s", typ.status, typ.body)
		}
		// Each node must know the type before the client writes to it.
		for i := range nodes {
			if r := do(t, "GET", node(i)+"/api/types/notes", "", "", typ.seq()); r.status != 200 {
				t.Fatalf("notes on node %d: %d %s", i, r.status, r.body)
			}
		}
		cmd := exec.Command(node0, "reconnect.mjs", strings.Join([]string{node(0), node(1), node(2)}, ","), adminKey, "notes")
		cmd.Dir = eventSourceDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the EventSource client: %v\n%s", err, out)
		}
		t.Logf("%s", out)
	})

	t.Run("blobs-on-every-node", func(t *testing.T) {
		// Three chunks and a bit of the store's blob bytes (1 MiB each).
		data := strings.Repeat("a blob every node serves\n", 130_000)
		up := do(t, "POST", node(0)+"/api/blobs", data, "", 0)
		var blob struct{ Hash string }
		if err := json.Unmarshal(up.body, &blob); up.status != 201 || err != nil || blob.Hash == "" {
			t.Fatalf("upload on node 0: %d %s", up.status, up.body)
		}
		get := func(i int, rng string) answer {
			req, err := http.NewRequest("GET", node(i)+"/api/blobs/"+blob.Hash, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+adminKey)
			if rng != "" {
				req.Header.Set("Range", rng)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return answer{resp.StatusCode, raw, resp.Header}
		}
		for i := 1; i < 3; i++ {
			if a := get(i, ""); a.status != 200 || string(a.body) != data {
				t.Fatalf("the blob uploaded on node 0, on node %d: %d, %d bytes of %d", i, a.status, len(a.body), len(data))
			}
		}
		from, to := 1<<20-10, 2<<20+10 // across two chunk boundaries
		a := get(2, fmt.Sprintf("bytes=%d-%d", from, to))
		if a.status != 206 || string(a.body) != data[from:to+1] ||
			a.header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", from, to, len(data)) {
			t.Fatalf("a range of the blob on node 2: %d %q, %d bytes", a.status, a.header.Get("Content-Range"), len(a.body))
		}
	})

	// Every change of docs so far reached the webhook exactly once.
	var docSeqs []uint64
	changes := do(t, "GET", node(2)+fmt.Sprintf("/api/changes?types=docs&limit=1000&since=%d", created.seq()), "", "", lastSeq)
	var log struct{ Items []struct{ Seq uint64 } }
	if err := json.Unmarshal(changes.body, &log); changes.status != 200 || err != nil {
		t.Fatalf("changes: %d %s", changes.status, changes.body)
	}
	for _, ch := range log.Items {
		docSeqs = append(docSeqs, ch.Seq)
	}
	if !waitFor(func() bool {
		got := rc.counts()
		for _, s := range docSeqs {
			if got[s] == 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the webhook did not get every change of docs: want %v, got %v", docSeqs, rc.counts())
	}
	for s, n := range rc.counts() {
		if n != 1 {
			t.Errorf("the webhook got change %d %d times, want once", s, n)
		}
	}
	if len(docSeqs) < 32 {
		t.Fatalf("%d changes of docs, want at least 32", len(docSeqs))
	}

	t.Run("kill-a-node-under-load", func(t *testing.T) {
		type ack struct {
			id, body string
			seq      uint64
		}
		var (
			mu    sync.Mutex
			acked []ack
			// unknown counts the creates whose answer never came: the
			// node died under them, before or after their commit.
			unknown int
			wg      sync.WaitGroup
		)
		stop := make(chan struct{})
		killed := make(chan struct{})
		// victim is the node killed, read by the writers once killed is
		// closed.
		victim := -1
		for w := range 6 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					target := w % 3
					if isDone(killed) && target == victim {
						target = (victim + 1 + i%2) % 3 // the balancer drops the dead node
					}
					body := fmt.Sprintf(`{"n":%d,"w":%d,"pad":"load"}`, 1_000_000+w*100_000+i, w)
					a, err := tryDo("POST", nodes[target].url+"/api/docs", body, "", 0)
					if err != nil || a.status != 201 {
						mu.Lock()
						unknown++ // not acknowledged: the node died under it
						mu.Unlock()
						continue
					}
					var r struct{ ID string }
					if json.Unmarshal(a.body, &r) != nil || r.ID == "" {
						t.Errorf("create: no id in %s", a.body)
						return
					}
					mu.Lock()
					acked = append(acked, ack{r.ID, body, a.seq()})
					mu.Unlock()
				}
			})
		}
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
		eventually(t, "100 writes acknowledged", func() bool { return count() >= 100 })
		// The node killed is the one delivering the webhook, mid-delivery:
		// its lease must pass to another node once it expires.
		victim = webhookHolder(t, nodes, webhookID)
		if err := nodes[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-nodes[victim].done
		killedAt := time.Now()
		close(killed)
		before := count()
		eventually(t, "100 more writes acknowledged by the surviving nodes", func() bool { return count() >= before+100 })
		close(stop)
		wg.Wait()

		nodes[victim] = startServer(t, dataDirs[victim], args...) // the same data directory: its index resumes
		var newest uint64
		for _, a := range acked {
			newest = max(newest, a.seq)
		}
		for i, a := range acked {
			r := do(t, "GET", node(i)+"/api/docs/"+a.id, "", "", 0)
			var got struct{ Data json.RawMessage }
			if r.status != 200 || json.Unmarshal(r.body, &got) != nil || !jsonEqual(got.Data, a.body) {
				t.Fatalf("acknowledged write %s on node %d: %d %s, want data %s", a.id, i%3, r.status, r.body, a.body)
			}
		}
		// Every acknowledged write is counted; a create the dead node
		// committed without answering may be counted too.
		for i := range 3 {
			c := do(t, "GET", node(i)+"/api/docs/count?q=load", "", "", newest)
			var got struct{ Count *int }
			if c.status != 200 || json.Unmarshal(c.body, &got) != nil || got.Count == nil ||
				*got.Count < len(acked) || *got.Count > len(acked)+unknown {
				t.Fatalf("search count on node %d after the kill: %d %s, want %d to %d", i, c.status, c.body, len(acked), len(acked)+unknown)
			}
		}
		t.Logf("%d writes acknowledged across the kill of one of 3 nodes", len(acked))

		// The webhook goes on from another node: every acknowledged write
		// reaches it (a change the dead node was sending may come twice).
		eventually(t, "the webhook delivered every acknowledged write", func() bool {
			got := rc.counts()
			for _, a := range acked {
				if got[a.seq] == 0 {
					return false
				}
			}
			return true
		})
		if h := webhookHolder(t, nodes, webhookID); h == victim {
			t.Errorf("the webhook's lease is still held by the killed node %d", victim)
		}
		t.Logf("the webhook's lease passed from the killed node %d to another; every write delivered %v after the kill", victim, time.Since(killedAt).Round(time.Millisecond))
		twice := 0
		for _, n := range rc.counts() {
			if n > 1 {
				twice++
			}
		}
		t.Logf("the webhook got %d changes more than once across the kill", twice)
	})
}

// webhookHolder returns the index of the node holding the lease of the
// webhook id (the node delivering it), as /readyz tells administrators:
// each node names itself there, and the leases stored.
func webhookHolder(t *testing.T, nodes []*process, id string) int {
	t.Helper()
	var holder string
	ids := make([]string, len(nodes))
	for i, p := range nodes {
		r := do(t, "GET", p.url+"/readyz", "", "", 0)
		var ready struct {
			Changes struct {
				Node   string
				Leases []struct{ Name, Node string }
			}
		}
		if err := json.Unmarshal(r.body, &ready); r.status != 200 || err != nil || ready.Changes.Node == "" {
			t.Fatalf("readyz of node %d: %d %s", i, r.status, r.body)
		}
		ids[i] = ready.Changes.Node
		for _, l := range ready.Changes.Leases {
			if l.Name == "consumer.webhook."+id {
				holder = l.Node
			}
		}
	}
	for i, n := range ids {
		if n == holder {
			return i
		}
	}
	t.Fatalf("no node holds the lease of webhook %s (nodes %v, holder %q)", id, ids, holder)
	return -1
}

// eventSourceDir holds the npm EventSource client the server's tests
// drive too (installed by `make eventsource-client`, which `make test`
// runs).
var eventSourceDir = filepath.Join("..", "..", "server", "testdata", "eventsource")

// eventSourceClient returns the path of node once the EventSource client
// is installed; without it the test is skipped, and fails under CI.
func eventSourceClient(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(eventSourceDir, "node_modules", "eventsource"))
	}
	if err != nil {
		msg := fmt.Sprintf("the EventSource client is not installed (run `make eventsource-client`): %v", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node
}

// waitFor polls cond every 10 ms for up to 60 s and reports whether it
// came to hold.
func waitFor(cond func() bool) bool {
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// isDone reports whether c is closed.
func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(a json.RawMessage, b string) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
