package server

import (
	"bytes"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

// param copies a route parameter: fiber's values point into a buffer that
// is reused after the request.
func param(c *fiber.Ctx, name string) string { return strings.Clone(c.Params(name)) }

func writeOptions(c *fiber.Ctx, id string) core.WriteOptions {
	return core.WriteOptions{IfMatch: ifMatch(c.Get(fiber.HeaderIfMatch), id), RequestID: requestID(c)}
}

// requestIDs numbers requests that come without an X-Request-ID; the
// prefix keeps numbers of different server runs apart.
var (
	requestPrefix = strconv.FormatInt(time.Now().UnixMilli(), 36) + "-"
	requestSeq    atomic.Uint64
)

// requestID is the client's X-Request-ID when it is a sensible token, or a
// new one; it is echoed in the response and given to hooks and logs.
func requestID(c *fiber.Ctx) string {
	id := c.Get(fiber.HeaderXRequestID)
	if id == "" || len(id) > 128 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		id = requestPrefix + strconv.FormatUint(requestSeq.Add(1), 10)
	} else {
		id = strings.Clone(id)
	}
	c.Set(fiber.HeaderXRequestID, id)
	return id
}

func (s *Server) create(c *fiber.Ctx) error {
	typ := param(c, "type")
	if err := requireJSON(c); err != nil {
		return err
	}
	res, err := s.m.Create(c.UserContext(), typ, c.Body(), writeOptions(c, ""))
	if err != nil {
		return err
	}
	c.Location(strings.TrimSuffix(c.Path(), "/") + "/" + res.ID)
	return sendResource(c, fiber.StatusCreated, res)
}

func (s *Server) get(c *fiber.Ctx) error {
	if at, ok, err := asOf(c); ok || err != nil {
		if err != nil {
			return err
		}
		return s.getAsOf(c, at)
	}
	typ, id := param(c, "type"), param(c, "id")
	rev, err := queryInt(c, "revision", 0)
	if err != nil {
		return err
	}
	if rev < 0 {
		return badRequest("revision must be a positive integer")
	}
	incl, err := queryBool(c, "include_deleted")
	if err != nil {
		return err
	}
	return s.read(c, typ, id, core.GetOptions{Revision: rev, IncludeDeleted: incl, Expand: expandOption(c)})
}

// read answers a single read; core refuses one the request may not see
// exactly as a missing resource.
func (s *Server) read(c *fiber.Ctx, typ, id string, o core.GetOptions) error {
	res, err := s.m.Get(c.UserContext(), typ, id, o)
	if err != nil {
		return err
	}
	return s.sendRead(c, res)
}

// sendRead renders a read, answering 304 when If-None-Match matches.
func (s *Server) sendRead(c *fiber.Ctx, res *core.Resource) error {
	tag := etag(res.ID, res.Revision.Number)
	// The tag does not cover embedded resources: a read that expands is
	// always answered in full.
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && noneMatch(inm, tag) && c.Query("expand") == "" {
		c.Set(fiber.HeaderETag, tag)
		return c.SendStatus(fiber.StatusNotModified)
	}
	return sendResource(c, fiber.StatusOK, res)
}

func (s *Server) replace(c *fiber.Ctx) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	typ, id := param(c, "type"), param(c, "id")
	res, err := s.m.Replace(c.UserContext(), typ, id, c.Body(), writeOptions(c, id))
	if err != nil {
		return err
	}
	return sendResource(c, fiber.StatusOK, res)
}

// patchKind picks the patch format from the Content-Type.
func patchKind(c *fiber.Ctx) (core.PatchKind, error) {
	mt, err := mediaType(c)
	if err != nil {
		return 0, err
	}
	return patchKindOf(mt)
}

func patchKindOf(mt string) (core.PatchKind, error) {
	switch mt {
	case "application/merge-patch+json", fiber.MIMEApplicationJSON:
		return core.MergePatch, nil
	case "application/json-patch+json":
		return core.JSONPatch, nil
	}
	return 0, fiber.NewError(fiber.StatusUnsupportedMediaType,
		"PATCH takes application/merge-patch+json, application/json-patch+json or application/json, not "+strconv.Quote(mt))
}

