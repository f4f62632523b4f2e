// Package server serves a core.Manager over HTTP with Fiber: the REST API
// of SPEC §3, errors as RFC 9457 problems, the OpenAPI document and the
// interactive docs page, and the health endpoints.
//
// A Server either runs as its own fiber.App (NewApp) or mounts its routes on
// an application the caller owns (Mount). Either way every error a route
// returns, and every panic inside one, is rendered as problem+json by the
// Server itself, so an embedding application's error handler is never
// relied on for the API's contract.
package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/core"
)

// Options configure a Server. The zero value is ready to use.
type Options struct {
	// Logger receives request errors and panics. Nil discards them.
	Logger *slog.Logger
	// BodyLimit is the largest request body accepted, in bytes; larger ones
	// are refused with 413. Zero means 10 MiB.
	BodyLimit int
	// RequestTimeout bounds the work of one request. Zero means 30 s.
	RequestTimeout time.Duration
	// HookRegisterTimeout bounds the upload and registration of a hook
	// module (PUT /api/hooks/{name}) in place of RequestTimeout: compiling
	// a module of megabytes takes far longer than an ordinary request.
	// Zero means DefaultHookRegisterTimeout.
	HookRegisterTimeout time.Duration
	// HookModuleLimit is the largest hook module, in bytes, a
	// registration or a replay may send, in place of BodyLimit; larger
	// ones are refused with 413 as they are read, never buffered whole.
	// Zero means DefaultHookModuleLimit (16 MiB).
	HookModuleLimit int
	// DefaultPageSize is the list page size when a request names none. Zero
	// means core.DefaultPageSize.
	DefaultPageSize int
	// Auth turns bearer tokens into principals. Nil means no credential is
	// accepted: every request is anonymous and sees only what types grant
	// to "public".
	Auth *auth.Authenticator

	// Hardening: limits on what one client may send (hardening.go,
	// ratelimit.go). The zero values suit a server exposed to the internet.

	// RateLimit bounds the request rate of each client address and each
	// authenticated principal.
	RateLimit RateLimit
	// TrustedProxies are the addresses or networks ("10.0.0.0/8") of
	// reverse proxies whose X-Forwarded-For names the client address that
	// rate limits key on. Empty means the peer address is the client's.
	TrustedProxies []string
	// CORS lets browser scripts of other origins call the API. The zero
	// value sends no CORS headers.
	CORS CORS
	// MaxJSONDepth bounds the nesting of JSON request bodies (a batch's
	// envelope is not counted); deeper ones are 400. Zero means
	// DefaultMaxJSONDepth, negative turns the check off; resource data
	// stays limited to 64 levels by core whatever it is.
	MaxJSONDepth int
	// The limits below apply to the app NewApp builds; an application that
	// Mounts the Server sets its own.

	// HeaderLimit is the largest request line plus headers, in bytes;
	// larger ones are refused with 431. Zero means DefaultHeaderLimit.
	HeaderLimit int
	// HeaderTimeout bounds the time a client takes to send a request's
	// line and headers; the body then has RequestTimeout. Zero means
	// DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request. Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxConnsPerIP bounds the open connections of one peer address; more
	// are refused with 429. Zero means no bound: behind a reverse proxy
	// every connection comes from the proxy.
	MaxConnsPerIP int

	// EventsHeartbeat is how often an idle event stream (GET /api/events)
	// gets a comment line, so proxies keep it open and a client that went
	// away is noticed. Zero means DefaultEventsHeartbeat.
	EventsHeartbeat time.Duration
	// TransferTimeout bounds an export, an import and an online backup in
	// place of RequestTimeout: they move whole stores. Zero means
	// DefaultTransferTimeout.
	TransferTimeout time.Duration
	// ImportLimit is the largest import body accepted, in bytes, in place
	// of BodyLimit. Zero means DefaultImportLimit.
	ImportLimit int
	// BlobTimeout bounds the upload or download of one blob in place of
	// RequestTimeout. Zero means DefaultBlobTimeout.
	BlobTimeout time.Duration
	// Metrics, when set, counts every request (metrics.go); /metrics then
	// serves it. Nil turns request metrics off and /metrics answers 404.
	Metrics *Metrics

	// EventsMaxLag is how many changes an event stream may fall behind the
	// change log before it is sent `event: reset` and closed. Zero means
	// DefaultEventsMaxLag.
	EventsMaxLag int
}

