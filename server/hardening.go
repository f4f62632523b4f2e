package server

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/valyala/fasthttp"
)

// Defaults of the hardening Options' zero fields.
const (
	// DefaultMaxJSONDepth matches the nesting core allows in resource data.
	DefaultMaxJSONDepth = 64
	// DefaultHeaderLimit bounds the request line and headers together.
	DefaultHeaderLimit = 16 << 10
	// DefaultHeaderTimeout is short enough that a client trickling its
	// headers (slowloris) holds a connection for seconds, not minutes.
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may wait for
	// its next request.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultCORSMaxAge is how long browsers may cache a preflight answer.
	DefaultCORSMaxAge = 10 * time.Minute
)

// CORS lets scripts on other origins call the API from a browser. The zero
// value (no origins) sends no CORS headers at all: browsers then allow
// only same-origin scripts.
type CORS struct {
	// Origins that may call the API, as scheme://host[:port]
	// ("https://app.example.com"), or "*" for any origin.
	Origins []string
	// Credentials lets browsers send cookies and HTTP authentication with
	// cross-origin requests. It cannot be combined with "*" (Validate
	// refuses it; New ignores it).
	Credentials bool
	// MaxAge is how long browsers may cache a preflight answer. Zero means
	// DefaultCORSMaxAge; negative tells them not to cache it.
	MaxAge time.Duration
}

// hardening is the Server's state for its limits, built once by New.
type hardening struct {
	ipLimits        *limiter // nil: off
	principalLimits *limiter // nil: off
	trustedProxies  []netip.Prefix
	cors            fiber.Handler // nil: CORS off
}

