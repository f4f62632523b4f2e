package server

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Bounds of the chunked framing a client may send.
const (
	// maxChunkSizeLine bounds a chunk-size line, extensions included.
	maxChunkSizeLine = 4 << 10
	// maxChunkSizeDigits is as many hex digits as fasthttp reads in a
	// chunk size (leading zeros included).
	maxChunkSizeDigits = 15
	// maxTrailerLines bounds the trailer fields after the last chunk.
	maxTrailerLines = 64
)

// Listener wraps ln so that each connection it accepts refuses a request
// whose chunked body is malformed: a chunk-size line that is not hex
// digits followed by chunk extensions (";…") or CRLF, a chunk not ended
// by CRLF, a trailer line without a colon. fasthttp reads chunk sizes
// leniently: "0x1" is read as a last chunk of size 0 with an extension
// "x1", after which it waits for a trailer that never ends, so the client
// got no answer until the body read timeout, and a proxy in front could
// frame the same bytes otherwise (request smuggling). Such a request is
// answered 400 problem+json at once and its connection closed.
//
// The connections observe the bytes fasthttp reads without changing
// them; serve the app of NewApp on the returned listener.
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &framingListener{Listener: ln, headerLimit: s.opts.HeaderLimit}
}

type framingListener struct {
	net.Listener
	headerLimit int
}

func (l *framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c, f: framer{headerLimit: l.headerLimit}}, nil
}

// framingError is a framing violation, the error Read returns once it is
// found. It claims to be a timeout because fasthttp takes any other error
// met before the first byte of a trailer for the end of the request, and
// would serve it; a timeout it reports as an error.
type framingError struct{ detail string }

func (e *framingError) Error() string { return e.detail }
func (e *framingError) Timeout() bool { return true }

// framingConn is a connection whose reads go through a framer. On a
// violation it hands fasthttp the bytes before it, then fails the next
// read; fasthttp then writes its error response, after any pipelined
// responses it still buffers, which the server's ErrorHandler makes our
// 400 (see answerFraming).
type framingConn struct {
	net.Conn
	f         framer
	violation atomic.Pointer[framingError]
	answered  atomic.Bool
}

func (c *framingConn) Read(p []byte) (int, error) {
	if v := c.violation.Load(); v != nil {
		return 0, v
	}
	n, err := c.Conn.Read(p)
	if c.f.state == stOff || n == 0 {
		return n, err
	}
	k, v := c.f.feed(p[:n])
	if v == nil {
		return n, err
	}
	c.violation.Store(v)
	if k > 0 {
		return k, nil // the violation comes with the next read
	}
	return 0, v
}