// DefaultBodyLimit is the body limit when Options.BodyLimit is zero.
const DefaultBodyLimit = 10 << 20

// DefaultHookRegisterTimeout is the time limit of a hook module's
// registration when Options.HookRegisterTimeout is zero: enough to compile
// a module of several megabytes (a Go hook is about 3 MB) on a slow,
// loaded machine.
const DefaultHookRegisterTimeout = 5 * time.Minute

// DefaultHookModuleLimit is the largest hook module accepted when
// Options.HookModuleLimit is zero.
const DefaultHookModuleLimit = 16 << 20

// hookRoute is the path prefix of the hook module routes under NewApp.
const hookRoute = "/api/hooks/"

// isModuleUpload reports whether a request of method to path (its query
// string excluded) sends a hook module: a registration (PUT
// /api/hooks/{name}) or a replay (POST /api/hooks/{name}/replay). Those
// have the limits of a module upload instead of an ordinary request's.
func isModuleUpload(method, path []byte) bool {
	name, ok := bytes.CutPrefix(path, []byte(hookRoute))
	if !ok || len(name) == 0 {
		return false
	}
	switch string(method) {
	case fiber.MethodPut:
		return bytes.IndexByte(name, '/') < 0
	case fiber.MethodPost:
		name, ok = bytes.CutSuffix(name, []byte("/replay"))
		return ok && len(name) > 0 && bytes.IndexByte(name, '/') < 0
	}
	return false
}

// Server is Strata's HTTP surface. It is safe for concurrent use.
type Server struct {
	m        *core.Manager
	auth     *auth.Authenticator
	log      *slog.Logger
	opts     Options
	draining atomic.Bool
	hardening

	// closing ends the event streams when the server drains, so that a
	// graceful shutdown does not wait on them; subscribers counts them.
	closing     chan struct{}
	closeOnce   sync.Once
	subscribers atomic.Int64
}

// New returns a Server for m. The caller keeps ownership of m.
func New(m *core.Manager, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = DefaultBodyLimit
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	if opts.HookRegisterTimeout <= 0 {
		opts.HookRegisterTimeout = DefaultHookRegisterTimeout
	}
	if opts.HookModuleLimit <= 0 {
		opts.HookModuleLimit = DefaultHookModuleLimit
	}
	if opts.DefaultPageSize <= 0 {
		opts.DefaultPageSize = core.DefaultPageSize
	}
	if opts.EventsHeartbeat <= 0 {
		opts.EventsHeartbeat = DefaultEventsHeartbeat
	}
	if opts.TransferTimeout <= 0 {
		opts.TransferTimeout = DefaultTransferTimeout
	}
	if opts.ImportLimit <= 0 {
		opts.ImportLimit = DefaultImportLimit
	}
	if opts.EventsMaxLag <= 0 {
		opts.EventsMaxLag = DefaultEventsMaxLag
	}
	if opts.BlobTimeout <= 0 {
		opts.BlobTimeout = DefaultBlobTimeout
	}
	s := &Server{m: m, auth: opts.Auth, log: opts.Logger, opts: opts, closing: make(chan struct{})}
	s.hardening = newHardening(&s.opts, s.log)
	return s
}

