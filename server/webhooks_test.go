package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/server"
)

// newWebhookServer is newTestServer with webhook options: tests retry
// within milliseconds rather than seconds.
func newWebhookServer(t *testing.T, wo core.WebhookOptions) *testServer {
	t.Helper()
	return startWebhookServer(t, t.TempDir(), wo)
}

// startWebhookServer is newWebhookServer over the data directory dir.
func startWebhookServer(t *testing.T, dir string, wo core.WebhookOptions) *testServer {
	t.Helper()
	env := apptest.New(t, apptest.WithDir(dir), apptest.Served(func(c *app.Config) {
		c.Auth = auth.Config{AdminKey: testAdminKey}
		c.Server = server.Options{RateLimit: server.RateLimit{IPRate: -1, PrincipalRate: -1}}
		c.Webhooks = wo
	}))
	ts := &testServer{t: t, URL: env.URL, Dir: env.Dir, env: env, m: env.Manager, client: &http.Client{}}
	t.Cleanup(ts.client.CloseIdleConnections)
	return ts
}

// fastWebhooks are webhook options for tests: short backoff, and a
// timeout long enough for a loaded machine yet short enough to wait out.
func fastWebhooks(allowPrivate bool) core.WebhookOptions {
	return core.WebhookOptions{AllowPrivate: allowPrivate, BackoffMin: 2 * time.Millisecond,
		BackoffMax: 20 * time.Millisecond, Timeout: 2 * time.Second}
}

// waitUntil polls cond until it holds; the bound only keeps a broken
// build from hanging.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		<-tick.C
	}
}

// receivedEvent is a CloudEvents body as a receiver decodes it.
type receivedEvent struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	Data            struct {
		Seq      uint64 `json:"seq"`
		Type     string `json:"type"`
		ID       string `json:"id"`
		Action   string `json:"action"`
		Resource *struct {
			ID   string         `json:"id"`
			Data map[string]any `json:"data"`
		} `json:"resource"`
	} `json:"data"`
}

type receivedDelivery struct {
	header http.Header
	body   []byte
	status int // 0: the receiver hung until the client gave up
	event  receivedEvent
}

// webhookReceiver records every delivery it gets and answers as answer
// says for the n-th one (from 0).
type webhookReceiver struct {
	answer func(n int) int
	mu     sync.Mutex
	got    []receivedDelivery
}

func (rc *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev receivedEvent
	_ = json.Unmarshal(body, &ev)
	rc.mu.Lock()
	status := rc.answer(len(rc.got))
	rc.got = append(rc.got, receivedDelivery{header: r.Header.Clone(), body: body, status: status, event: ev})
	rc.mu.Unlock()
	if status == 0 {
		<-r.Context().Done() // until the client times out and hangs up
		return
	}
	w.WriteHeader(status)
}

func (rc *webhookReceiver) deliveries() []receivedDelivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedDelivery(nil), rc.got...)
}

// accepted lists the resource ids of the deliveries answered 2xx, in the
// order of their first acceptance.
func (rc *webhookReceiver) accepted() []string {
	var ids []string
	seen := map[uint64]bool{}
	for _, d := range rc.deliveries() {
		if d.status >= 200 && d.status < 300 && !seen[d.event.Data.Seq] {
			seen[d.event.Data.Seq] = true
			ids = append(ids, d.event.Data.ID)
		}
	}
	return ids
}

func createPost(ts *testServer, title string) string {
	ts.t.Helper()
	return ts.must(http.StatusCreated, "POST", "/api/posts", map[string]any{"title": title}).JSON(ts.t)["id"].(string)
}

type deliveryEntry struct {
	Attempt   uint64 `json:"attempt"`
	Seq       uint64 `json:"seq"`
	MessageID string `json:"message_id"`
	Status    int    `json:"status"`
	Error     string `json:"error"`
	OK        bool   `json:"ok"`
	At        string `json:"at"`
}