// newHardening fills in the defaults of the hardening fields of o and
// builds their state. Invalid entries (Validate reports them) are logged
// and skipped rather than failing: New cannot fail.
func newHardening(o *Options, log *slog.Logger) hardening {
	if o.MaxJSONDepth == 0 {
		o.MaxJSONDepth = DefaultMaxJSONDepth
	}
	if o.HeaderLimit <= 0 {
		o.HeaderLimit = DefaultHeaderLimit
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = DefaultHeaderTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	rl := o.RateLimit
	h := hardening{
		ipLimits:        newLimiter("client address", rl.IPRate, rl.IPBurst, DefaultIPRate, rl.MaxKeys, rl.Now),
		principalLimits: newLimiter("principal", rl.PrincipalRate, rl.PrincipalBurst, DefaultPrincipalRate, rl.MaxKeys, rl.Now),
	}
	for _, v := range o.TrustedProxies {
		p, err := parseTrustedProxies([]string{v})
		if err != nil {
			log.Warn("ignoring trusted proxy", slog.Any("err", err))
			continue
		}
		h.trustedProxies = append(h.trustedProxies, p...)
	}
	h.cors = newCORS(o.CORS, log)
	return h
}

// Validate reports hardening settings that New would have to ignore or
// could not make sense of: a malformed trusted proxy or CORS origin,
// credentials allowed to every origin, a rate that is not a number. Other
// settings have working defaults and are not checked.
func (o Options) Validate() error {
	var errs []error
	for _, r := range []float64{o.RateLimit.IPRate, o.RateLimit.PrincipalRate} {
		if math.IsNaN(r) || math.IsInf(r, 0) {
			errs = append(errs, fmt.Errorf("server: rate limit %v: want a number of requests per second", r))
		}
	}
	if _, err := parseTrustedProxies(o.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	for _, v := range o.CORS.Origins {
		if _, err := normalizeOrigin(v); err != nil {
			errs = append(errs, err)
		}
		if strings.TrimSpace(v) == "*" && o.CORS.Credentials {
			errs = append(errs, errors.New(`server: CORS credentials cannot be allowed to every origin ("*"); list the origins`))
		}
	}
	return errors.Join(errs...)
}

// normalizeOrigin returns an origin as browsers send it in Origin:
// lowercase scheme and host, no default port, no path.
func normalizeOrigin(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "*" {
		return v, nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server: CORS origin %q: want scheme://host[:port] or *", v)
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if port := u.Port(); (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		host = strings.ToLower(u.Hostname())
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	return scheme + "://" + host, nil
}

// newCORS builds fiber's CORS middleware for cfg, or nil when cfg names
// no origin. Origins are matched exactly, by a set, rather than through
// the middleware's own list, which panics on an entry it cannot parse.
func newCORS(cfg CORS, log *slog.Logger) fiber.Handler {
	allowed := map[string]bool{}
	for _, v := range cfg.Origins {
		o, err := normalizeOrigin(v)
		if err != nil {
			log.Warn("ignoring CORS origin", slog.Any("err", err))
			continue
		}
		allowed[o] = true
	}
	if len(allowed) == 0 {
		return nil
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = DefaultCORSMaxAge
	}
	conf := cors.Config{
		AllowMethods:  "GET,POST,HEAD,PUT,DELETE,PATCH",
		AllowHeaders:  "Authorization,Content-Type,If-Match,If-None-Match,Last-Event-ID,Strata-Seq,X-Request-ID",
		ExposeHeaders: "ETag,Location,Retry-After,Strata-Seq,WWW-Authenticate,X-Request-ID",
		MaxAge:        int(maxAge / time.Second),
	}
	if maxAge < 0 {
		conf.MaxAge = -1
	}
	if allowed["*"] {
		// Any origin may read, but never with the user's credentials.
		conf.AllowOrigins = "*"
	} else {
		conf.AllowOriginsFunc = func(origin string) bool { return allowed[origin] }
		conf.AllowCredentials = cfg.Credentials
	}
	mw := cors.New(conf)
	return func(c *fiber.Ctx) error {
		setSecurityHeaders(c) // a preflight is answered here, not by a route
		return mw(c)
	}
}

// mountCORS puts the CORS middleware, when configured, in front of the
// API and the documentation, so that preflights are answered and every
// response, errors included, carries the headers.
func (s *Server) mountCORS(r fiber.Router) {
	if s.cors == nil {
		return
	}
	for _, prefix := range []string{"/api", "/docs", "/openapi.json"} {
		r.Use(prefix, s.cors)
	}
}

// setSecurityHeaders sets the headers every response carries: no
// response is ever to be sniffed into another content type. HTML pages
// add theirs (setPageSecurityHeaders).
func setSecurityHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
}

// tuneConnections applies the connection limits to the server of an app
// that serves only s. Reading a request's line and headers is bounded by
// HeaderTimeout (fiber's ReadTimeout), and only once they are in does the
// body get the whole RequestTimeout, so a client that trickles its headers
// is cut off early. The upload of a hook module (megabytes) and the
// writing of its answer get HookRegisterTimeout, like its handler; exports,
// imports and backups get TransferTimeout, blobs BlobTimeout. Bodies are
// streamed: each route bounds what it reads (wrapBody).
func (s *Server) tuneConnections(srv *fasthttp.Server) {
	bodyTimeout := s.opts.RequestTimeout
	hookTimeout := max(s.opts.HookRegisterTimeout, bodyTimeout)
	transferTimeout := max(s.opts.TransferTimeout, bodyTimeout)
	blobTimeout := max(s.opts.BlobTimeout, bodyTimeout)
	fg := guardFraming(srv)
	answerFraming(srv) // for the connections of Listener
	srv.HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		fg.check(h)
		path, _, _ := bytes.Cut(h.RequestURI(), []byte("?"))
		if isModuleUpload(h.Method(), path) {
			// The response's write deadline (fiber's WriteTimeout) is
			// RequestTimeout too; a registration must not lose its answer
			// to it. A module over its limit is refused as it is read
			// (wrapFor).
			return fasthttp.RequestConfig{ReadTimeout: hookTimeout, WriteTimeout: hookTimeout}
		}
		if transfer, _ := isTransfer(h.Method(), path); transfer {
			// Exports, imports and backups move whole stores: their body
			// and answer get TransferTimeout (each write of a streamed
			// answer also extends its own deadline).
			return fasthttp.RequestConfig{ReadTimeout: transferTimeout, WriteTimeout: transferTimeout}
		}
		if (h.IsPost() || h.IsGet() || h.IsHead()) && bytes.HasPrefix(path, []byte(blobRoute)) {
			// A blob of 100 MiB takes minutes on a slow link, either way.
			return fasthttp.RequestConfig{ReadTimeout: blobTimeout, WriteTimeout: blobTimeout}
		}
		return fasthttp.RequestConfig{ReadTimeout: bodyTimeout}
	}
	if s.opts.MaxConnsPerIP > 0 {
		capConnections(srv, s.opts.MaxConnsPerIP)
	}
}

// framingGuard refuses requests whose body length is ambiguous: two
// Content-Length values that differ, one that is not a number, or a
// Content-Length beside a Transfer-Encoding (RFC 9112 §6.3). A proxy in
// front may frame such a request otherwise than fasthttp does, which
// takes the last Content-Length and would wait for body bytes that never
// come: the client got no answer until the read timeout, and whatever
// bytes followed were parsed as a next request (request smuggling).
type framingGuard struct{}

// framingRefused is the header by which check marks a refused request for
// the handler. Its name has spaces, which fasthttp refuses in a header
// that comes from the wire, so no client can set it.
const framingRefused = "Strata framing refused"

// guardFraming installs a framingGuard in front of srv's handler: a
// refused request is answered 400 at once and its connection closed,
// since nothing after its headers can be trusted to start a request.
func guardFraming(srv *fasthttp.Server) framingGuard {
	next := srv.Handler
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		detail := ctx.Request.Header.Peek(framingRefused)
		if detail == nil {
			next(ctx)
			return
		}
		p, _ := toProblem(badRequest("%s", detail))
		body, _ := marshalJSON(p) // a Problem always encodes
		ctx.Response.Header.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		ctx.SetConnectionClose()
		ctx.SetStatusCode(fiber.StatusBadRequest)
		ctx.SetContentType("application/problem+json")
		ctx.SetBody(body)
	}
	return framingGuard{}
}

// check is called once a request's headers are in and before its body is
// read. A request with ambiguous framing gets no body read at all (its
// length is set to zero) and is marked for the handler to refuse.
func (framingGuard) check(h *fasthttp.RequestHeader) {
	detail := ambiguousFraming(h.RawHeaders())
	if detail == "" {
		return
	}
	h.SetContentLength(0)
	h.SetConnectionClose()
	h.Set(framingRefused, detail)
}

// ambiguousFraming returns why the raw header lines raw frame a body
// ambiguously, or "". Repeated Content-Length values that agree are
// allowed, as RFC 9110 §8.6 allows; fasthttp itself refuses one that is
// not a number.
func ambiguousFraming(raw []byte) string {
	length, te := "", false
	for line := range strings.SplitSeq(string(raw), "\n") {
		name, value, ok := strings.Cut(strings.TrimSuffix(line, "\r"), ":")
		if !ok {
			continue
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case strings.EqualFold(name, fiber.HeaderTransferEncoding):
			te = true
		case strings.EqualFold(name, fiber.HeaderContentLength):
			if length != "" && value != length {
				return fmt.Sprintf("the request has two different Content-Length values, %s and %s", length, value)
			}
			length = value
		}
	}
	if te && length != "" {
		return "the request has both Content-Length and Transfer-Encoding; send one"
	}
	return ""
}

// connCap counts the open connections of each client address.
type connCap struct {
	max     int
	mu      sync.Mutex
	open    map[string]int
	refused map[net.Conn]bool // connections over the cap, answered 429
	// anyRefused lets requests skip the lock while no connection is
	// refused, the usual case.
	anyRefused atomic.Bool
}

// capConnections bounds the open connections of each peer address (IPv6
// by /64, as the rate limits) to limit. A connection over the cap is not
// dropped blindly: its first request is answered 429 rate_limited and
// the connection closed. fasthttp's own MaxConnsPerIP is not used: it
// counts every IPv6 client as one, and in fasthttp 1.51 a connection it
// wraps can be closed twice at shutdown, which panics.
func capConnections(srv *fasthttp.Server, limit int) {
	cc := &connCap{max: limit, open: map[string]int{}, refused: map[net.Conn]bool{}}
	p, _ := toProblem(fiber.NewError(fiber.StatusTooManyRequests, fmt.Sprintf("too many open connections from this address; the limit is %d", limit)))
	body, _ := marshalJSON(p) // a Problem always encodes
	srv.ConnState = cc.track
	next := srv.Handler
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		if !cc.isRefused(ctx.Conn()) {
			next(ctx)
			return
		}
		ctx.Response.Header.Set(fiber.HeaderRetryAfter, "1")
		ctx.Response.Header.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		ctx.SetConnectionClose()
		ctx.SetStatusCode(fiber.StatusTooManyRequests)
		ctx.SetContentType("application/problem+json")
		ctx.SetBody(body)
	}
}

