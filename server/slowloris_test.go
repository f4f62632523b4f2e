package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowRequest is what a slow client trickles: a request line and headers
// that never end.
const slowRequest = "GET /healthz HTTP/1.1\r\nHost: strata.test\r\nX-Slow: "

// trickle opens n connections to ts that each send slowRequest and then
// one byte per interval, until ctx is done or the server closes them.
// ready is closed once every connection is open and has sent its first
// byte. The returned channel yields, per connection, what the server
// answered (nil when ctx ended first) once the connection is over.
func trickle(ctx context.Context, t *testing.T, ts *testServer, n int, interval time.Duration, ready chan<- struct{}) <-chan []byte {
	t.Helper()
	addr := strings.TrimPrefix(ts.URL, "http://")
	answers := make(chan []byte, n)
	var started sync.WaitGroup
	var failed atomic.Int32
	for range n {
		started.Add(1)
		go func() {
			conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				failed.Add(1)
				started.Done()
				answers <- []byte("dial: " + err.Error())
				return
			}
			defer conn.Close()
			_, err = conn.Write([]byte(slowRequest[:1]))
			started.Done()
			if err != nil {
				answers <- []byte("write: " + err.Error())
				return
			}
			// The server's answer, if any, ends the trickle.
			read := make(chan []byte, 1)
			go func() {
				_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
				raw, _ := io.ReadAll(conn)
				read <- raw
			}()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for i := 1; ; i++ {
				select {
				case raw := <-read:
					answers <- raw
					return
				case <-ctx.Done():
					answers <- nil
					return
				case <-tick.C:
					b := byte('a')
					if i < len(slowRequest) {
						b = slowRequest[i]
					}
					if _, err := conn.Write([]byte{b}); err != nil {
						answers <- <-read
						return
					}
				}
			}
		}()
	}
	go func() {
		started.Wait()
		close(ready)
	}()
	return answers
}

// TestSlowClients opens hundreds of connections that send their headers
// one byte at a time (slowloris) and checks that other clients are still
// served promptly, that the header timeout cuts the slow ones off, and
// that the per-address connection cap holds.
func TestSlowClients(t *testing.T) {
	t.Parallel()

	t.Run("others are served meanwhile", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, func(o *serverOptions) { o.HeaderTimeout = time.Minute })
		ctx, cancel := context.WithCancel(t.Context())
		ready := make(chan struct{})
		const slow = 300
		answers := trickle(ctx, t, ts, slow, 50*time.Millisecond, ready)
		<-ready

		const workers, perWorker = 8, 25
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
		defer client.CloseIdleConnections()
		errs := make(chan error, workers*perWorker)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					// Each request gets a generous bound: slow clients
					// must not make anyone wait, but -race is slow.
					rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
					path := "/healthz"
					if (w+i)%2 == 0 {
						path = "/api/types"
					}
					errs <- get(rctx, client, ts.URL+path, "Authorization", "Bearer "+testAdminKey)
					rcancel()
				}
			})
		}
		wg.Wait()
		close(errs)
		served := 0
		for err := range errs {
			if err != nil {
				t.Error(err)
				continue
			}
			served++
		}
		cancel()
		cut := 0
		for range slow {
			if raw := <-answers; raw != nil {
				cut++
				if cut == 1 {
					t.Errorf("a slow connection ended early: %.200q", raw)
				}
			}
		}
		if served != workers*perWorker || cut > 0 {
			t.Fatalf("%d of %d requests served; %d of %d slow connections ended early", served, workers*perWorker, cut, slow)
		}
	})

	t.Run("the header timeout cuts them off", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, func(o *serverOptions) { o.HeaderTimeout = 300 * time.Millisecond })
		ready := make(chan struct{})
		const slow = 50
		answers := trickle(t.Context(), t, ts, slow, 20*time.Millisecond, ready)
		<-ready
		for range slow {
			raw := <-answers
			if raw == nil {
				t.Fatal("a slow connection outlived the test")
			}
			if len(raw) > 0 && (!strings.HasPrefix(string(raw), "HTTP/1.1 408 ") || !strings.Contains(string(raw), "urn:strata:problem:bad_request")) {
				t.Fatalf("a slow connection was answered %.300q", raw)
			}
		}
		ts.must(200, "GET", "/healthz", nil)
	})

	t.Run("connections per address are capped", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, func(o *serverOptions) { o.MaxConnsPerIP = 4 })
		addr := strings.TrimPrefix(ts.URL, "http://")
		for range 4 {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
		}
		ts.client.CloseIdleConnections()
		resp, err := rawRequest(t, ts, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"HTTP/1.1 429 ", "Retry-After: 1", "application/problem+json", "urn:strata:problem:rate_limited"} {
			if !strings.Contains(resp, want) {
				t.Fatalf("fifth connection answered %.400q, lacking %q", resp, want)
			}
		}
		ts.from(t, "127.0.0.2").must(200, "GET", "/healthz", nil)
	})
}
