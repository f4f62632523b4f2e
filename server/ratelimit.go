package server

import (
	"container/list"
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"

	"github.com/strata-dev/strata/core"
)

// RateLimit configures the token buckets that bound how fast one client
// address, and one authenticated principal, may send requests. A request
// over either limit is answered 429 rate_limited with Retry-After. The
// zero value is a limit suited to a server exposed to the internet.
type RateLimit struct {
	// IPRate is the sustained rate, in requests per second, of one client
	// address (an IPv4 address or an IPv6 /64). It counts anonymous
	// requests and requests whose credentials are refused, so it also
	// throttles token guessing; an address out of tokens is refused before
	// its token is checked. Zero means DefaultIPRate; negative turns the
	// per-address limit off.
	IPRate float64
	// IPBurst is how many requests an address may send at once before the
	// rate applies. Zero means twice the rate; negative turns the
	// per-address limit off.
	IPBurst int
	// PrincipalRate is the sustained rate, in requests per second, of one
	// authenticated principal, whatever its addresses; its requests do not
	// count against their address, so a backend's key, or many users
	// behind one NAT, are not throttled as one anonymous client. Zero means
	// DefaultPrincipalRate; negative turns the per-principal limit off.
	PrincipalRate float64
	// PrincipalBurst is the principal's burst. Zero means twice the rate;
	// negative turns the per-principal limit off.
	PrincipalBurst int
	// Admins applies the per-principal limit to administrators too. By
	// default they are exempt, as PocketBase exempts its superusers: the
	// administrator is the operator, whose verification passes, imports
	// and repairs must not be throttled by a limit meant for clients.
	Admins bool
	// MaxKeys bounds the buckets each limit keeps, so a flood of distinct
	// addresses cannot grow memory without bound: past it the least
	// recently seen bucket is dropped. Zero means DefaultRateLimitKeys.
	MaxKeys int
	// Now is the limiters' clock. Nil means time.Now; tests set a fake one.
	Now func() time.Time
}

// Defaults of RateLimit's zero fields.
const (
	DefaultIPRate        = 100
	DefaultPrincipalRate = 500
	DefaultRateLimitKeys = 1 << 16
)

// limiterShards spreads the buckets over independently locked maps, so
// concurrent requests from different clients rarely wait on one lock.
const limiterShards = 32

// limiter is a set of token buckets, one per key, with at most maxKeys of
// them. It is safe for concurrent use.
type limiter struct {
	what   string // names the key in problem details: "client address"
	limit  rate.Limit
	burst  int
	now    func() time.Time
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

// limiterShard holds some of the buckets in least recently used order.
type limiterShard struct {
	mu      sync.Mutex
	max     int
	buckets map[string]*list.Element // values are *bucket
	lru     list.List                // front: most recently used
}

type bucket struct {
	key    string
	tokens *rate.Limiter
}

// newLimiter returns a limiter of r requests per second with the given
// burst, or nil when either is negative (the limit is off; so is a rate
// that is not a number, which Validate reports). Zero r means def; zero
// burst means twice the rate, at least 1.
func newLimiter(what string, r float64, burst int, def float64, maxKeys int, now func() time.Time) *limiter {
	if r < 0 || burst < 0 || math.IsNaN(r) {
		return nil
	}
	if r == 0 {
		r = def
	}
	if burst == 0 {
		burst = max(1, int(math.Ceil(2*r)))
	}
	if maxKeys <= 0 {
		maxKeys = DefaultRateLimitKeys
	}
	if now == nil {
		now = time.Now
	}
	l := &limiter{what: what, limit: rate.Limit(r), burst: burst, now: now, seed: maphash.MakeSeed()}
	perShard := max(1, maxKeys/limiterShards)
	for i := range l.shards {
		l.shards[i].max = perShard
		l.shards[i].buckets = make(map[string]*list.Element)
	}
	return l
}

// allow takes a token from key's bucket. When there is none it reports
// how long until there is one.
func (l *limiter) allow(key string) (ok bool, wait time.Duration) {
	now := l.now()
	tokens := l.shards[maphash.String(l.seed, key)%limiterShards].get(key, now, l.limit, l.burst)
	if tokens.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - tokens.TokensAt(now)
	return false, time.Duration(missing / float64(l.limit) * float64(time.Second))
}

// exhausted reports whether key's bucket has no token now, without
// taking one. A key without a bucket is not exhausted.
func (l *limiter) exhausted(key string) bool {
	sh := &l.shards[maphash.String(l.seed, key)%limiterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.buckets[key]
	return ok && e.Value.(*bucket).tokens.TokensAt(l.now()) < 1
}

// get returns key's bucket, creating it if needed. Creating one drops the
// least recently used bucket when the shard is full, or when that bucket
// has refilled completely: a full bucket is the same as a new one, so
// idle clients cost no memory for long.
func (sh *limiterShard) get(key string, now time.Time, limit rate.Limit, burst int) *rate.Limiter {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.buckets[key]; ok {
		sh.lru.MoveToFront(e)
		return e.Value.(*bucket).tokens
	}
	if back := sh.lru.Back(); back != nil {
		if b := back.Value.(*bucket); len(sh.buckets) >= sh.max || b.tokens.TokensAt(now) >= float64(burst) {
			sh.lru.Remove(back)
			delete(sh.buckets, b.key)
		}
	}
	// The key may alias fiber's request buffers, which are reused.
	key = strings.Clone(key)
	b := &bucket{key: key, tokens: rate.NewLimiter(limit, burst)}
	sh.buckets[key] = sh.lru.PushFront(b)
	return b.tokens
}

// len is the number of buckets held, for tests.
func (l *limiter) len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.buckets)
		sh.mu.Unlock()
	}
	return n
}