// NewApp returns a fiber.App that serves only this Server, with its error
// handler and body limit in place.
func (s *Server) NewApp() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "strata",
		DisableStartupMessage: true,
		BodyLimit:             s.opts.BodyLimit, // how much is read before the handler; each route bounds its own (wrapBody)
		ErrorHandler:          s.handleError,
		ReadTimeout:           s.opts.HeaderTimeout, // the body's is set by tuneConnections
		WriteTimeout:          s.opts.RequestTimeout,
		IdleTimeout:           s.opts.IdleTimeout,
		ReadBufferSize:        s.opts.HeaderLimit,
		// Bodies are read as a stream, so that a blob upload or an
		// import never sits in memory; every other route reads its body
		// up to its limit (BodyLimit, HookModuleLimit; readBody) before
		// its handler runs.
		StreamRequestBody: true,
	})
	s.tuneConnections(app.Server())
	app.Use(closeUnread)
	s.Mount(app)
	app.Use(func(c *fiber.Ctx) error {
		return s.handleError(c, fiber.NewError(fiber.StatusNotFound, "no route "+c.Method()+" "+c.Path()))
	})
	return app
}

// Drain makes /readyz report 503 so a load balancer stops sending traffic
// before shutdown; requests are still served, but the event streams end
// (their clients reconnect, elsewhere, from their last event).
func (s *Server) Drain() {
	s.draining.Store(true)
	s.closeOnce.Do(func() { close(s.closing) })
}

// Mount registers the Server's routes on r. Blob uploads are streamed to
// disk only when the app streams request bodies (fiber.Config
// StreamRequestBody, as NewApp's does); otherwise the app's BodyLimit
// bounds them, and they sit in memory while they are stored.
func (s *Server) Mount(r fiber.Router) {
	h := s.wrap
	s.mountCORS(r)
	s.mountMetrics(r)
	r.Get("/healthz", h(s.healthz))
	r.Get("/readyz", h(s.readyz))
	r.Get("/openapi.json", h(s.openAPI))
	r.Get("/docs", h(s.docsPage))
	r.Get("/docs/assets/:name", h(s.docsAsset))
	s.mountUI(r)

	api := r.Group("/api")
	api.Post("/blobs", s.wrapStream(s.opts.BlobTimeout, s.uploadBlob))
	api.Get("/blobs/:hash", s.wrapFor(s.opts.BlobTimeout, s.opts.BodyLimit, s.getBlob))
	api.Get("/types", h(s.listTypes))
	api.Post("/types", h(s.createType))
	api.Get("/types/:type", h(s.getType))
	api.Put("/types/:type", h(s.updateType))
	api.Delete("/types/:type", h(s.deleteType))
	api.Get("/changes", h(s.changes))
	api.Get("/events", h(s.events))
	api.Post("/batch", nested(batchEnvelopeDepth, h(s.batch)))
	api.Get("/hooks", h(s.listHooks))
	api.Get("/hooks/:name", h(s.getHook))
	api.Put("/hooks/:name", s.wrapFor(s.opts.HookRegisterTimeout, s.opts.HookModuleLimit, s.putHook))
	api.Post("/hooks/:name/replay", s.wrapFor(s.opts.HookRegisterTimeout, s.opts.HookModuleLimit, s.replayHook))
	api.Delete("/hooks/:name", h(s.deleteHook))
	api.Post("/keys", h(s.createKey))
	api.Get("/keys", h(s.listKeys))
	api.Delete("/keys/:id", h(s.revokeKey))
	api.Post("/webhooks", h(s.createWebhook))
	api.Get("/webhooks", h(s.listWebhooks))
	api.Get("/webhooks/:id", h(s.getWebhook))
	api.Delete("/webhooks/:id", h(s.deleteWebhook))
	api.Get("/webhooks/:id/deliveries", h(s.webhookDeliveries))
	api.Post("/webhooks/:id/resume", h(s.resumeWebhook))
	api.Get("/export", s.wrapFor(s.opts.TransferTimeout, s.opts.BodyLimit, s.exportAll))
	api.Post("/import", s.wrapTransfer(s.importAll))
	api.Get("/backup", s.wrapFor(s.opts.TransferTimeout, s.opts.BodyLimit, s.backup))

	api.Post("/:type", h(s.create))
	api.Get("/:type", h(s.list))
	api.Get("/:type/count", h(s.count))
	api.Get("/:type/export", s.wrapFor(s.opts.TransferTimeout, s.opts.BodyLimit, s.exportType))
	api.Post("/:type/import", s.wrapTransfer(s.importType))
	api.Get("/:type/:id", h(s.get))
	api.Put("/:type/:id", h(s.replace))
	api.Patch("/:type/:id", h(s.patch))
	api.Delete("/:type/:id", h(s.delete))
	api.Post("/:type/:id/restore", h(s.restore))
	api.Get("/:type/:id/revisions", h(s.revisions))
	api.Get("/:type/:id/revisions/:n", h(s.revision))
	api.Post("/:type/:id/switch/:n", h(s.switchRevision))
	api.Get("/:type/:id/diff", h(s.diff))
	api.Get("/:type/:id/referrers", h(s.referrers))
	api.Use(h(func(c *fiber.Ctx) error {
		return fiber.NewError(fiber.StatusNotFound, "no route "+c.Method()+" "+c.Path())
	}))
}

