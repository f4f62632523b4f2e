package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

// backup answers GET /api/backup: the store's consistent copy, with its
// length in Content-Length. The copy's read transaction is opened here,
// for its size, and kept by a goroutine of its own until fasthttp has
// written the body (backupBody.WriteTo, on the connection's goroutine) or
// dropped it (Close), or TransferTimeout passes.
func (s *Server) backup(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if err := core.RequireAdmin(ctx); err != nil {
		return err
	}
	bg, cancel := s.transferContext(core.WithPrincipal(context.Background(), core.PrincipalFrom(ctx)))
	body := &backupBody{conn: c.Context().Conn(), timeout: s.opts.RequestTimeout, done: make(chan error, 1)}
	ready := make(chan error, 1)
	go func() {
		defer cancel()
		err := s.m.Backup(bg, func(size int64, writeTo func(io.Writer) (int64, error)) error {
			body.size, body.writeTo = size, writeTo
			ready <- nil
			select {
			case err := <-body.done:
				return err
			case <-bg.Done():
				return bg.Err()
			}
		})
		if err != nil {
			s.log.ErrorContext(bg, "backup failed", slog.Any("err", err))
		}
		select {
		case ready <- err: // it failed before the copy was ready
		default:
		}
	}()
	if err := <-ready; err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="strata.db"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Context().SetBodyStream(body, int(body.size))
	return nil
}

// errBackupDropped ends a backup whose body fasthttp dropped unwritten.
var errBackupDropped = errors.New("server: the backup's response was dropped before it was written")

// backupBody is a backup's body for fasthttp, which writes it through
// WriteTo (io.CopyBuffer prefers it): the store's copy is written straight
// to the connection's writer, in large reads of the file, with no pipe
// between. Each write must reach the client within timeout.
type backupBody struct {
	size    int64
	writeTo func(io.Writer) (int64, error)
	conn    net.Conn
	timeout time.Duration
	done    chan error // the outcome, for the goroutine holding the copy
	once    sync.Once
}

func (b *backupBody) finish(err error) { b.once.Do(func() { b.done <- err }) }

// WriteTo writes the copy to w.
func (b *backupBody) WriteTo(w io.Writer) (int64, error) {
	n, err := b.writeTo(&deadlineReaderFrom{w: w, conn: b.conn, timeout: b.timeout})
	if err == nil && n != b.size {
		err = fmt.Errorf("server: backup: wrote %d bytes of %d", n, b.size)
	}
	b.finish(err)
	return n, err
}

// Read is never used: fasthttp copies a body through its WriteTo.
func (b *backupBody) Read([]byte) (int, error) {
	b.finish(errBackupDropped)
	return 0, errBackupDropped
}

// Close ends the copy if WriteTo never ran.
func (b *backupBody) Close() error {
	b.finish(errBackupDropped)
	return nil
}

// deadlineReaderFrom extends the connection's write deadline before each
// write, and before each chunk of what it reads from a reader, so a
// backup of any size is sent while the client keeps reading.
type deadlineReaderFrom struct {
	w       io.Writer
	conn    net.Conn
	timeout time.Duration
}

// backupChunk is how much of a backup one write deadline covers.
const backupChunk = 8 << 20

func (d *deadlineReaderFrom) extend() {
	if d.conn != nil {
		_ = d.conn.SetWriteDeadline(time.Now().Add(d.timeout))
	}
}

func (d *deadlineReaderFrom) Write(p []byte) (int, error) {
	d.extend()
	return d.w.Write(p)
}

func (d *deadlineReaderFrom) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	buf := make([]byte, 256<<10)
	for {
		d.extend()
		n, err := io.CopyBuffer(onlyWriter{d.w}, io.LimitReader(r, backupChunk), buf)
		total += n
		if err != nil || n < backupChunk {
			return total, err
		}
	}
}

// onlyWriter hides the ReadFrom of a writer, so io.CopyBuffer uses its
// buffer.
type onlyWriter struct{ io.Writer }