// track is the server's ConnState hook: fasthttp reports every accepted
// connection as new, and each exactly once as closed or hijacked.
func (cc *connCap) track(c net.Conn, st fasthttp.ConnState) {
	var key string
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		addr, _ := netip.AddrFromSlice(a.IP)
		key = addrKey(addr.Unmap())
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	switch st {
	case fasthttp.StateNew:
		cc.open[key]++
		if cc.open[key] > cc.max {
			cc.refused[c] = true
			cc.anyRefused.Store(true)
		}
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		if cc.open[key]--; cc.open[key] <= 0 {
			delete(cc.open, key)
		}
		delete(cc.refused, c)
		cc.anyRefused.Store(len(cc.refused) > 0)
	}
}

func (cc *connCap) isRefused(c net.Conn) bool {
	if !cc.anyRefused.Load() {
		return false
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.refused[c]
}

// depthSlack is the c.Locals key of the extra nesting a route's envelope
// adds around documents (see nested).
type depthSlack struct{}

// batchEnvelopeDepth is the nesting a batch adds around each body:
// {"requests": [{"body": …}]}.
const batchEnvelopeDepth = 3

// nested lets the JSON bodies of route h nest extra levels deeper than
// MaxJSONDepth, so documents inside an envelope may nest as deep as they
// may on their own.
func nested(extra int, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Locals(depthSlack{}, extra)
		return h(c)
	}
}

