package server

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

// Reads as_of an instant (SPEC §3 List): single reads, revision lists,
// lists and counts answered as the data stood then. The rules (which
// instants, which resources, who sees what) are core's; these handlers
// parse and render.

// asOf reads the as_of query parameter, an RFC 3339 time; ok is false
// when it is absent.
func asOf(c *fiber.Ctx) (at time.Time, ok bool, err error) {
	v := c.Query("as_of")
	if v == "" {
		return time.Time{}, false, nil
	}
	at, err = time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, true, badRequest("as_of must be an RFC 3339 time such as 2026-11-22T08:00:00Z, not %q", v)
	}
	return at, true, nil
}

// refuseWithAsOf is 400 when the request names one of params, which
// reads as_of do not answer (rather than ignoring them).
func refuseWithAsOf(c *fiber.Ctx, params ...string) error {
	for _, p := range params {
		if c.Query(p) != "" {
			return badRequest("%s cannot be combined with as_of", p)
		}
	}
	return nil
}

// getAsOf answers GET /api/{type}/{id}?as_of=.
func (s *Server) getAsOf(c *fiber.Ctx, at time.Time) error {
	if c.Query("revision") != "" {
		return badRequest("as_of and revision both choose the revision: give one")
	}
	if err := refuseWithAsOf(c, "expand"); err != nil {
		return err
	}
	incl, err := queryBool(c, "include_deleted")
	if err != nil {
		return err
	}
	res, err := s.m.GetAsOf(c.UserContext(), param(c, "type"), param(c, "id"), at, core.GetOptions{IncludeDeleted: incl})
	if err != nil {
		return err
	}
	return s.sendRead(c, res)
}

// revisionsAsOf answers GET /api/{type}/{id}/revisions?as_of=.
func (s *Server) revisionsAsOf(c *fiber.Ctx, at time.Time) error {
	o, err := s.listOptions(c)
	if err != nil {
		return err
	}
	page, err := s.m.RevisionsAsOf(c.UserContext(), param(c, "type"), param(c, "id"), at, o)
	if err != nil {
		return err
	}
	out := fiber.Map{"items": page.Items, "next_cursor": nil}
	if page.NextCursor != "" {
		out["next_cursor"] = page.NextCursor
	}
	return sendJSON(c, fiber.StatusOK, out)
}

// listAsOf answers GET /api/{type}?as_of=.
func (s *Server) listAsOf(c *fiber.Ctx, at time.Time) error {
	if err := refuseWithAsOf(c, "facets", "stats", "expand"); err != nil {
		return err
	}
	o, err := s.listOptions(c)
	if err != nil {
		return err
	}
	v, err := parseView(c)
	if err != nil {
		return err
	}
	q, err := listQuery(c)
	if err != nil {
		return err
	}
	if q.Highlight, err = queryBool(c, "highlight"); err != nil {
		return err
	}
	if q.Total, err = queryBool(c, "total"); err != nil {
		return err
	}
	q.Sort = c.Query("sort")
	sp, err := s.m.ListAsOf(c.UserContext(), param(c, "type"), at, o, q)
	if err != nil {
		return err
	}
	var total *int
	if q.Total {
		total = &sp.Total
	}
	return sendList(c, v, &sp.Page, total, nil)
}

// countAsOf answers GET /api/{type}/count?as_of=.
func (s *Server) countAsOf(c *fiber.Ctx, at time.Time) error {
	incl, err := queryBool(c, "include_deleted")
	if err != nil {
		return err
	}
	q, err := listQuery(c)
	if err != nil {
		return err
	}
	n, err := s.m.CountAsOf(c.UserContext(), param(c, "type"), at, incl, q)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, fiber.Map{"count": n})
}
