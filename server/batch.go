package server

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

// batchRequest is the body of POST /api/batch.
type batchRequest struct {
	Requests []batchItem `json:"requests"`
}

type batchItem struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Body    json.RawMessage   `json:"body"`
	Headers map[string]string `json:"headers"`
}

type batchResponse struct {
	Status int            `json:"status"`
	Body   *core.Resource `json:"body"`
}

func (s *Server) batch(c *fiber.Ctx) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	var req batchRequest
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return badRequest("batch body must be {\"requests\": [{\"method\", \"url\", \"body\", \"headers\"}, …]}")
	}
	if len(req.Requests) == 0 {
		return badRequest("batch holds no requests")
	}
	if len(req.Requests) > core.MaxBatch {
		return badRequest("batch holds %d requests; the limit is %d", len(req.Requests), core.MaxBatch)
	}
	ops := make([]core.Op, len(req.Requests))
	for i, item := range req.Requests {
		op, err := batchOp(item)
		if err != nil {
			return &core.BatchError{Index: i, Err: err}
		}
		ops[i] = op
	}
	results, err := s.m.Batch(c.UserContext(), ops, writeOptions(c, ""))
	if err != nil {
		return err
	}
	out := make([]batchResponse, len(results))
	for i, res := range results {
		out[i] = batchResponse{Status: batchStatus(ops[i].Kind), Body: res}
	}
	return sendJSON(c, fiber.StatusOK, fiber.Map{"responses": out})
}

func batchStatus(k core.OpKind) int {
	switch k {
	case core.OpCreate:
		return fiber.StatusCreated
	case core.OpDelete, core.OpPurge:
		return fiber.StatusNoContent
	}
	return fiber.StatusOK
}

// batchOp turns one request of a batch into a core operation, accepting
// the same routes and headers as the single-request API.
func batchOp(item batchItem) (core.Op, error) {
	u, err := url.Parse(item.URL)
	if err != nil || !strings.HasPrefix(u.Path, "/api/") {
		return core.Op{}, badRequest("url %q is not an /api/ path", item.URL)
	}
	seg := strings.Split(strings.TrimPrefix(u.Path, "/api/"), "/")
	header := func(name string) string {
		for k, v := range item.Headers {
			if http.CanonicalHeaderKey(k) == name {
				return v
			}
		}
		return ""
	}
	method := strings.ToUpper(item.Method)
	op := core.Op{Type: seg[0], Body: item.Body}
	if len(seg) > 1 {
		op.ID = seg[1]
		op.IfMatch = ifMatch(header("If-Match"), op.ID)
	}
	switch {
	case method == fiber.MethodPost && len(seg) == 1:
		op.Kind = core.OpCreate
	case method == fiber.MethodPut && len(seg) == 2:
		op.Kind = core.OpReplace
	case method == fiber.MethodPatch && len(seg) == 2:
		op.Kind = core.OpPatch
		if ct := header("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil {
				return op, fiber.NewError(fiber.StatusUnsupportedMediaType, "Content-Type is malformed")
			}
			if op.PatchKind, err = patchKindOf(mt); err != nil {
				return op, err
			}
		}
	case method == fiber.MethodDelete && len(seg) == 2:
		op.Kind = core.OpDelete
		if u.Query().Get("purge") == "true" {
			op.Kind = core.OpPurge
		}
	case method == fiber.MethodPost && len(seg) == 3 && seg[2] == "restore":
		op.Kind = core.OpRestore
	case method == fiber.MethodPost && len(seg) == 4 && seg[2] == "switch":
		n, err := strconv.Atoi(seg[3])
		if err != nil || n < 1 {
			return op, badRequest("revision number must be a positive integer")
		}
		op.Kind, op.Revision = core.OpSwitch, n
	default:
		return op, badRequest("%s %s is not a write a batch can hold", method, u.Path)
	}
	if (op.Kind == core.OpCreate || op.Kind == core.OpReplace || op.Kind == core.OpPatch) && len(bytes.TrimSpace(op.Body)) == 0 {
		return op, badRequest("%s %s needs a body", method, u.Path)
	}
	return op, nil
}
