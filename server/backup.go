package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

// backup answers GET /api/backup: the store's consistent copy, with its
// length in Content-Length.
func (s *Server) backup(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if err := core.RequireAdmin(ctx); err != nil {
		return err
	}
	bg, cancel := s.transferContext(core.WithPrincipal(context.Background(), core.PrincipalFrom(ctx)))
	pr, pw := io.Pipe()
	sized := make(chan int64, 1)
	failed := make(chan error, 1)
	go func() {
		defer cancel()
		err := s.m.Backup(bg, func(size int64, writeTo func(io.Writer) (int64, error)) error {
			sized <- size
			_, err := writeTo(pw)
			return err
		})
		if err != nil {
			failed <- err
			s.log.ErrorContext(bg, "backup failed", slog.Any("err", err))
		}
		if err != nil {
			_ = pw.CloseWithError(err)
		} else {
			_ = pw.Close()
		}
	}()
	select {
	case size := <-sized:
		c.Set(fiber.HeaderContentType, "application/octet-stream")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="strata.db"`)
		c.Set(fiber.HeaderCacheControl, "no-store")
		// fasthttp closes pr once the response is written or dropped,
		// which ends the copy.
		c.Context().SetBodyStream(&backupBody{r: pr, conn: c.Context().Conn(), timeout: s.opts.RequestTimeout}, int(size))
		return nil
	case err := <-failed:
		_ = pr.Close()
		return err
	}
}

// backupBody is a backup's body for fasthttp: each read extends the
// connection's write deadline, so a backup of any size is sent while the
// client keeps reading.
type backupBody struct {
	r       *io.PipeReader
	conn    net.Conn
	timeout time.Duration
}

func (b *backupBody) Read(p []byte) (int, error) {
	if b.conn != nil {
		_ = b.conn.SetWriteDeadline(time.Now().Add(b.timeout))
	}
	return b.r.Read(p)
}

func (b *backupBody) Close() error { return b.r.Close() }