func (ts *testServer) deliveryLog(id string) []deliveryEntry {
	ts.t.Helper()
	r := ts.must(http.StatusOK, "GET", "/api/webhooks/"+id+"/deliveries?limit=1000", nil)
	var out struct{ Items []deliveryEntry }
	if err := json.Unmarshal(r.Body, &out); err != nil {
		ts.t.Fatal(err)
	}
	return out.Items
}

// verifySignature checks a delivery's Standard Webhooks signature with
// code of the test's own, apart from the server's.
func verifySignature(t *testing.T, secret string, d receivedDelivery) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", d.header.Get("webhook-id"), d.header.Get("webhook-timestamp"), d.body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := d.header.Get("webhook-signature"); got != want {
		t.Fatalf("webhook-signature %q, want %q", got, want)
	}
	ts, err := strconv.ParseInt(d.header.Get("webhook-timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		t.Fatalf("webhook-timestamp %q", d.header.Get("webhook-timestamp"))
	}
}

// TestWebhookRoutes: create, list, get, delete, the secret shown once,
// the checks on what is created, and administrators only.
func TestWebhookRoutes(t *testing.T) {
	t.Parallel()
	ts := newWebhookServer(t, fastWebhooks(true))
	ts.defineType(postsType)
	r := ts.must(http.StatusCreated, "POST", "/api/webhooks",
		map[string]any{"url": "https://hooks.example.com/in", "types": []string{"posts"}, "actions": []string{"create", "delete"}})
	w := r.JSON(t)
	id, _ := w["id"].(string)
	secret, _ := w["secret"].(string)
	if id == "" || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("created: %s", r.Body)
	}
	if key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_")); err != nil || len(key) < 24 {
		t.Fatalf("secret %q is not whsec_ and a base64 key of 24 bytes or more", secret)
	}
	if r.Header.Get("Location") != "/api/webhooks/"+id || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", r.Header)
	}
	if w["state"] != "active" || w["url"] != "https://hooks.example.com/in" || fmt.Sprint(w["types"]) != "[posts]" ||
		fmt.Sprint(w["actions"]) != "[create delete]" {
		t.Fatalf("created: %s", r.Body)
	}
	// The secret is never shown again.
	got := ts.must(http.StatusOK, "GET", "/api/webhooks/"+id, nil)
	list := ts.must(http.StatusOK, "GET", "/api/webhooks", nil)
	for _, b := range [][]byte{got.Body, list.Body} {
		if strings.Contains(string(b), secret) || strings.Contains(string(b), "whsec_") {
			t.Fatalf("secret shown again: %s", b)
		}
	}
	if items := list.JSON(t)["items"].([]any); len(items) != 1 || dig(items[0], "id") != id {
		t.Fatalf("list: %s", list.Body)
	}
	if d := ts.must(http.StatusOK, "GET", "/api/webhooks/"+id+"/deliveries", nil).JSON(t)["items"].([]any); len(d) != 0 {
		t.Fatalf("deliveries of a new webhook: %v", d)
	}

	for _, tc := range []struct{ name, body string }{
		{"ftp", `{"url":"ftp://example.com/x"}`},
		{"file", `{"url":"file:///etc/passwd"}`},
		{"javascript", `{"url":"javascript:alert(1)"}`},
		{"no host", `{"url":"http:///x"}`},
		{"not a URL", `{"url":"::"}`},
		{"no url", `{}`},
		{"credentials", `{"url":"https://u:p@example.com/"}`},
		{"unknown type", `{"url":"https://example.com/","types":["nope"]}`},
		{"unknown action", `{"url":"https://example.com/","actions":["explode"]}`},
		{"unknown field", `{"url":"https://example.com/","secret":"whsec_AAAA"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkProblem(t, ts.do("POST", "/api/webhooks", tc.body), http.StatusBadRequest, "bad_request")
		})
	}

	// Administrators only.
	token := ts.must(http.StatusCreated, "POST", "/api/keys", map[string]any{"name": "w", "roles": []string{"writer"}}).JSON(t)["token"].(string)
	for _, rq := range []struct{ method, path, body string }{
		{"POST", "/api/webhooks", `{"url":"https://example.com/"}`},
		{"GET", "/api/webhooks", ""},
		{"GET", "/api/webhooks/" + id, ""},
		{"GET", "/api/webhooks/" + id + "/deliveries", ""},
		{"POST", "/api/webhooks/" + id + "/resume", ""},
		{"DELETE", "/api/webhooks/" + id, ""},
	} {
		var body any
		if rq.body != "" {
			body = rq.body
		}
		checkProblem(t, ts.do(rq.method, rq.path, body, "Authorization", "Bearer "+token), http.StatusForbidden, "forbidden")
		checkProblem(t, ts.do(rq.method, rq.path, body, "Authorization", ""), http.StatusUnauthorized, "unauthorized")
	}

	ts.must(http.StatusNoContent, "DELETE", "/api/webhooks/"+id, nil)
	checkProblem(t, ts.do("GET", "/api/webhooks/"+id, nil), http.StatusNotFound, "not_found")
	checkProblem(t, ts.do("GET", "/api/webhooks/"+id+"/deliveries", nil), http.StatusNotFound, "not_found")
	checkProblem(t, ts.do("DELETE", "/api/webhooks/"+id, nil), http.StatusNotFound, "not_found")
	checkProblem(t, ts.do("POST", "/api/webhooks/"+id+"/resume", nil), http.StatusNotFound, "not_found")
	if items := ts.must(http.StatusOK, "GET", "/api/webhooks", nil).JSON(t)["items"].([]any); len(items) != 0 {
		t.Fatalf("list after delete: %v", items)
	}
	for _, c := range ts.m.Consumers() {
		if c.Name == "webhook."+id {
			t.Fatalf("the consumer of a deleted webhook still runs: %+v", c)
		}
	}
}

// TestWebhookDeliveryThroughFailures: the receiver first refuses
// connections, then lets a request time out, then answers 500, then
// accepts. Every entry is delivered, in order, as CloudEvents signed per
// Standard Webhooks; retries repeat the same webhook-id and are in the
// delivery log; what the webhook does not select is not sent.
func TestWebhookDeliveryThroughFailures(t *testing.T) {
	t.Parallel()
	ts := newWebhookServer(t, fastWebhooks(true))
	ts.defineType(postsType)
	before := createPost(ts, "before the webhook")

	// An address nothing listens on: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w := ts.must(http.StatusCreated, "POST", "/api/webhooks",
		map[string]any{"url": "http://" + addr + "/hook", "types": []string{"posts"}, "actions": []string{"create"}}).JSON(t)
	id, secret := w["id"].(string), w["secret"].(string)

	var ids []string
	for i := range 10 {
		ids = append(ids, createPost(ts, fmt.Sprint("while refused ", i)))
	}
	refused := func() bool {
		for _, d := range ts.deliveryLog(id) {
			if strings.Contains(d.Error, "refused") {
				return true
			}
		}
		return false
	}
	waitUntil(t, "a refused attempt in the delivery log", refused)

	// The receiver comes up: the first request times out, the second gets
	// 500, the rest are accepted.
	rc := &webhookReceiver{answer: func(n int) int {
		switch n {
		case 0:
			return 0
		case 1:
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	}}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: rc}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	for i := range 10 {
		ids = append(ids, createPost(ts, fmt.Sprint("while up ", i)))
	}
	// An update, which the webhook does not select, then a last create.
	ts.must(http.StatusOK, "PATCH", "/api/posts/"+ids[0], map[string]any{"views": 1})
	ids = append(ids, createPost(ts, "last"))
	waitUntil(t, "every post delivered", func() bool { return len(rc.accepted()) >= len(ids) })

	if got := rc.accepted(); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("accepted, in order:\n%v\nwant\n%v", got, ids)
	}
	got := rc.deliveries()
	if got[0].status != 0 || got[1].status != http.StatusInternalServerError {
		t.Fatalf("the receiver's script did not run: %d, %d", got[0].status, got[1].status)
	}
	msgID := map[uint64]string{}
	var last uint64
	for _, d := range got {
		ev := d.event
		if ev.Data.Seq < last {
			t.Fatalf("entry %d delivered after %d", ev.Data.Seq, last)
		}
		last = ev.Data.Seq
		if ev.Data.ID == before || ev.Data.Action != "create" {
			t.Fatalf("delivered what the webhook does not select: %s", d.body)
		}
		if prev, ok := msgID[ev.Data.Seq]; ok && prev != d.header.Get("webhook-id") {
			t.Fatalf("entry %d: webhook-id %q, then %q", ev.Data.Seq, prev, d.header.Get("webhook-id"))
		}
		msgID[ev.Data.Seq] = d.header.Get("webhook-id")
		if ev.SpecVersion != "1.0" || ev.ID != strconv.FormatUint(ev.Data.Seq, 10) || ev.Type != "strata.posts.create" ||
			ev.Source != "/api/posts/"+ev.Data.ID || ev.DataContentType != "application/json" || ev.Time == "" ||
			ev.Data.Resource == nil || ev.Data.Resource.ID != ev.Data.ID || ev.Data.Resource.Data["title"] == nil {
			t.Fatalf("not the CloudEvent of the entry: %s", d.body)
		}
		if ct := d.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/cloudevents+json") {
			t.Fatalf("Content-Type %q", ct)
		}
		verifySignature(t, secret, d)
	}
	if len(msgID) != len(ids) {
		t.Fatalf("%d entries delivered, want %d", len(msgID), len(ids))
	}
	seen := map[string]bool{}
	for _, m := range msgID {
		if seen[m] {
			t.Fatalf("two entries share webhook-id %s", m)
		}
		seen[m] = true
	}

	// The delivery log shows each kind of failure, then the successes. It
	// is written once the page is handled, before the position is saved.
	waitUntil(t, "the position saved", func() bool {
		return ts.must(http.StatusOK, "GET", "/api/webhooks/"+id, nil).JSON(t)["lag"] == float64(0)
	})
	var kinds []string
	log := ts.deliveryLog(id)
	for _, d := range log {
		switch {
		case d.OK:
			kinds = append(kinds, "ok")
		case strings.Contains(d.Error, "refused"):
			kinds = append(kinds, "refused")
		case d.Status == http.StatusInternalServerError:
			kinds = append(kinds, "500")
		case strings.Contains(d.Error, "Timeout") || strings.Contains(d.Error, "deadline") || strings.Contains(d.Error, "timeout"):
			kinds = append(kinds, "timeout")
		default:
			t.Fatalf("unexpected attempt %+v", d)
		}
		if d.MessageID != msgID[d.Seq] {
			t.Fatalf("log: attempt %d of entry %d has message id %q, the receiver saw %q", d.Attempt, d.Seq, d.MessageID, msgID[d.Seq])
		}
	}
	joined := strings.Join(kinds, " ")
	for _, k := range []string{"refused", "timeout", "500", "ok"} {
		if !strings.Contains(joined, k) {
			t.Fatalf("no %s attempt in the delivery log: %s", k, joined)
		}
	}
	for i := 1; i < len(log); i++ {
		if log[i].Attempt >= log[i-1].Attempt || log[i].Seq > log[i-1].Seq {
			t.Fatalf("the delivery log is not newest first: %+v then %+v", log[i-1], log[i])
		}
	}
	wh := ts.must(http.StatusOK, "GET", "/api/webhooks/"+id, nil).JSON(t)
	if wh["state"] != "active" || wh["failing_since"] != nil {
		t.Fatalf("after recovering: %v", wh)
	}
}

// TestWebhookDisabledAndResumed: a webhook failing for longer than
// webhook_disable_after is disabled, its consumer stopped and its position
// kept; resume delivers what it missed, in order.
func TestWebhookDisabledAndResumed(t *testing.T) {
	t.Parallel()
	o := fastWebhooks(true)
	o.DisableAfter = 200 * time.Millisecond
	ts := newWebhookServer(t, o)
	ts.defineType(postsType)
	var accept atomic.Bool
	rc := &webhookReceiver{answer: func(int) int {
		if accept.Load() {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	id := ts.must(http.StatusCreated, "POST", "/api/webhooks", map[string]any{"url": srv.URL}).JSON(t)["id"].(string)
	first := createPost(ts, "first")
	waitUntil(t, "the webhook disabled", func() bool {
		return ts.must(http.StatusOK, "GET", "/api/webhooks/"+id, nil).JSON(t)["state"] == "disabled"
	})
	waitUntil(t, "its consumer stopped", func() bool {
		for _, c := range ts.m.Consumers() {
			if c.Name == "webhook."+id {
				return false
			}
		}
		return true
	})
	wh := ts.must(http.StatusOK, "GET", "/api/webhooks/"+id, nil).JSON(t)
	fs, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(wh["failing_since"]))
	da, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(wh["disabled_at"]))
	if fs.IsZero() || da.Sub(fs) < o.DisableAfter || wh["lag"] == float64(0) {
		t.Fatalf("disabled: %v", wh)
	}
	n := len(rc.deliveries())
	if n < 2 || len(rc.accepted()) != 0 {
		t.Fatalf("%d attempts, %d accepted before the webhook was disabled", n, len(rc.accepted()))
	}
	second := createPost(ts, "second")

	accept.Store(true)
	r := ts.must(http.StatusOK, "POST", "/api/webhooks/"+id+"/resume", nil).JSON(t)
	if r["state"] != "active" || r["disabled_at"] != nil || r["failing_since"] != nil {
		t.Fatalf("resumed: %v", r)
	}
	waitUntil(t, "both posts delivered", func() bool { return len(rc.accepted()) >= 2 })
	if got := rc.accepted(); fmt.Sprint(got) != fmt.Sprint([]string{first, second}) {
		t.Fatalf("accepted %v, want %v", got, []string{first, second})
	}
	waitUntil(t, "no lag", func() bool {
		return ts.must(http.StatusOK, "GET", "/api/webhooks/"+id, nil).JSON(t)["lag"] == float64(0)
	})
}

// TestWebhookRefusesPrivateAddresses: without webhook_allow_private, no
// delivery reaches loopback, whether named by address or by a host name
// that resolves to it; the delivery log says why.
func TestWebhookRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	ts := newWebhookServer(t, fastWebhooks(false))
	ts.defineType(postsType)
	rc := &webhookReceiver{answer: func(int) int { return http.StatusOK }}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	var ids []string
	for _, u := range []string{srv.URL, "http://localhost:" + port + "/hook"} {
		ids = append(ids, ts.must(http.StatusCreated, "POST", "/api/webhooks", map[string]any{"url": u}).JSON(t)["id"].(string))
	}
	createPost(ts, "private")
	for _, id := range ids {
		waitUntil(t, "a refused attempt", func() bool {
			for _, d := range ts.deliveryLog(id) {
				if d.OK {
					t.Fatalf("delivered to a private address: %+v", d)
				}
				if strings.Contains(d.Error, "not allowed") {
					return true
				}
			}
			return false
		})
	}
	if n := len(rc.deliveries()); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
}

// standardWebhooksDir holds the npm `standardwebhooks` verifier
// (installed by `make standardwebhooks`, which `make test` runs).
const standardWebhooksDir = "testdata/standardwebhooks"

// TestWebhookSignatureStandardWebhooks checks the signatures of real
// deliveries with the reference implementation of Standard Webhooks (npm
// `standardwebhooks`), which must also refuse a tampered body.
func TestWebhookSignatureStandardWebhooks(t *testing.T) {
	t.Parallel()
	node := nodePackage(t, standardWebhooksDir, "standardwebhooks", "standardwebhooks")
	ts := newWebhookServer(t, fastWebhooks(true))
	ts.defineType(postsType)
	rc := &webhookReceiver{answer: func(int) int { return http.StatusOK }}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	secret := ts.must(http.StatusCreated, "POST", "/api/webhooks", map[string]any{"url": srv.URL}).JSON(t)["secret"].(string)
	id := createPost(ts, `a "quoted" title with ünïcode & <html>`)
	ts.must(http.StatusOK, "PATCH", "/api/posts/"+id, map[string]any{"body": "changed"})
	ts.must(http.StatusNoContent, "DELETE", "/api/posts/"+id, nil)
	waitUntil(t, "three deliveries", func() bool { return len(rc.accepted()) >= 3 })

	type message struct {
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	var msgs []message
	for _, d := range rc.deliveries() {
		verifySignature(t, secret, d)
		msgs = append(msgs, message{Body: string(d.body), Headers: map[string]string{
			"webhook-id": d.header.Get("webhook-id"), "webhook-timestamp": d.header.Get("webhook-timestamp"),
			"webhook-signature": d.header.Get("webhook-signature")}})
	}
	raw, err := json.Marshal(msgs)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "messages.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "verify.mjs", secret, file)
	cmd.Dir = standardWebhooksDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("standardwebhooks refused the deliveries: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("verified %d", len(msgs)); !strings.Contains(string(out), want) {
		t.Fatalf("verifier said %q, want %q", out, want)
	}
}

// TestWebhookSurvivesRestart: a webhook, its position and its run of
// failures outlive the server; after a restart it delivers what it had
// not, in order, and its delivery log goes on.
func TestWebhookSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ts := startWebhookServer(t, dir, fastWebhooks(true))
	ts.defineType(postsType)
	var accept atomic.Bool
	rc := &webhookReceiver{answer: func(int) int {
		if accept.Load() {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	id := ts.must(http.StatusCreated, "POST", "/api/webhooks", map[string]any{"url": srv.URL, "types": []string{"posts"}}).JSON(t)["id"].(string)
	var ids []string
	for i := range 3 {
		ids = append(ids, createPost(ts, fmt.Sprint("post ", i)))
	}
	waitUntil(t, "a failed attempt", func() bool { return len(ts.deliveryLog(id)) > 0 })
	failingSince := ts.must(http.StatusOK, "GET", "/api/webhooks/"+id, nil).JSON(t)["failing_since"]
	if failingSince == nil {
		t.Fatal("no failing_since while failing")
	}
	ts.stop()

	accept.Store(true)
	ts = startWebhookServer(t, dir, fastWebhooks(true))
	waitUntil(t, "every post delivered", func() bool { return len(rc.accepted()) >= len(ids) })
	if got := rc.accepted(); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("accepted %v, want %v", got, ids)
	}
	waitUntil(t, "the recovery saved", func() bool {
		w := ts.must(http.StatusOK, "GET", "/api/webhooks/"+id, nil).JSON(t)
		return w["failing_since"] == nil && w["lag"] == float64(0)
	})
	// One log, numbered on across the restart: the failures before it,
	// the successes after.
	log := ts.deliveryLog(id)
	if log[0].Attempt != uint64(len(log)) || !log[0].OK || log[len(log)-1].Attempt != 1 ||
		log[len(log)-1].Status != http.StatusInternalServerError {
		t.Fatalf("delivery log after the restart: %d attempts, the newest %+v, the oldest %+v", len(log), log[0], log[len(log)-1])
	}
}
