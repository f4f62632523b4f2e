package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/server/openapi"
)

// openAPI serves the OpenAPI 3.1 document of the live types. Its server is
// the path the routes are mounted under ("/" at the root), which clients
// resolve against the host they fetched the document from.
func (s *Server) openAPI(c *fiber.Ctx) error {
	// Routes match without regard to case or a trailing slash.
	base, suffix := strings.TrimSuffix(c.Path(), "/"), "/openapi.json"
	if len(base) >= len(suffix) && strings.EqualFold(base[len(base)-len(suffix):], suffix) {
		base = base[:len(base)-len(suffix)]
	}
	doc, err := openapi.Document(s.m.VisibleTypes(c.UserContext()), openapi.Info{Title: "Strata", Version: "1", ServerURL: base})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(doc)
}

// docsPage serves the interactive API documentation.
func (s *Server) docsPage(c *fiber.Ctx) error {
	base := c.Path()[:len(c.Path())-len("/docs")]
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	setPageSecurityHeaders(c)
	return c.Send(openapi.DocsPage(base+"/docs/assets", base+"/openapi.json"))
}

func (s *Server) docsAsset(c *fiber.Ctx) error {
	body, ct, ok := openapi.Asset(c.Params("name"))
	if !ok {
		return fiber.NewError(fiber.StatusNotFound, "no such asset")
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderCacheControl, "public, max-age=86400")
	return c.Send(body)
}

// setPageSecurityHeaders keeps HTML pages from being framed or sniffed and
// from loading anything but their own assets.
func setPageSecurityHeaders(c *fiber.Ctx) {
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'")
}
