package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
)

// replayConn is a connection whose reads return data, n bytes at most
// each, then io.EOF, or the same bytes forever when loop is set.
type replayConn struct {
	net.Conn
	data []byte
	off  int
	n    int
	loop bool
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.off == len(c.data) {
		if !c.loop {
			return 0, io.EOF
		}
		c.off = 0
	}
	end := min(len(c.data), c.off+min(len(p), c.n))
	k := copy(p, c.data[c.off:end])
	c.off += k
	return k, nil
}

func (c *replayConn) Close() error { return nil }

// framingSeeds are requests the fuzz target starts from.
var framingSeeds = []string{
	"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-A: 1\r\n\r\n",
	"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\n\r\n",
	"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n0x1\r\nGET / HTTP/1.1\r\n\r\n",
	"\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\nA \r\n0123456789\r\n0\r\nno colon\r\n\r\n",
	"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n0x1\r\n",
}

// FuzzFramingConn feeds arbitrary bytes through a framing connection in
// reads of arbitrary sizes: it must not panic, each read must return
// within the bytes it was given, and where the stream is cut into reads
// must not change what is delivered or whether it is refused.
func FuzzFramingConn(f *testing.F) {
	for _, s := range framingSeeds {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		whole, wholeErr := readFraming(t, data, len(data)+1)
		cut, cutErr := readFraming(t, data, int(step)%32+1)
		if !bytes.Equal(whole, cut) || (wholeErr == nil) != (cutErr == nil) {
			t.Fatalf("read whole: %q, %v; in reads of %d: %q, %v", whole, wholeErr, int(step)%32+1, cut, cutErr)
		}
	})
}

// readFraming reads data through a framingConn in reads of n bytes at
// most, returning what was delivered and the framing violation, if any.
func readFraming(t *testing.T, data []byte, n int) ([]byte, error) {
	c := &framingConn{Conn: &replayConn{data: data, n: n}, f: framer{headerLimit: DefaultHeaderLimit}}
	var got []byte
	buf := make([]byte, 64)
	for range len(data) + 2 { // every read but the last delivers a byte
		k, err := c.Read(buf)
		if k < 0 || k > len(buf) {
			t.Fatalf("read returned %d", k)
		}
		got = append(got, buf[:k]...)
		if err == io.EOF {
			return got, nil
		}
		var fe *framingError
		if errors.As(err, &fe) {
			return got, err
		}
		if err != nil || k == 0 {
			t.Fatalf("read %d, %v", k, err)
		}
	}
	t.Fatalf("reads of %q never end", data)
	return nil, nil
}

// BenchmarkFramingConn measures reads through a framing connection of a
// stream of requests with a 1 KiB body, against plain reads.
func BenchmarkFramingConn(b *testing.B) {
	body := strings.Repeat("x", 1<<10)
	head := "POST /api/docs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAuthorization: Bearer sk_0193aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa_secret\r\n"
	var chunks strings.Builder
	for i := 0; i < len(body); i += 256 {
		fmt.Fprintf(&chunks, "%x\r\n%s\r\n", 256, body[i:i+256])
	}
	streams := []struct{ name, req string }{
		{"content-length", head + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body},
		{"chunked", head + "Transfer-Encoding: chunked\r\n\r\n" + chunks.String() + "0\r\n\r\n"},
	}
	for _, st := range streams {
		req := []byte(strings.Repeat(st.req, 16))
		for _, check := range []bool{false, true} {
			name := st.name + "/plain"
			if check {
				name = st.name + "/checked"
			}
			b.Run(name, func(b *testing.B) {
				var c net.Conn = &replayConn{data: req, n: 4 << 10, loop: true}
				if check {
					c = &framingConn{Conn: c, f: framer{headerLimit: DefaultHeaderLimit}}
				}
				buf := make([]byte, 4<<10)
				b.SetBytes(int64(len(st.req)))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					for read := 0; read < len(st.req); {
						k, err := c.Read(buf)
						if err != nil {
							b.Fatal(err)
						}
						read += k
					}
				}
			})
		}
	}
}
