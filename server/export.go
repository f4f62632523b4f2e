package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

// Export, import and online backup (SPEC §9). They move whole stores, so
// their requests get TransferTimeout in place of RequestTimeout, and the
// responses of export and backup are streamed: the handler checks what it
// can (the principal, the type), answers the headers, and the body is
// written after it returns, under a context of its own carrying the
// principal. An export or a backup that fails once its body has begun is
// cut off by closing the connection, so a client never takes a truncated
// body for a complete one (a backup's length is also in Content-Length).

// DefaultTransferTimeout is Options.TransferTimeout when zero.
const DefaultTransferTimeout = time.Hour

// DefaultImportLimit is Options.ImportLimit when zero.
const DefaultImportLimit = 1 << 30

// ndjson is the media type of exports and imports.
const ndjson = "application/x-ndjson"

// isTransfer reports whether a request is an export, an import or a
// backup, whose requests get TransferTimeout, and whether it is an
// import, whose body may be up to ImportLimit.
func isTransfer(method, path []byte) (transfer, upload bool) {
	if !bytes.HasPrefix(path, []byte("/api/")) {
		return false, false
	}
	rest := path[len("/api/"):]
	switch {
	case string(method) == fiber.MethodGet && (string(rest) == "export" || string(rest) == "backup"):
		return true, false
	case string(method) == fiber.MethodPost && string(rest) == "import":
		return true, true
	}
	typ, tail, ok := bytes.Cut(rest, []byte("/"))
	if !ok || len(typ) == 0 {
		return false, false
	}
	switch {
	case string(method) == fiber.MethodGet && string(tail) == "export":
		return true, false
	case string(method) == fiber.MethodPost && string(tail) == "import":
		return true, true
	}
	return false, false
}

// exportAll answers GET /api/export.
func (s *Server) exportAll(c *fiber.Ctx) error { return s.export(c, "") }

// exportType answers GET /api/{type}/export.
func (s *Server) exportType(c *fiber.Ctx) error { return s.export(c, param(c, "type")) }

func (s *Server) export(c *fiber.Ctx, typ string) error {
	ctx := c.UserContext()
	if err := core.RequireAdmin(ctx); err != nil {
		return err
	}
	if typ != "" {
		if _, err := s.m.TypeFor(ctx, typ); err != nil {
			return err
		}
	}
	bg := core.WithPrincipal(context.Background(), core.PrincipalFrom(ctx))
	conn := c.Context().Conn()
	c.Set(fiber.HeaderContentType, ndjson)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := s.transferContext(bg)
		defer cancel()
		dw := &deadlineWriter{conn: conn, w: w, timeout: s.opts.RequestTimeout}
		if _, err := s.m.Export(ctx, dw, core.ExportOptions{Type: typ}); err != nil {
			s.log.ErrorContext(ctx, "export failed", slog.String("type", typ), slog.Any("err", err))
			_ = conn.Close()
			return
		}
		_ = w.Flush()
	})
	return nil
}

// transferContext is the context of a streamed body: it ends with
// TransferTimeout.
func (s *Server) transferContext(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.opts.TransferTimeout)
}

// deadlineWriter writes a streamed body, giving each write timeout to
// reach the client, and flushing as it goes.
type deadlineWriter struct {
	conn    net.Conn
	w       *bufio.Writer
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if d.conn != nil {
		_ = d.conn.SetWriteDeadline(time.Now().Add(d.timeout))
	}
	n, err := d.w.Write(p)
	if err == nil {
		err = d.w.Flush()
	}
	return n, err
}

// importAll answers POST /api/import.
func (s *Server) importAll(c *fiber.Ctx) error { return s.importNDJSON(c, "") }

// importType answers POST /api/{type}/import.
func (s *Server) importType(c *fiber.Ctx) error { return s.importNDJSON(c, param(c, "type")) }

func (s *Server) importNDJSON(c *fiber.Ctx, typ string) error {
	ctx := c.UserContext()
	if err := core.RequireAdmin(ctx); err != nil {
		return err // before the body is looked at
	}
	mt, err := mediaType(c)
	if err != nil {
		return err
	}
	if mt != ndjson && mt != "application/jsonl" && mt != "application/json" {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "an import is sent as "+ndjson)
	}
	o := core.ImportOptions{Type: typ, OnConflict: c.Query("on_conflict")}
	body, cleanup, err := s.importBody(c)
	if err != nil {
		return err
	}
	defer cleanup()
	res, err := s.m.Import(ctx, body, o)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, res)
}

// importBody is the request body as something Import can read twice: the
// body fasthttp read, or, when it streams the request body, the stream
// spooled to a temporary file of at most ImportLimit bytes.
func (s *Server) importBody(c *fiber.Ctx) (io.ReadSeeker, func(), error) {
	stream := c.Context().RequestBodyStream()
	if stream == nil {
		return bytes.NewReader(c.Body()), func() {}, nil
	}
	f, err := os.CreateTemp("", "strata-import-*.ndjson")
	if err != nil {
		return nil, nil, fmt.Errorf("server: spool import: %w", err)
	}
	cleanup := func() { _ = f.Close(); _ = os.Remove(f.Name()) }
	n, err := io.Copy(f, io.LimitReader(stream, int64(s.opts.ImportLimit)+1))
	if err == nil && n > int64(s.opts.ImportLimit) {
		err = &core.Error{Kind: core.ErrTooLarge, Detail: "the import is over the server's import_limit of " + strconv.Itoa(s.opts.ImportLimit) + " bytes"}
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return f, cleanup, nil
}