// take answers nil when key may make a request now, or sets Retry-After
// and returns a 429 error that handleError renders as rate_limited.
func (l *limiter) take(c *fiber.Ctx, key string) error {
	ok, wait := l.allow(key)
	if ok {
		return nil
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	return fiber.NewError(fiber.StatusTooManyRequests,
		fmt.Sprintf("too many requests from this %s; retry after %d s", l.what, secs))
}

// limitIP applies the per-address limit to a request that is anonymous or
// whose credentials were refused.
func (s *Server) limitIP(c *fiber.Ctx) error {
	if s.ipLimits == nil {
		return nil
	}
	return s.ipLimits.take(c, addrKey(s.clientAddr(c)))
}

// ipExhausted reports whether the request's address has used up its
// tokens, so that its credentials need not even be checked.
func (s *Server) ipExhausted(c *fiber.Ctx) bool {
	return s.ipLimits != nil && s.ipLimits.exhausted(addrKey(s.clientAddr(c)))
}

// limitPrincipal applies the per-principal limit to an authenticated
// request; it does nothing for an anonymous one (principalID "").
func (s *Server) limitPrincipal(c *fiber.Ctx, principalID string) error {
	if s.principalLimits == nil || principalID == "" {
		return nil
	}
	return s.principalLimits.take(c, principalID)
}

// limitAuthenticated applies the per-principal limit to p, unless p is an
// administrator and RateLimit.Admins is off.
func (s *Server) limitAuthenticated(c *fiber.Ctx, p core.Principal) error {
	if p.IsAdmin() && !s.opts.RateLimit.Admins {
		return nil
	}
	return s.limitPrincipal(c, p.ID)
}

// addrKey is the bucket key of an address. IPv6 addresses share the
// bucket of their /64: one subscriber usually holds a whole /64, and
// per-address buckets would let it rotate through 2^64 of them.
func addrKey(a netip.Addr) string {
	if a.Is6() {
		p, err := a.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return a.String()
}

// clientAddr is the address a request comes from: the peer, or, when the
// peer is a trusted proxy, the nearest address in X-Forwarded-For that is
// not a trusted proxy. Reading from the right matters: the left part of
// the header is whatever the client chose to send.
func (s *Server) clientAddr(c *fiber.Ctx) netip.Addr {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	peer = peer.Unmap()
	if !s.trusted(peer) {
		return peer
	}
	var hops []string
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		hops = append(hops, strings.Split(string(v), ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // not written by a proxy we trust: keep the last good hop
		}
		client = a.Unmap()
		if !s.trusted(client) {
			break
		}
	}
	return client
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseTrustedProxies reads addresses ("10.0.0.1") and networks
// ("10.0.0.0/8") into prefixes.
func parseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range list {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if strings.Contains(v, "/") {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return nil, fmt.Errorf("server: trusted proxy %q: %w", v, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("server: trusted proxy %q: %w", v, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