func (s *Server) patch(c *fiber.Ctx) error {
	kind, err := patchKind(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(c.Body())) == 0 {
		return badRequest("the request body is empty; a patch document is required")
	}
	typ, id := param(c, "type"), param(c, "id")
	res, err := s.m.Patch(c.UserContext(), typ, id, kind, c.Body(), writeOptions(c, id))
	if err != nil {
		return err
	}
	return sendResource(c, fiber.StatusOK, res)
}

func (s *Server) delete(c *fiber.Ctx) error {
	typ, id := param(c, "type"), param(c, "id")
	purge, err := queryBool(c, "purge")
	if err != nil {
		return err
	}
	if purge {
		err = s.m.Purge(c.UserContext(), typ, id, writeOptions(c, id))
	} else {
		err = s.m.Delete(c.UserContext(), typ, id, writeOptions(c, id))
	}
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) restore(c *fiber.Ctx) error {
	typ, id := param(c, "type"), param(c, "id")
	res, err := s.m.Restore(c.UserContext(), typ, id, writeOptions(c, id))
	if err != nil {
		return err
	}
	return sendResource(c, fiber.StatusOK, res)
}

func (s *Server) switchRevision(c *fiber.Ctx) error {
	typ, id := param(c, "type"), param(c, "id")
	n, err := strconv.Atoi(c.Params("n"))
	if err != nil || n < 1 {
		return badRequest("revision number must be a positive integer")
	}
	res, err := s.m.Switch(c.UserContext(), typ, id, n, writeOptions(c, id))
	if err != nil {
		return err
	}
	return sendResource(c, fiber.StatusOK, res)
}

func (s *Server) list(c *fiber.Ctx) error {
	if at, ok, err := asOf(c); ok || err != nil {
		if err != nil {
			return err
		}
		return s.listAsOf(c, at)
	}
	typ := param(c, "type")
	o, err := s.listOptions(c)
	if err != nil {
		return err
	}
	o.Expand = expandOption(c)
	v, err := parseView(c)
	if err != nil {
		return err
	}
	wantTotal, err := queryBool(c, "total")
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
	if err := parseAggregates(c, &q); err != nil {
		return err
	}
	var page *core.Page
	var total *int
	var agg *core.SearchPage // facets and stats
	switch sort := c.Query("sort"); {
	case q.Filter == "" && q.Q == "" && !q.Highlight && !q.Aggregates() && (sort == "" || sort == "created_at" || sort == "-created_at"):
		// Creation order needs no index: storage pages it directly.
		o.Reverse = sort == "-created_at"
		if page, err = s.m.List(c.UserContext(), typ, o); err != nil {
			return err
		}
		if wantTotal {
			n, err := s.m.Count(c.UserContext(), typ, o.IncludeDeleted)
			if err != nil {
				return err
			}
			total = &n
		}
	default:
		q.Sort, q.Total = sort, wantTotal
		sp, err := s.m.Search(c.UserContext(), typ, o, q)
		if err != nil {
			return err
		}
		page, v.highlights, agg = &sp.Page, sp.Highlights, sp
		if wantTotal {
			total = &sp.Total
		}
	}
	return sendList(c, v, page, total, agg)
}

// listQuery reads filter, q and consistency.
func listQuery(c *fiber.Ctx) (core.ListQuery, error) {
	q := core.ListQuery{Filter: c.Query("filter"), Q: c.Query("q")}
	switch cons := c.Query("consistency"); cons {
	case "", "strong":
	case "eventual":
		q.Eventual = true
	default:
		return q, badRequest("consistency must be strong or eventual, not %q", cons)
	}
	return q, nil
}