// Close answers a violation fasthttp did not answer (it can take a read
// error for the end of a request it already has), after all it wrote.
// ReadFrom hands writes from r to the connection's own ReadFrom, so that a
// file sent as a response body (a blob) goes out by sendfile: only reads
// are framed.
func (c *framingConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// writerOnly hides every method of a writer but Write, so io.Copy does
// not call back into ReadFrom.
type writerOnly struct{ io.Writer }

func (c *framingConn) Close() error {
	if v := c.violation.Load(); v != nil && !c.answered.Swap(true) {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Conn.Write(rawFramingProblem(v.detail))
	}
	return c.Conn.Close()
}

// answerFraming makes srv's error response for a connection with a
// framing violation that violation's 400; other errors go to the error
// handler fiber installed.
func answerFraming(srv *fasthttp.Server) {
	next := srv.ErrorHandler
	srv.ErrorHandler = func(ctx *fasthttp.RequestCtx, err error) {
		fc, ok := ctx.Conn().(*framingConn)
		var v *framingError
		if ok {
			v = fc.violation.Load()
		}
		if v == nil || fc.answered.Swap(true) {
			if next != nil {
				next(ctx, err)
			}
			return
		}
		ctx.Response.Reset()
		ctx.Response.Header.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		ctx.SetConnectionClose()
		ctx.SetStatusCode(fiber.StatusBadRequest)
		ctx.SetContentType("application/problem+json")
		ctx.SetBody(framingProblem(v.detail))
	}
}

func framingProblem(detail string) []byte {
	p, _ := toProblem(badRequest("%s", detail))
	body, _ := marshalJSON(p) // a Problem always encodes
	return body
}

// rawFramingProblem is the whole 400 response for detail, for writing
// straight to a connection.
func rawFramingProblem(detail string) []byte {
	body := framingProblem(detail)
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Type: application/problem+json\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}

// framerState is where a framer is in the request stream.
type framerState uint8

const (
	stHead         framerState = iota // request line and header fields
	stBody                            // Content-Length body bytes
	stSize                            // chunk-size digits
	stSizeWS                          // whitespace after the digits
	stExt                             // chunk extensions
	stSizeLF                          // LF ending a chunk-size line
	stData                            // chunk data
	stDataCR                          // CR after chunk data
	stDataLF                          // LF after chunk data
	stTrailer                         // start of a trailer line
	stTrailerName                     // trailer field name
	stTrailerValue                    // trailer field value
	stTrailerLF                       // LF ending a trailer line
	stTrailerEndLF                    // LF ending the trailer section
	stOff                             // not checking this connection
)

// lineBufSize is as much of a request line or header line as a framer
// keeps: enough for a method and the header fields it reads.
const lineBufSize = 256

// framer is an incremental HTTP/1.1 request-framing state machine. It
// reads request heads only to learn how their bodies are framed, leaving
// their validation to fasthttp; it checks chunked bodies strictly (RFC
// 9112 §7.1). Anything it does not follow (Upgrade, CONNECT, a framing
// fasthttp refuses by itself) turns it off for the connection.
type framer struct {
	headerLimit int
	state       framerState

	// The head being read.
	headBytes  int // bytes of the head so far
	sawRequest bool
	line       [lineBufSize]byte
	lineLen    int // bytes of the current line, possibly > lineBufSize
	length     int64
	hasLength  bool
	chunked    bool // Transfer-Encoding names chunked last
	te         bool // a Transfer-Encoding fasthttp takes for chunked

	remaining int64 // of a Content-Length body or a chunk
	digits    int   // of a chunk size
	lineBytes int   // of a chunk-size or trailer line
	trailers  int   // trailer lines so far
}

// feed observes p, the next bytes of the stream. On a violation it
// returns its offset in p and what is wrong; else len(p) and nil.
func (f *framer) feed(p []byte) (int, *framingError) {
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch f.state {
		case stOff:
			return len(p), nil
		case stHead:
			// A line at a time: the head is most of what a framer reads.
			end := bytes.IndexByte(p[i:], '\n')
			if end < 0 {
				end = len(p) - i
			}
			if f.headBytes += end + 1; f.headBytes > f.headerLimit {
				f.state = stOff // fasthttp refuses a head this long itself
				return len(p), nil
			}
			if f.lineLen < lineBufSize {
				copy(f.line[f.lineLen:], p[i:i+end])
			}
			f.lineLen += end
			i += end
			if i < len(p) {
				f.endHeadLine()
			}
		case stBody:
			n := min(f.remaining, int64(len(p)-i))
			f.remaining -= n
			i += int(n) - 1
			if f.remaining == 0 {
				f.startRequest()
			}
		case stSize:
			if v := hexValue(b); v >= 0 {
				if f.digits++; f.digits > maxChunkSizeDigits {
					return i, violation("a chunk size has more than %d hex digits", maxChunkSizeDigits)
				}
				f.remaining = f.remaining<<4 | int64(v)
				if f.lineBytes++; f.lineBytes > maxChunkSizeLine {
					return i, violation("a chunk-size line is longer than %d bytes", maxChunkSizeLine)
				}
				continue
			}
			if f.digits == 0 {
				return i, violation("a chunk size starts with %q, not a hex digit", b)
			}
			f.state = stSizeWS
			i--
		case stSizeWS, stExt:
			if f.lineBytes++; f.lineBytes > maxChunkSizeLine {
				return i, violation("a chunk-size line is longer than %d bytes", maxChunkSizeLine)
			}
			switch {
			case b == '\r':
				f.state = stSizeLF
			case b == ';':
				f.state = stExt
			case b == ' ' || b == '\t':
			case f.state == stExt && fieldByte(b):
			case f.state == stExt:
				return i, violation("a chunk extension holds the control byte %q", b)
			default:
				return i, violation("a chunk size is followed by %q, not ';' or CRLF", b)
			}
		case stSizeLF:
			if b != '\n' {
				return i, violation("a chunk-size line ends in CR followed by %q, not LF", b)
			}
			f.lineBytes, f.digits = 0, 0
			if f.remaining == 0 {
				f.state = stTrailer
			} else {
				f.state = stData
			}
		case stData:
			n := min(f.remaining, int64(len(p)-i))
			f.remaining -= n
			i += int(n) - 1
			if f.remaining == 0 {
				f.state = stDataCR
			}
		case stDataCR, stDataLF:
			if (f.state == stDataCR && b != '\r') || (f.state == stDataLF && b != '\n') {
				return i, violation("a chunk's data is followed by %q, not CRLF", b)
			}
			if f.state == stDataCR {
				f.state = stDataLF
			} else {
				f.state = stSize
			}
		case stTrailer:
			if b == '\r' {
				f.state = stTrailerEndLF
				continue
			}
			if f.trailers++; f.trailers > maxTrailerLines {
				return i, violation("more than %d trailer fields", maxTrailerLines)
			}
			if !tchar(b) {
				return i, violation("a trailer line starts with %q, not a field name", b)
			}
			f.lineBytes = 1
			f.state = stTrailerName
		case stTrailerName, stTrailerValue:
			if f.lineBytes++; f.lineBytes > maxChunkSizeLine {
				return i, violation("a trailer line is longer than %d bytes", maxChunkSizeLine)
			}
			switch {
			case f.state == stTrailerName && b == ':':
				f.state = stTrailerValue
			case f.state == stTrailerName && tchar(b):
			case f.state == stTrailerName:
				return i, violation("a trailer line has %q where a field name or ':' belongs", b)
			case b == '\r':
				f.state = stTrailerLF
			case b != ' ' && b != '\t' && !fieldByte(b):
				return i, violation("a trailer field value holds the control byte %q", b)
			}
		case stTrailerLF, stTrailerEndLF:
			if b != '\n' {
				return i, violation("a trailer line ends in CR followed by %q, not LF", b)
			}
			if f.state == stTrailerLF {
				f.state = stTrailer
			} else {
				f.startRequest()
			}
		}
	}
	return len(p), nil
}

