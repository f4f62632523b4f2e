package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// DefaultBlobTimeout bounds the upload or download of one blob when
// Options.BlobTimeout is zero: 100 MiB at 1 Mbit/s takes 14 minutes.
const DefaultBlobTimeout = 15 * time.Minute

// blobRoute is the path of blob uploads.
const blobRoute = "/api/blobs"

// uploadBlob streams the request body into blob storage (POST /api/blobs).
// The body is never held in memory: under NewApp the server streams
// request bodies (fiber's StreamRequestBody), and this route reads the
// stream as it arrives.
func (s *Server) uploadBlob(c *fiber.Ctx) error {
	limit := s.m.BlobLimit()
	if cl := c.Request().Header.ContentLength(); cl > 0 && int64(cl) > limit {
		return tooLargeBlob(limit)
	}
	var body io.Reader
	if c.Request().IsBodyStream() {
		body = readErrors{c.Context().RequestBodyStream()}
	} else {
		body = bytes.NewReader(c.Body()) // a mounting app that does not stream bodies
	}
	ct := strings.Clone(c.Get(fiber.HeaderContentType))
	b, err := s.m.PutBlob(c.UserContext(), body, ct)
	if err != nil {
		var re readError
		if errors.As(err, &re) {
			return bodyReadError(c, re.err)
		}
		return err // ErrTooLarge names the limit
	}
	c.Location("/api/blobs/" + b.Hash)
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"hash": b.Hash, "size": b.Size, "content_type": b.ContentType})
}

// readErrors marks the errors of reading the request body, so that they
// are told apart from those of storing it.
type readErrors struct{ r io.Reader }

type readError struct{ err error }

func (e readError) Error() string { return "read request body: " + e.err.Error() }
func (e readError) Unwrap() error { return e.err }

func (r readErrors) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = readError{err}
	}
	return n, err
}

func tooLargeBlob(limit int64) error {
	return fiber.NewError(fiber.StatusRequestEntityTooLarge,
		fmt.Sprintf("the blob is larger than the limit of %d bytes (blob_limit)", limit))
}

// getBlob serves a blob (GET and HEAD /api/blobs/{hash}) with its ETag,
// answering If-None-Match with 304 and a single Range with 206.
func (s *Server) getBlob(c *fiber.Ctx) error {
	b, rd, err := s.m.OpenBlob(c.UserContext(), param(c, "hash"))
	if err != nil {
		return err
	}
	etag := `"` + b.Hash + `"`
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	// Who may read a blob depends on the principal: shared caches keep out.
	c.Set(fiber.HeaderCacheControl, "private, max-age=31536000, immutable")
	// The bytes are whatever a client uploaded: a browser must not run
	// them as a page of this origin.
	c.Set(fiber.HeaderContentSecurityPolicy, "sandbox; default-src 'none'")
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && etagMatches(inm, etag) {
		_ = rd.Close()
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, b.ContentType)
	off, n, partial, err := parseRange(c.Get(fiber.HeaderRange), b.Size, c.Get(fiber.HeaderIfRange), etag)
	if err != nil {
		_ = rd.Close()
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes */%d", b.Size))
		return err
	}
	if partial {
		c.Status(fiber.StatusPartialContent)
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, b.Size))
	}
	if off > 0 {
		if _, err := rd.Seek(off, io.SeekStart); err != nil {
			_ = rd.Close()
			return err
		}
	}
	c.Context().SetBodyStream(&blobBody{rd: rd, lr: io.LimitedReader{R: rd, N: n}}, int(n))
	return nil
}

// blobBody is the response body of a blob download: n bytes of the blob
// from where it was sought to. fasthttp closes it once sent. WriteTo lets
// the connection send a file with sendfile.
type blobBody struct {
	rd io.Closer
	lr io.LimitedReader
}

func (b *blobBody) Read(p []byte) (int, error)         { return b.lr.Read(p) }
func (b *blobBody) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, &b.lr) }
func (b *blobBody) Close() error                       { return b.rd.Close() }

// parseRange reads a Range header of one byte range (RFC 9110 §14.2):
// what to send of a blob of size bytes. A header that is absent, not of
// bytes, of several ranges, or whose If-Range does not name etag gets the
// whole blob; a range that starts past the end is 416.
func parseRange(h string, size int64, ifRange, etag string) (off, n int64, partial bool, err error) {
	whole := func() (int64, int64, bool, error) { return 0, size, false, nil }
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if h == "" || !ok || strings.Contains(spec, ",") || (ifRange != "" && ifRange != etag) {
		return whole()
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return whole()
	}
	unsatisfiable := fiber.NewError(fiber.StatusRequestedRangeNotSatisfiable,
		fmt.Sprintf("range %s is outside the blob's %d bytes", spec, size))
	if first == "" { // the last n bytes
		k, err := strconv.ParseInt(last, 10, 64)
		if err != nil || k < 0 {
			return whole()
		}
		if k == 0 || size == 0 {
			return 0, 0, false, unsatisfiable
		}
		k = min(k, size)
		return size - k, k, true, nil
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return whole()
	}
	end := size - 1
	if last != "" {
		if end, err = strconv.ParseInt(last, 10, 64); err != nil || end < start {
			return whole()
		}
		end = min(end, size-1)
	}
	if start >= size {
		return 0, 0, false, unsatisfiable
	}
	return start, end - start + 1, true, nil
}