// sendList renders a page of resources: items, next_cursor (null on the
// last page), total when counted, and the facets and stats of agg when
// asked for.
func sendList(c *fiber.Ctx, v view, page *core.Page, total *int, agg *core.SearchPage) error {
	size := 64
	for _, res := range page.Items {
		size += len(res.Data) + 512
	}
	body := append(make([]byte, 0, size), `{"items":[`...)
	for i, res := range page.Items {
		if i > 0 {
			body = append(body, ',')
		}
		var err error
		if body, err = v.appendResource(body, res); err != nil {
			return err
		}
	}
	body = append(body, `],"next_cursor":`...)
	if page.NextCursor == "" {
		body = append(body, "null"...)
	} else {
		body = strconv.AppendQuote(body, page.NextCursor)
	}
	if total != nil {
		body = strconv.AppendInt(append(body, `,"total":`...), int64(*total), 10)
	}
	if agg != nil {
		var err error
		if body, err = appendAggregates(body, agg.Facets, agg.Stats); err != nil {
			return err
		}
	}
	body = append(body, '}')
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

func (s *Server) listOptions(c *fiber.Ctx) (core.ListOptions, error) {
	limit, err := queryInt(c, "limit", s.opts.DefaultPageSize)
	if err != nil {
		return core.ListOptions{}, err
	}
	if limit < 1 || limit > core.MaxPageSize {
		return core.ListOptions{}, badRequest("limit must be between 1 and %d", core.MaxPageSize)
	}
	incl, err := queryBool(c, "include_deleted")
	if err != nil {
		return core.ListOptions{}, err
	}
	return core.ListOptions{Limit: limit, Cursor: c.Query("cursor"), IncludeDeleted: incl}, nil
}

func (s *Server) count(c *fiber.Ctx) error {
	if at, ok, err := asOf(c); ok || err != nil {
		if err != nil {
			return err
		}
		return s.countAsOf(c, at)
	}
	incl, err := queryBool(c, "include_deleted")
	if err != nil {
		return err
	}
	q, err := listQuery(c)
	if err != nil {
		return err
	}
	var n int
	if q.Filter == "" && q.Q == "" {
		n, err = s.m.Count(c.UserContext(), param(c, "type"), incl)
	} else {
		n, err = s.m.SearchCount(c.UserContext(), param(c, "type"), incl, q)
	}
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, fiber.Map{"count": n})
}

func (s *Server) revisions(c *fiber.Ctx) error {
	if at, ok, err := asOf(c); ok || err != nil {
		if err != nil {
			return err
		}
		return s.revisionsAsOf(c, at)
	}
	o, err := s.listOptions(c)
	if err != nil {
		return err
	}
	typ, id := param(c, "type"), param(c, "id")
	page, err := s.m.Revisions(c.UserContext(), typ, id, o)
	if err != nil {
		return err
	}
	out := fiber.Map{"items": page.Items, "next_cursor": nil}
	if page.NextCursor != "" {
		out["next_cursor"] = page.NextCursor
	}
	return sendJSON(c, fiber.StatusOK, out)
}

func (s *Server) revision(c *fiber.Ctx) error {
	n, err := strconv.Atoi(c.Params("n"))
	if err != nil || n < 1 {
		return badRequest("revision number must be a positive integer")
	}
	incl, err := queryBool(c, "include_deleted")
	if err != nil {
		return err
	}
	return s.read(c, param(c, "type"), param(c, "id"), core.GetOptions{Revision: n, IncludeDeleted: incl, Expand: expandOption(c)})
}

func (s *Server) diff(c *fiber.Ctx) error {
	from, err := queryInt(c, "from", 0)
	if err != nil {
		return err
	}
	to, err := queryInt(c, "to", 0)
	if err != nil {
		return err
	}
	if from < 0 || to < 0 {
		return badRequest("from and to must be positive revision numbers")
	}
	typ, id := param(c, "type"), param(c, "id")
	patch, err := s.m.Diff(c.UserContext(), typ, id, from, to)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/json-patch+json")
	return c.Send(patch)
}

func (s *Server) referrers(c *fiber.Ctx) error {
	typ, id := param(c, "type"), param(c, "id")
	refs, err := s.m.Referrers(c.UserContext(), typ, id)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, fiber.Map{"items": refs})
}

func (s *Server) changes(c *fiber.Ctx) error {
	var since uint64
	if v := c.Query("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return badRequest("since must be a change sequence number, not %q", v)
		}
		since = n
	}
	limit, err := queryInt(c, "limit", 100)
	if err != nil {
		return err
	}
	if limit < 1 || limit > core.MaxPageSize {
		return badRequest("limit must be between 1 and %d", core.MaxPageSize)
	}
	var types []string
	if v := c.Query("types"); v != "" {
		for t := range strings.SplitSeq(v, ",") {
			types = append(types, strings.TrimSpace(t))
		}
	}
	page, err := s.m.Changes(c.UserContext(), since, types, limit)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, page)
}
