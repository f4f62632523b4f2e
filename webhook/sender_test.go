package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/webhook"
)

var key = []byte("0123456789abcdef0123456789abcdef")

// TestSend drives a sender against receivers that answer in every way
// that matters: the status decides, a long answer is not read, a redirect
// is not followed, and the signature headers arrive as Standard Webhooks
// spells them.
func TestSend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		status  int
		ok      bool
	}{
		{"no content", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, 204, true},
		{"long answer", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
		}, 200, true},
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }, 500, false},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		}, 302, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got http.Header
			var body string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				raw := make([]byte, r.ContentLength)
				_, _ = r.Body.Read(raw)
				got, body = r.Header.Clone(), string(raw)
				tc.handler(w, r)
			}))
			defer srv.Close()
			s := webhook.HTTP{}.NewSender(srv.URL+"/hook", core.WebhookOptions{AllowPrivate: true, Timeout: time.Minute})
			defer s.Close()
			at := time.Unix(1614265330, 0)
			status, err := s.Send(t.Context(), key, "msg_1", at, []byte(`{"a":1}`))
			if status != tc.status || (err == nil) != tc.ok {
				t.Fatalf("Send = %d, %v; want %d, ok %v", status, err, tc.status, tc.ok)
			}
			if body != `{"a":1}` {
				t.Errorf("body %q", body)
			}
			want := map[string]string{"Webhook-Id": "msg_1", "Webhook-Timestamp": "1614265330",
				"Webhook-Signature": webhook.Sign(key, "msg_1", 1614265330, []byte(`{"a":1}`)),
				"Content-Type":      "application/cloudevents+json; charset=utf-8", "User-Agent": "Strata-Webhooks/1"}
			for k, v := range want {
				if got.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, got.Get(k), v)
				}
			}
		})
	}
}

// TestSendStopsWithItsContext: a delivery to a receiver that never
// answers ends as soon as its context does (a webhook deleted, a server
// shutting down), not when its timeout runs out.
func TestSendStopsWithItsContext(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	}))
	defer srv.Close()
	defer close(release)
	s := webhook.HTTP{}.NewSender(srv.URL, core.WebhookOptions{AllowPrivate: true, Timeout: time.Hour})
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := s.Send(ctx, key, "msg_1", time.Now(), []byte(`{}`))
		done <- err
	}()
	<-arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Send after cancel = %v, want context.Canceled", err)
	}
}

// TestSendRefusesPrivateAddresses: unless private addresses are allowed,
// the address dialed is checked after name resolution.
func TestSendRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, url := range []string{"http://127.0.0.1:" + port + "/", "http://localhost:" + port + "/"} {
		s := webhook.HTTP{}.NewSender(url, core.WebhookOptions{Timeout: time.Minute})
		status, err := s.Send(t.Context(), key, "msg_1", time.Now(), []byte(`{}`))
		s.Close()
		if status != 0 || err == nil || !strings.Contains(err.Error(), "not a public address") {
			t.Errorf("Send to %s = %d, %v; want refused as not public", url, status, err)
		}
	}
}
