package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/strata-dev/strata/core"
)

// HTTP is the transport of webhooks over HTTP and HTTPS.
type HTTP struct{}

var _ core.WebhookTransport = HTTP{}

// responseLimit bounds what is read of a receiver's answer, headers and
// body each: enough for any acknowledgment, never a memory risk. A longer
// body is not read; its delivery still counts by its status.
const responseLimit = 64 << 10

// maxDialTimeout bounds connecting, whatever the delivery timeout.
const maxDialTimeout = 10 * time.Second

// NewSender returns the sender of one webhook's deliveries to url.
func (HTTP) NewSender(url string, opts core.WebhookOptions) core.WebhookSender {
	s := &sender{url: url, timeout: opts.Timeout, conns: map[*trackedConn]struct{}{}}
	s.dialer = net.Dialer{Timeout: min(opts.Timeout, maxDialTimeout), KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		s.dialer.Control = checkDialedAddress
	}
	s.client = &fasthttp.Client{
		Name:                          "Strata-Webhooks/1",
		Dial:                          s.dial,
		MaxConnsPerHost:               2,
		MaxIdleConnDuration:           90 * time.Second,
		ReadBufferSize:                responseLimit,
		MaxResponseBodySize:           responseLimit,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
	}
	return s
}

// sender delivers one webhook's messages, one at a time.
type sender struct {
	url     string
	timeout time.Duration
	dialer  net.Dialer
	client  *fasthttp.Client

	mu    sync.Mutex
	send  context.Context // the context of the delivery in flight
	conns map[*trackedConn]struct{}
}

// Send POSTs body signed with key as message msgID at time at. It returns
// soon after ctx ends, closing the connection of the delivery in flight.
func (s *sender) Send(ctx context.Context, key []byte, msgID string, at time.Time, body []byte) (int, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(s.url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/cloudevents+json; charset=utf-8")
	ts := at.Unix()
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(key, msgID, ts, body))
	req.SetBodyRaw(body)

	s.mu.Lock()
	s.send = ctx
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, s.closeConns)
	err := s.client.DoTimeout(req, resp, s.timeout)
	stop()
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	status := resp.StatusCode()
	if err != nil && !(errors.Is(err, fasthttp.ErrBodyTooLarge) && status != 0) {
		return 0, err
	}
	if status < 200 || status > 299 {
		return status, fmt.Errorf("the receiver answered %d %s", status, fasthttp.StatusMessage(status))
	}
	return status, nil
}

// Close closes the sender's connections.
func (s *sender) Close() {
	s.client.CloseIdleConnections()
	s.closeConns()
}

// dial connects to addr (host:port) for the delivery in flight, checking
// the address dialed unless private ones are allowed.
func (s *sender) dial(addr string) (net.Conn, error) {
	s.mu.Lock()
	ctx := s.send
	s.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := s.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: s}
	s.mu.Lock()
	s.conns[tc] = struct{}{}
	s.mu.Unlock()
	return tc, nil
}

// closeConns closes every connection of the sender: a delivery reading
// or writing on one fails at once.
func (s *sender) closeConns() {
	s.mu.Lock()
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// trackedConn is a connection its sender can close.
type trackedConn struct {
	net.Conn
	s    *sender
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return err
}

// Sign is the webhook-signature value of a message per Standard Webhooks:
// v1, then the base64 HMAC-SHA256 of "id.timestamp.body" under key.
func Sign(key []byte, msgID string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// errAddressNotAllowed is why a delivery to a non-public address failed.
var errAddressNotAllowed = errors.New("address not allowed for webhooks (not a public address; webhook_allow_private lifts this)")

// checkDialedAddress refuses a connection to a non-public address. It is
// the dialer's Control function: it sees the resolved address about to
// be connected to.
func checkDialedAddress(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if !publicAddress(ip) {
		return fmt.Errorf("%s: %w", ip, errAddressNotAllowed)
	}
	return nil
}

// nonPublic are the networks beyond those netip classifies that no
// webhook should reach: "this network", shared address space (carrier
// NAT), the IETF protocol range and the benchmarking range.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// publicAddress reports whether ip is a public unicast address: not
// loopback, private (RFC 1918, fc00::/7), link-local (169.254.0.0/16 with
// the cloud metadata address, fe80::/10), unspecified or multicast.
func publicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