// wrap gives a handler a deadline of RequestTimeout, turns its errors
// into problems and recovers its panics, so no panic reaches a client or
// the process.
func (s *Server) wrap(h fiber.Handler) fiber.Handler {
	return s.wrapFor(s.opts.RequestTimeout, s.opts.BodyLimit, h)
}

// wrapTransfer wraps an export, an import or a backup: TransferTimeout,
// and the body left unread: an import spools its stream itself, up to
// ImportLimit.
func (s *Server) wrapTransfer(h fiber.Handler) fiber.Handler {
	return s.wrapStream(s.opts.TransferTimeout, h)
}

// wrapFor is wrap with a deadline of timeout and bodies up to bodyLimit,
// for the routes whose work is not an ordinary request's.
func (s *Server) wrapFor(timeout time.Duration, bodyLimit int, h fiber.Handler) fiber.Handler {
	return s.wrapBody(timeout, bodyLimit, h)
}

// wrapStream is wrapFor for a route that reads its body as a stream
// itself, of whatever length it allows.
func (s *Server) wrapStream(timeout time.Duration, h fiber.Handler) fiber.Handler {
	return s.wrapBody(timeout, 0, h)
}

// wrapBody reads the body, up to bodyLimit, before h runs; with a
// bodyLimit of 0 it leaves the stream to h.
func (s *Server) wrapBody(timeout time.Duration, bodyLimit int, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if p := recover(); p != nil {
				s.log.ErrorContext(c.UserContext(), "panic serving request",
					slog.String("method", c.Method()), slog.String("path", c.Path()), slog.Any("panic", p))
				err = s.handleError(c, errPanic)
			}
		}()
		setSecurityHeaders(c)
		if bodyLimit > 0 {
			if err := s.readBody(c, bodyLimit); err != nil {
				return s.handleError(c, err)
			}
			if err := s.checkJSONDepth(c); err != nil {
				return s.handleError(c, err)
			}
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), timeout)
		defer cancel()
		c.SetUserContext(ctx)
		if err := s.admit(c); err != nil {
			return s.handleError(c, err)
		}
		if err := s.awaitSeq(c); err != nil {
			return s.handleError(c, err)
		}
		err = h(c)
		s.answerSeq(c)
		if err != nil {
			return s.handleError(c, err)
		}
		return nil
	}
}

// closeUnread closes the connection of a request refused before its
// streamed body was read: the rest of the body would otherwise be parsed
// as the next request. A body declared no longer than unreadDrain is read
// and dropped first, as net/http's server does with small bodies:
// closing a socket with unread data resets it, and a client still sending
// would get the reset instead of the answer. A longer or chunked one is
// not waited for.
func closeUnread(c *fiber.Ctx) error {
	err := c.Next()
	if c.Request().IsBodyStream() && (err != nil || c.Response().StatusCode() >= 400) {
		if n := c.Request().Header.ContentLength(); n > 0 && n <= unreadDrain {
			if body := c.Context().RequestBodyStream(); body != nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(body, unreadDrain))
			}
		}
		c.Context().SetConnectionClose()
	}
	return err
}

// unreadDrain is the longest refused body closeUnread reads before it
// closes the connection.
const unreadDrain = 1 << 20