// checkJSONDepth refuses a JSON request body nested deeper than
// MaxJSONDepth before any decoder sees it: decoders recurse, and a few
// megabytes of '[' would otherwise cost deep stacks and much memory.
func (s *Server) checkJSONDepth(c *fiber.Ctx) error {
	limit := s.opts.MaxJSONDepth
	body := c.Body()
	if limit < 0 || len(body) == 0 || !isJSONBody(c) {
		return nil
	}
	if extra, ok := c.Locals(depthSlack{}).(int); ok {
		limit += extra
	}
	if at := tooDeep(body, limit); at >= 0 {
		return badRequest("JSON nested deeper than the limit of %d levels, at byte %d", s.opts.MaxJSONDepth, at)
	}
	return nil
}

// isJSONBody reports whether the request declares a JSON body:
// application/json, any +json type, or NDJSON. Other bodies (WASM
// modules, blobs) are binary, and their bytes mean nothing to the scan.
func isJSONBody(c *fiber.Ctx) bool {
	ct := c.Get(fiber.HeaderContentType)
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == fiber.MIMEApplicationJSON || strings.HasSuffix(mt, "+json") || mt == "application/x-ndjson"
}

// tooDeep returns the offset of the first bracket that opens level
// limit+1 of raw, or -1. Strings are skipped, escapes included; the JSON
// need not be valid, its decoder judges that later.
func tooDeep(raw []byte, limit int) int {
	depth := 0
	inString, escaped := false, false
	for i, b := range raw {
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		}
		switch b {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > limit {
				return i
			}
		case '}', ']':
			depth--
		}
	}
	return -1
}
