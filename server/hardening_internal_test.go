package server

import (
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestTooDeep checks the nesting scan on the cases a naive one gets wrong.
func TestTooDeep(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		raw   string
		limit int
		at    int
	}{
		{"flat", `{"a":1}`, 1, -1},
		{"one too deep", `{"a":[1]}`, 1, 5},
		{"siblings do not add up", `[[1],[2],[3]]`, 2, -1},
		{"brackets in strings", `["[[[{{{"]`, 1, -1},
		{"escaped quote stays in the string", `["\"[[["]`, 1, -1},
		{"escaped backslash ends before the quote", `["\\",[[1]]]`, 2, 7},
		{"unbalanced closers", `]]]]{[1]}`, 2, -1},
		{"empty", ``, 0, -1},
		{"deep", strings.Repeat("[", 65) + strings.Repeat("]", 65), 64, 64},
	}
	for _, tc := range cases {
		if got := tooDeep([]byte(tc.raw), tc.limit); got != tc.at {
			t.Errorf("%s: tooDeep(%q, %d) = %d, want %d", tc.name, tc.raw, tc.limit, got, tc.at)
		}
	}
}

// addrConn is a connection that only knows its peer's address.
type addrConn struct {
	net.Conn
	addr net.Addr
}

func (c *addrConn) RemoteAddr() net.Addr { return c.addr }

// TestConnCap follows the connection count of addresses through opens
// and closes: the connection over the cap is refused, the others and
// other addresses are not, and a close makes room again.
func TestConnCap(t *testing.T) {
	t.Parallel()
	cc := &connCap{max: 2, open: map[string]int{}, refused: map[net.Conn]bool{}}
	conn := func(ip string) net.Conn {
		return &addrConn{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1234}}
	}
	a1, a2, a3, a4 := conn("192.0.2.1"), conn("192.0.2.1"), conn("192.0.2.1"), conn("192.0.2.1")
	v6a, v6b, v6c := conn("2001:db8::1"), conn("2001:db8::2"), conn("2001:db8::3")
	other := conn("192.0.2.2")
	steps := []struct {
		conn    net.Conn
		state   fasthttp.ConnState
		refused bool
	}{
		{a1, fasthttp.StateNew, false},
		{a2, fasthttp.StateNew, false},
		{a3, fasthttp.StateNew, true},
		{other, fasthttp.StateNew, false},
		{a3, fasthttp.StateClosed, false},
		{a1, fasthttp.StateHijacked, false},
		{a4, fasthttp.StateNew, false},
		{v6a, fasthttp.StateNew, false},
		{v6b, fasthttp.StateNew, false},
		{v6c, fasthttp.StateNew, true}, // the same /64
	}
	for i, st := range steps {
		cc.track(st.conn, st.state)
		if got := cc.isRefused(st.conn); got != st.refused {
			t.Fatalf("step %d: refused %v, want %v", i, got, st.refused)
		}
	}
	for _, c := range []net.Conn{a2, a4, other, v6a, v6b, v6c} {
		cc.track(c, fasthttp.StateClosed)
	}
	if len(cc.open) != 0 || len(cc.refused) != 0 || cc.anyRefused.Load() {
		t.Fatalf("after every close: open %v, refused %d", cc.open, len(cc.refused))
	}
}
