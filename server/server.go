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
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

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
	// DefaultPageSize is the list page size when a request names none. Zero
	// means core.DefaultPageSize.
	DefaultPageSize int
}

// DefaultBodyLimit is the body limit when Options.BodyLimit is zero.
const DefaultBodyLimit = 10 << 20

// Server is Strata's HTTP surface. It is safe for concurrent use.
type Server struct {
	m        *core.Manager
	log      *slog.Logger
	opts     Options
	draining atomic.Bool
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
	if opts.DefaultPageSize <= 0 {
		opts.DefaultPageSize = core.DefaultPageSize
	}
	return &Server{m: m, log: opts.Logger, opts: opts}
}

// NewApp returns a fiber.App that serves only this Server, with its error
// handler and body limit in place.
func (s *Server) NewApp() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "strata",
		DisableStartupMessage: true,
		BodyLimit:             s.opts.BodyLimit,
		ErrorHandler:          s.handleError,
		ReadTimeout:           s.opts.RequestTimeout,
		WriteTimeout:          s.opts.RequestTimeout,
		IdleTimeout:           2 * time.Minute,
		ReadBufferSize:        16 << 10,
	})
	s.Mount(app)
	app.Use(func(c *fiber.Ctx) error {
		return s.handleError(c, fiber.NewError(fiber.StatusNotFound, "no route "+c.Method()+" "+c.Path()))
	})
	return app
}

// Drain makes /readyz report 503 so a load balancer stops sending traffic
// before shutdown; requests are still served.
func (s *Server) Drain() { s.draining.Store(true) }

// Mount registers the Server's routes on r.
func (s *Server) Mount(r fiber.Router) {
	h := s.wrap
	r.Get("/healthz", h(s.healthz))
	r.Get("/readyz", h(s.readyz))
	r.Get("/openapi.json", h(s.openAPI))
	r.Get("/docs", h(s.docsPage))
	r.Get("/docs/assets/:name", h(s.docsAsset))

	api := r.Group("/api")
	api.Get("/types", h(s.listTypes))
	api.Post("/types", h(s.createType))
	api.Get("/types/:type", h(s.getType))
	api.Put("/types/:type", h(s.updateType))
	api.Delete("/types/:type", h(s.deleteType))
	api.Get("/changes", h(s.changes))
	api.Post("/batch", h(s.batch))
	api.Get("/hooks", h(s.listHooks))
	api.Get("/hooks/:name", h(s.getHook))
	api.Put("/hooks/:name", h(s.putHook))
	api.Delete("/hooks/:name", h(s.deleteHook))

	api.Post("/:type", h(s.create))
	api.Get("/:type", h(s.list))
	api.Get("/:type/count", h(s.count))
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

// wrap gives a handler a deadline, turns its errors into problems and
// recovers its panics, so no panic reaches a client or the process.
func (s *Server) wrap(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if p := recover(); p != nil {
				s.log.ErrorContext(c.UserContext(), "panic serving request",
					slog.String("method", c.Method()), slog.String("path", c.Path()), slog.Any("panic", p))
				err = s.handleError(c, errPanic)
			}
		}()
		if len(c.Body()) > s.opts.BodyLimit {
			return s.handleError(c, fiber.ErrRequestEntityTooLarge)
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), s.opts.RequestTimeout)
		defer cancel()
		c.SetUserContext(ctx)
		if err := h(c); err != nil {
			return s.handleError(c, err)
		}
		return nil
	}
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

func (s *Server) readyz(c *fiber.Ctx) error {
	if s.draining.Load() {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "draining"})
	}
	return c.JSON(fiber.Map{"status": "ready", "seq": s.m.LastSeq()})
}