func violation(format string, args ...any) *framingError {
	return &framingError{detail: "malformed chunked body: " + fmt.Sprintf(format, args...)}
}

// startRequest readies f for the next request on the connection.
func (f *framer) startRequest() {
	*f = framer{headerLimit: f.headerLimit}
}

// endHeadLine takes in the head line just ended by LF.
func (f *framer) endHeadLine() {
	n := f.lineLen
	f.lineLen = 0
	line := f.line[:min(n, lineBufSize)]
	if n <= lineBufSize {
		line = bytes.TrimSuffix(line, []byte{'\r'})
	}
	if !f.sawRequest {
		// fasthttp skips empty lines before a request line.
		if len(line) == 0 {
			f.headBytes = 0
			return
		}
		f.sawRequest = true
		method, _, _ := bytes.Cut(line, []byte{' '})
		if string(method) == fiber.MethodConnect || string(method) == "PRI" {
			f.state = stOff
		}
		return
	}
	if len(line) == 0 {
		f.endHead()
		return
	}
	name, value, ok := bytes.Cut(line, []byte{':'})
	if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
		f.state = stOff // a line fasthttp may read otherwise
		return
	}
	value = bytes.Trim(value, " \t")
	switch {
	case bytes.EqualFold(name, []byte(fiber.HeaderContentLength)):
		v, err := strconv.ParseInt(string(value), 10, 64)
		if n > lineBufSize || err != nil || v < 0 || (f.hasLength && v != f.length) {
			f.state = stOff // fasthttp or guardFraming refuses it
			return
		}
		f.length, f.hasLength = v, true
	case bytes.EqualFold(name, []byte(fiber.HeaderTransferEncoding)):
		if n > lineBufSize {
			f.state = stOff
			return
		}
		// fasthttp ignores exactly "identity" and takes any other value
		// for chunked.
		if string(value) == "identity" {
			return
		}
		f.te = true
		last := value
		if i := bytes.LastIndexByte(value, ','); i >= 0 {
			last = bytes.Trim(value[i+1:], " \t")
		}
		f.chunked = bytes.EqualFold(last, []byte("chunked"))
	case bytes.EqualFold(name, []byte(fiber.HeaderUpgrade)):
		f.state = stOff
	}
}

// endHead picks the body's framing once the head has ended.
func (f *framer) endHead() {
	switch {
	case f.te && (f.hasLength || !f.chunked):
		// guardFraming refuses the first; fasthttp reads a final coding
		// other than chunked as chunked, which no client sends.
		f.state = stOff
	case f.te:
		f.startRequest()
		f.state = stSize
	case f.hasLength && f.length > 0:
		l := f.length
		f.startRequest()
		f.state, f.remaining = stBody, l
	default:
		f.startRequest()
	}
}

// hexValue returns the value of the hex digit b, or -1.
func hexValue(b byte) int {
	switch {
	case '0' <= b && b <= '9':
		return int(b - '0')
	case 'a' <= b && b <= 'f':
		return int(b-'a') + 10
	case 'A' <= b && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}

// fieldByte reports whether b may appear in a field value or a chunk
// extension besides SP and HTAB: visible ASCII or obs-text.
func fieldByte(b byte) bool { return b > 0x20 && b != 0x7f }

// tchar reports whether b may appear in a token (RFC 9110 §5.6.2).
func tchar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return b != 0 && strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}
