package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

// Problem is an RFC 9457 problem document, the body of every error.
type Problem struct {
	Type   string            `json:"type"`
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail,omitempty"`
	Errors []core.FieldError `json:"errors,omitempty"`
	// Index names the failed operation of a batch.
	Index *int `json:"index,omitempty"`
}

var errPanic = errors.New("server: handler panicked")

// problemKind is a problem code with its status and title.
type problemKind struct {
	status int
	code   string
	title  string
}

var (
	kindBadRequest   = problemKind{fiber.StatusBadRequest, "bad_request", "Bad request"}
	kindUnauthorized = problemKind{fiber.StatusUnauthorized, "unauthorized", "Unauthorized"}
	kindForbidden    = problemKind{fiber.StatusForbidden, "forbidden", "Forbidden"}
	kindNotFound     = problemKind{fiber.StatusNotFound, "not_found", "Not found"}
	kindGone         = problemKind{fiber.StatusGone, "gone", "Gone"}
	kindConflict     = problemKind{fiber.StatusConflict, "conflict", "Conflict"}
	kindPrecondition = problemKind{fiber.StatusPreconditionFailed, "precondition_failed", "Precondition failed"}
	kindTooLarge     = problemKind{fiber.StatusRequestEntityTooLarge, "too_large", "Request too large"}
	kindMediaType    = problemKind{fiber.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported media type"}
	kindValidation   = problemKind{fiber.StatusUnprocessableEntity, "validation", "Validation failed"}
	kindRateLimited  = problemKind{fiber.StatusTooManyRequests, "rate_limited", "Too many requests"}
	kindInternal     = problemKind{fiber.StatusInternalServerError, "internal", "Internal error"}
	kindHookFailed   = problemKind{fiber.StatusInternalServerError, "hook_failed", "Hook failed"}
	kindUnavailable  = problemKind{fiber.StatusServiceUnavailable, "internal", "Service unavailable"}
	// kindTimeout is a request that ran past RequestTimeout: the server
	// gave up, which a client may retry, unlike an internal error.
	kindTimeout = problemKind{fiber.StatusServiceUnavailable, "timeout", "Request timed out"}
	// kindNotBuilt is a path SPEC reserves for a surface not built yet.
	kindNotBuilt = problemKind{fiber.StatusNotImplemented, "not_implemented", "Not implemented"}
	kindNoSpace  = problemKind{fiber.StatusInsufficientStorage, "insufficient_storage", "Insufficient storage"}
	kindRange    = problemKind{fiber.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable", "Range not satisfiable"}
)

// noSpaceDetail is the detail of a 507: the error itself names files.
const noSpaceDetail = "the server's disk is full; nothing was written. Retry once space has been freed on the server"

// toProblem maps an error to the problem a client sees. It is the one
// place where errors become statuses. Internal errors get a generic detail:
// their text may name files or internals.
func toProblem(err error) (Problem, bool) {
	var p Problem
	internal := false
	var kind problemKind
	var ce *core.Error
	var fe *fiber.Error
	switch {
	case errors.Is(err, core.ErrInvalid):
		kind = kindBadRequest
	case errors.Is(err, core.ErrNotFound):
		kind = kindNotFound
	case errors.Is(err, core.ErrUnauthenticated):
		kind = kindUnauthorized
	case errors.Is(err, core.ErrForbidden):
		kind = kindForbidden
	case errors.Is(err, core.ErrGone):
		kind = kindGone
	case errors.Is(err, core.ErrConflict):
		kind = kindConflict
	case errors.Is(err, core.ErrPreconditionFailed):
		kind = kindPrecondition
	case errors.Is(err, core.ErrValidation):
		kind = kindValidation
	case errors.Is(err, core.ErrTooLarge):
		kind = kindTooLarge
	case errors.Is(err, core.ErrHookFailed):
		kind = kindHookFailed
	case errors.Is(err, core.ErrUnavailable):
		kind = kindUnavailable
	case errors.Is(err, core.ErrNoSpace):
		kind = kindNoSpace
	case errors.Is(err, core.ErrClosed):
		kind = kindUnavailable
	case errors.Is(err, core.ErrUnsupported):
		kind = kindNotBuilt
		p.Detail = "the server's storage backend cannot do this"
	case errors.Is(err, context.DeadlineExceeded):
		kind = kindTimeout
		p.Detail = "the request took longer than the server's request_timeout" // handleError adds the value
	case errors.As(err, &fe):
		kind = fiberKind(fe.Code)
		p.Detail = fe.Message
		internal = kind == kindInternal
	default:
		kind = kindInternal
		internal = true
	}
	if errors.As(err, &ce) {
		p.Detail = ce.Detail
		p.Errors = ce.Fields
	}
	var be *core.BatchError
	if errors.As(err, &be) {
		p.Index = &be.Index
	}
	if kind == kindUnauthorized && errors.Is(err, core.ErrUnauthenticated) {
		p.Detail = errNoCredentials.Message // how to give credentials is HTTP's to say
	}
	if internal {
		p.Detail = "the server failed to handle the request; the failure is logged"
		p.Errors = nil
	}
	if kind == kindNoSpace {
		p.Detail = noSpaceDetail
		p.Errors = nil
	}
	p.Type = "urn:strata:problem:" + kind.code
	p.Title = kind.title
	p.Status = kind.status
	return p, internal
}

func fiberKind(code int) problemKind {
	switch code {
	// 408 is a client too slow to send its request (HeaderTimeout): the
	// client's failure, not the server's.
	case fiber.StatusBadRequest, fiber.StatusMethodNotAllowed, fiber.StatusRequestHeaderFieldsTooLarge, fiber.StatusRequestTimeout:
		k := kindBadRequest
		k.status = code
		return k
	case fiber.StatusUnauthorized:
		return kindUnauthorized
	case fiber.StatusForbidden:
		return kindForbidden
	case fiber.StatusNotFound:
		return kindNotFound
	case fiber.StatusRequestEntityTooLarge:
		return kindTooLarge
	case fiber.StatusUnsupportedMediaType:
		return kindMediaType
	case fiber.StatusTooManyRequests:
		return kindRateLimited
	case fiber.StatusServiceUnavailable:
		return kindUnavailable
	case fiber.StatusNotImplemented:
		return kindNotBuilt
	case fiber.StatusRequestedRangeNotSatisfiable:
		return kindRange
	}
	return kindInternal
}

// handleError renders err as problem+json. It is the app's ErrorHandler and
// is called by every wrapped route.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	p, internal := toProblem(err)
	if p.Type == "urn:strata:problem:"+kindTimeout.code {
		p.Detail = fmt.Sprintf("the request took longer than request_timeout (%s)", s.opts.RequestTimeout)
	}
	if errors.Is(err, fiber.ErrRequestEntityTooLarge) {
		// The body was refused as it was read: say which limit it broke.
		if isModuleUpload([]byte(c.Method()), []byte(c.Path())) {
			p.Detail = fmt.Sprintf("the hook module is larger than hook_module_limit (%d bytes)", s.opts.HookModuleLimit)
		} else {
			p.Detail = fmt.Sprintf("the request body is larger than body_limit (%d bytes)", s.opts.BodyLimit)
		}
	}
	if p.Status == fiber.StatusInternalServerError && !internal {
		s.log.WarnContext(c.UserContext(), "hook failed",
			slog.String("method", c.Method()), slog.String("path", c.Path()),
			slog.String("request_id", string(c.Response().Header.Peek(fiber.HeaderXRequestID))), slog.Any("err", err))
	}
	if p.Status == fiber.StatusInsufficientStorage {
		// The operator must free space: say so, with the cause.
		s.log.ErrorContext(c.UserContext(), "request failed: disk full",
			slog.String("method", c.Method()), slog.String("path", c.Path()), slog.Any("err", err))
	}
	if internal {
		s.log.ErrorContext(c.UserContext(), "request failed",
			slog.String("method", c.Method()), slog.String("path", c.Path()), slog.Any("err", err))
	}
	body, mErr := marshalJSON(p)
	if mErr != nil {
		return c.SendStatus(fiber.StatusInternalServerError)
	}
	if p.Status == fiber.StatusUnauthorized {
		setAuthenticate(c, err)
	}
	c.Status(p.Status)
	setSecurityHeaders(c) // also for errors no route saw (431, 408)
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Send(body)
}

// badRequest is a 400 with a detail for the client.
func badRequest(format string, args ...any) error {
	return &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf(format, args...)}
}
