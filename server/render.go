package server

import (
	"bytes"
	"encoding/json"
	"mime"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/tidwall/gjson"

	"github.com/strata-dev/strata/core"
)

// marshalJSON encodes v without HTML escaping: API bodies are not HTML.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func sendJSON(c *fiber.Ctx, status int, v any) error {
	body, err := marshalJSON(v)
	if err != nil {
		return err
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

// etag is the strong entity tag of a resource at a revision.
func etag(id string, rev int) string { return `"` + id + ":" + strconv.Itoa(rev) + `"` }

// ifMatch turns an If-Match header into core.WriteOptions.IfMatch: the
// revision it names, -1 when it names another resource or is malformed (so
// the write fails with 412), 0 when absent or "*".
func ifMatch(header, id string) int {
	header = strings.TrimSpace(header)
	if header == "" || header == "*" {
		return 0
	}
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimSpace(tag)
		if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' {
			continue
		}
		tagID, rev, ok := strings.Cut(tag[1:len(tag)-1], ":")
		if !ok || (id != "" && tagID != id) {
			continue
		}
		if n, err := strconv.Atoi(rev); err == nil && n > 0 {
			return n
		}
	}
	return -1
}

// noneMatch reports whether an If-None-Match header matches tag.
func noneMatch(header, tag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

// view is how a request asks resources to be rendered.
type view struct {
	fields   []string
	dataOnly bool
	// highlights, when not nil, adds to each item an "_highlights" object
	// (field → fragments; empty when nothing matched): a list with
	// highlight=true.
	highlights map[string]map[string][]string
}

func parseView(c *fiber.Ctx) (view, error) {
	var v view
	switch r := c.Query("returns"); r {
	case "", "envelope":
	case "data":
		v.dataOnly = true
	default:
		return v, badRequest("returns must be data or envelope, not %q", r)
	}
	if f := c.Query("fields"); f != "" {
		for p := range strings.SplitSeq(f, ",") {
			p = strings.TrimSpace(p)
			if p == "" || strings.ContainsAny(p, "*?#@|\\") {
				return v, badRequest("fields: %q is not a field path", p)
			}
			v.fields = append(v.fields, p)
		}
	}
	return v, nil
}

// appendResource appends one resource shaped as the view asks. The plain
// envelope and bare data are spliced from stored bytes without decoding.
func (v view) appendResource(dst []byte, res *core.Resource) ([]byte, error) {
	start := len(dst)
	data := res.Data
	if len(v.fields) > 0 {
		data = project(res.Data, v.fields)
	}
	switch {
	case v.dataOnly:
		dst = append(dst, data...)
	case len(v.fields) > 0:
		shaped := *res
		shaped.Data = data
		dst = shaped.AppendJSON(dst)
	default:
		dst = res.AppendJSON(dst)
	}
	if v.highlights == nil {
		return dst, nil
	}
	return appendHighlights(dst, start, v.highlights[res.ID])
}

// appendHighlights adds "_highlights": h (an empty object for nil) to the
// JSON object rendered in dst[start:]. Data that is not an object (only
// possible with returns=data) is left as it is.
func appendHighlights(dst []byte, start int, h map[string][]string) ([]byte, error) {
	item := bytes.TrimRight(dst[start:], " \t\r\n")
	if len(item) < 2 || item[0] != '{' || item[len(item)-1] != '}' {
		return dst, nil
	}
	if h == nil {
		h = map[string][]string{}
	}
	frag, err := marshalJSON(h) // fragments hold <mark>: no HTML escaping
	if err != nil {
		return nil, err
	}
	dst = dst[:start+len(item)-1]
	if len(bytes.TrimSpace(item[1:len(item)-1])) > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, `"_highlights":`...)
	dst = append(dst, frag...)
	return append(dst, '}'), nil
}

// project keeps only the given dotted paths of a JSON object.
func project(data json.RawMessage, paths []string) json.RawMessage {
	out := map[string]any{}
	for _, p := range paths {
		r := gjson.GetBytes(data, escapePath(p))
		if !r.Exists() {
			continue
		}
		parts := strings.Split(p, ".")
		node := out
		for _, part := range parts[:len(parts)-1] {
			next, ok := node[part].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[part] = next
			}
			node = next
		}
		node[parts[len(parts)-1]] = json.RawMessage(r.Raw)
	}
	b, err := marshalJSON(out)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

// escapePath keeps gjson's query syntax out of a plain dotted path.
func escapePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r != '.' && strings.ContainsRune(`*?#@|\!=<>%`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sendResource renders a single resource with its ETag.
func sendResource(c *fiber.Ctx, status int, res *core.Resource) error {
	v, err := parseView(c)
	if err != nil {
		return err
	}
	body, err := v.appendResource(make([]byte, 0, len(res.Data)+512), res)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(res.ID, res.Revision.Number))
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

// requireJSON checks that a request carries a JSON body.
func requireJSON(c *fiber.Ctx) error {
	mt, err := mediaType(c)
	if err != nil {
		return err
	}
	if mt != fiber.MIMEApplicationJSON {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "Content-Type must be application/json, not "+strconv.Quote(mt))
	}
	if len(bytes.TrimSpace(c.Body())) == 0 {
		return badRequest("the request body is empty; a JSON object is required")
	}
	return nil
}

func mediaType(c *fiber.Ctx) (string, error) {
	header := c.Get(fiber.HeaderContentType)
	if header == "" {
		return "", fiber.NewError(fiber.StatusUnsupportedMediaType, "Content-Type is missing; send application/json")
	}
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return "", fiber.NewError(fiber.StatusUnsupportedMediaType, "Content-Type is malformed")
	}
	return mt, nil
}

// queryInt reads an integer query parameter; absent is def.
func queryInt(c *fiber.Ctx, name string, def int) (int, error) {
	s := c.Query(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, badRequest("%s must be an integer, not %q", name, s)
	}
	return n, nil
}

func queryBool(c *fiber.Ctx, name string) (bool, error) {
	switch s := c.Query(name); s {
	case "":
		return false, nil
	default:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, badRequest("%s must be true or false, not %q", name, s)
		}
		return b, nil
	}
}
