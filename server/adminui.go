package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/server/ui"
)

// mountUI binds the admin UI at /_/ and the landing page at /. Any name
// under /_/ that is not one of its files gets the UI's page, which routes
// by the URL's fragment.
func (s *Server) mountUI(r fiber.Router) {
	h := s.wrap
	r.Get("/", h(s.uiFile("index.html")))
	r.Get("/_", h(s.uiFile("app.html"))) // and /_/: routing ignores a trailing slash
	r.Get("/_/:file", h(s.uiFile("")))
}

// uiFile serves the named file of package ui, or when name is empty the
// one the request's :file names, falling back to the admin UI's page.
func (s *Server) uiFile(name string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		base := uiBase(c.Route().Path)
		n := name
		if n == "" {
			n = c.Params("file")
			if n == "index.html" { // the landing page lives at /
				n = "app.html"
			}
		}
		f, ok := ui.Asset(n, base)
		if !ok {
			f, _ = ui.Asset("app.html", base)
		}
		setPageHeaders(c)
		c.Vary(fiber.HeaderAcceptEncoding)
		c.Set(fiber.HeaderContentType, f.ContentType)
		// Revalidated on every load: the names carry no version, and a
		// 304 on the same host costs next to nothing.
		c.Set(fiber.HeaderCacheControl, "no-cache")
		body, tag := f.Body, f.ETag
		if acceptsGzip(c.Get(fiber.HeaderAcceptEncoding)) {
			body, tag = f.Gzip, f.GzipETag
			c.Set(fiber.HeaderContentEncoding, "gzip")
		}
		c.Set(fiber.HeaderETag, tag)
		if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && etagMatches(inm, tag) {
			c.Response().Header.Del(fiber.HeaderContentEncoding)
			return c.SendStatus(fiber.StatusNotModified)
		}
		return c.Send(body)
	}
}

// uiBase is the path the routes are mounted under, from the route's own
// pattern (never from the request, whose case may differ).
func uiBase(route string) string {
	route = strings.TrimSuffix(route, "/")
	for _, suffix := range []string{"/_/:file", "/_"} {
		if base, ok := strings.CutSuffix(route, suffix); ok {
			return base
		}
	}
	return route // the landing page's
}

// setPageHeaders are the headers of the UI's pages and files: a strict
// CSP (no inline script or style), never framed, never sniffed.
func setPageHeaders(c *fiber.Ctx) {
	c.Set("Content-Security-Policy", ui.CSP)
	c.Set("X-Frame-Options", "DENY")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// acceptsGzip reports whether an Accept-Encoding admits gzip.
func acceptsGzip(ae string) bool {
	for part := range strings.SplitSeq(ae, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.TrimSpace(coding) != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// etagMatches reports whether an If-None-Match list names tag.
func etagMatches(inm, tag string) bool {
	for t := range strings.SplitSeq(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag || t == "*" {
			return true
		}
	}
	return false
}
