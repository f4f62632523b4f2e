package server

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// FakeClock is a settable clock for the rate limiters, shared with the
// external tests (this file is compiled into package server's tests only).
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock returns a FakeClock at a fixed instant.
func NewFakeClock() *FakeClock { return &FakeClock{now: time.Unix(1_700_000_000, 0)} }

// Now is the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestLimitPrincipal drives limitPrincipal over HTTP the way the request
// wrapper calls it once authentication named the principal: each
// principal has its own bucket, anonymous requests are not counted, and
// the 429 is problem+json with Retry-After.
func TestLimitPrincipal(t *testing.T) {
	t.Parallel()
	clk := NewFakeClock()
	s := New(nil, Options{RateLimit: RateLimit{IPRate: -1, PrincipalRate: 0.5, PrincipalBurst: 2, Now: clk.Now}})
	app := fiber.New(fiber.Config{ErrorHandler: s.handleError})
	app.Get("/", s.wrap(func(c *fiber.Ctx) error {
		if err := s.limitPrincipal(c, c.Get("X-Principal")); err != nil {
			return err
		}
		return c.SendString("ok")
	}))
	steps := []struct {
		name       string
		principal  string
		advance    time.Duration
		status     int
		retryAfter string
	}{
		{"alice 1", "alice", 0, 200, ""},
		{"alice 2", "alice", 0, 200, ""},
		{"alice over the burst", "alice", 0, 429, "2"},
		{"bob has his own bucket", "bob", 0, 200, ""},
		{"anonymous is not counted", "", 0, 200, ""},
		{"anonymous again", "", 0, 200, ""},
		{"anonymous again and again", "", 0, 200, ""},
		{"alice a second later", "alice", time.Second, 429, "1"},
		{"alice once a token is back", "alice", time.Second, 200, ""},
		{"alice spent it", "alice", 0, 429, "2"},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		req := httptest.NewRequest("GET", "/", nil)
		if st.principal != "" {
			req.Header.Set("X-Principal", st.principal)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != st.status || resp.Header.Get("Retry-After") != st.retryAfter {
			t.Fatalf("%s: %d Retry-After %q, want %d %q", st.name, resp.StatusCode, resp.Header.Get("Retry-After"), st.status, st.retryAfter)
		}
		if st.status == 429 && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s: Content-Type %q", st.name, resp.Header.Get("Content-Type"))
		}
	}
}

// TestLimiterBounded checks that a flood of distinct keys keeps the
// buckets under MaxKeys, that buckets that refilled are dropped on the
// way, and that a busy key keeps its bucket (and its debt) meanwhile.
func TestLimiterBounded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		maxKeys int
		step    time.Duration // clock advance per new key
		atMost  int
	}{
		{"flood within a moment", 256, 0, 256},
		{"flood over time: refilled buckets go", 1 << 20, time.Second, 2 * limiterShards},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := NewFakeClock()
			l := newLimiter("client address", 1, 1, 1, tc.maxKeys, clk.Now)
			if ok, _ := l.allow("busy"); !ok {
				t.Fatal("first request refused")
			}
			for i := range 50_000 {
				clk.Advance(tc.step)
				l.allow(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
				if i%10 == 0 && tc.step == 0 {
					if ok, _ := l.allow("busy"); ok {
						t.Fatalf("busy key got a fresh bucket after %d other keys", i)
					}
				}
			}
			if n := l.len(); n > tc.atMost {
				t.Fatalf("%d buckets after the flood, want at most %d", n, tc.atMost)
			}
		})
	}
}

// TestLimiterConcurrent hammers one limiter from many goroutines: under
// -race, and never more grants than the bucket allows.
func TestLimiterConcurrent(t *testing.T) {
	t.Parallel()
	clk := NewFakeClock()
	l := newLimiter("principal", 1, 100, 1, 0, clk.Now)
	var mu sync.Mutex
	granted := map[string]int{}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 2000 {
				key := fmt.Sprintf("k%d", (g+i)%4)
				if ok, _ := l.allow(key); ok {
					mu.Lock()
					granted[key]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for key, n := range granted {
		if n != 100 {
			t.Errorf("%s: %d requests granted, want the burst of 100", key, n)
		}
	}
}

// TestAddrKey checks how addresses map to buckets.
func TestAddrKey(t *testing.T) {
	t.Parallel()
	cases := []struct{ addr, key string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	}
	for _, tc := range cases {
		if got := addrKey(netip.MustParseAddr(tc.addr).Unmap()); got != tc.key {
			t.Errorf("addrKey(%s) = %s, want %s", tc.addr, got, tc.key)
		}
	}
}