// bodyReadError is the error of a request whose body could not be read:
// a chunked body that breaks the framing gets the framing's answer (and
// only it), anything else a 400.
func bodyReadError(c *fiber.Ctx, err error) error {
	c.Context().SetConnectionClose()
	if fc, ok := c.Context().Conn().(*framingConn); ok {
		if v := fc.violation.Load(); v != nil {
			fc.answered.Store(true)
			return badRequest("%s", v.detail)
		}
	}
	return badRequest("the request body could not be read")
}

// readBody reads a streamed request body into memory, refusing with 413 one
// over limit before it is read whole.
func (s *Server) readBody(c *fiber.Ctx, limit int) error {
	req := c.Request()
	if !req.IsBodyStream() {
		if len(c.Body()) > limit {
			return fiber.ErrRequestEntityTooLarge
		}
		return nil
	}
	cl := req.Header.ContentLength()
	if cl > limit {
		return fiber.ErrRequestEntityTooLarge
	}
	var body []byte
	var err error
	if cl >= 0 {
		// The length is known: one allocation.
		body = make([]byte, cl)
		_, err = io.ReadFull(req.BodyStream(), body)
	} else {
		body, err = io.ReadAll(io.LimitReader(req.BodyStream(), int64(limit)+1))
	}
	if err != nil {
		return bodyReadError(c, err)
	}
	if len(body) > limit {
		return fiber.ErrRequestEntityTooLarge
	}
	req.SetBodyRaw(body)
	return nil
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

func (s *Server) readyz(c *fiber.Ctx) error {
	if s.draining.Load() {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "draining"})
	}
	body := fiber.Map{"status": "ready", "seq": s.m.LastSeq(), "after_hooks": afterHooksStatus(s.m.AfterHooksStatus()),
		"events": fiber.Map{"subscribers": s.subscribers.Load()}}
	// Administrators also see the change log and every consumer of it;
	// for anyone else ChangeLog fails and the section is left out.
	if st, err := s.m.ChangeLog(c.UserContext()); err == nil {
		body["changes"] = changeLogStatus(st)
	}
	return c.JSON(body)
}

// changeLogStatus is the change log's part of /readyz: its positions, what
// holds back its trimming, and where each consumer stands.
func changeLogStatus(st core.ChangeLogStatus) fiber.Map {
	consumers := make([]fiber.Map, 0, len(st.Consumers))
	for _, cs := range st.Consumers {
		m := fiber.Map{"name": cs.Name, "seq": cs.Seq, "lag": cs.Lag}
		if cs.Err != nil {
			m["failing_since"] = cs.FailingSince.UTC().Format(time.RFC3339)
			m["failures"] = cs.Failures
		}
		consumers = append(consumers, m)
	}
	m := fiber.Map{"last_seq": st.LastSeq, "trimmed_through": st.TrimmedThrough,
		"retention": st.Retention.String(), "consumers": consumers}
	if st.HeldBy != "" {
		m["held_by"], m["held_at"] = st.HeldBy, st.HeldAt
	}
	if st.Node != "" {
		leases := make([]fiber.Map, 0, len(st.Leases))
		for _, l := range st.Leases {
			leases = append(leases, fiber.Map{"name": l.Name, "node": l.Node, "expires": l.Expires.UTC().Format(time.RFC3339Nano)})
		}
		m["node"], m["leases"] = st.Node, leases
	}
	return m
}

// afterHooksStatus is the after_* hook runner's part of /readyz: how far
// behind the change log it is, and since when it has been failing. A
// stalled runner does not make the server unready, since requests are
// still served; the error's text stays in the log, since it may name
// internals.
func afterHooksStatus(st core.AfterHooksStatus) fiber.Map {
	if !st.Running {
		return fiber.Map{"running": false}
	}
	m := fiber.Map{"running": true, "seq": st.Seq, "lag": st.Lag}
	if st.Err != nil {
		m["failing_since"] = st.FailingSince.UTC().Format(time.RFC3339)
		m["failures"] = st.Failures
	}
	return m
}
