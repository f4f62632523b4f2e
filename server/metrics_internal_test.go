package server

import (
	"net"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// BenchmarkMetricsMiddleware measures the request-metrics middleware
// alone: a no-op route of a bare Fiber app, without and with it. The
// difference per op is what counting a request costs.
func BenchmarkMetricsMiddleware(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			app := fiber.New(fiber.Config{DisableStartupMessage: true})
			if on {
				s := &Server{opts: Options{Metrics: NewMetrics()}}
				s.mountMetrics(app)
			}
			app.Get("/api/:type/:id", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
			h := app.Handler()
			var rc fasthttp.RequestCtx
			rc.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
			b.ReportAllocs()
			for b.Loop() {
				rc.Request.Reset()
				rc.Response.Reset()
				rc.Request.SetRequestURI("/api/docs/0123456789")
				h(&rc)
				if rc.Response.StatusCode() != fiber.StatusOK {
					b.Fatalf("status %d", rc.Response.StatusCode())
				}
			}
		})
	}
}
