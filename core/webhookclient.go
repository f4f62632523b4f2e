package core

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// The HTTP client that delivers webhooks. A webhook's URL is chosen by an
// administrator, but a server that POSTs wherever it is told is a way
// into the network it runs in (SSRF): unless WebhookOptions.AllowPrivate,
// the address of every connection is checked as it is dialed, after name
// resolution, so neither a name that resolves to a private address nor
// one that changes its answer between a check and the connection (DNS
// rebinding) gets through. No proxy from the environment is used (it
// would dial for us, unchecked), and no redirect is followed: a 3xx is a
// failed delivery, like any answer but 2xx.

// errAddressNotAllowed is why a delivery to a non-public address failed.
var errAddressNotAllowed = errors.New("address not allowed for webhooks (not a public address; webhook_allow_private lifts this)")

// webhookResponseLimit is how much of a receiver's answer is read (and
// discarded): enough to reuse the connection, never a memory risk.
const webhookResponseLimit = 64 << 10

// webhookClient sends signed deliveries.
type webhookClient struct {
	http *http.Client
}

func newWebhookClient(opts WebhookOptions) *webhookClient {
	dialer := &net.Dialer{Timeout: min(opts.Timeout, 10*time.Second), KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		dialer.Control = checkDialedAddress
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    min(opts.Timeout, 10*time.Second),
		ResponseHeaderTimeout:  opts.Timeout,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &webhookClient{http: &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

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

// signWebhook is the webhook-signature value of a message per Standard
// Webhooks: v1, then the base64 HMAC-SHA256 of "id.timestamp.body".
func signWebhook(key []byte, msgID string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// send POSTs one delivery, signed with key, and returns the receiver's
// status (0 when there was none). Anything but a 2xx is an error.
func (c *webhookClient) send(ctx context.Context, url string, key []byte, msgID string, at time.Time, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build the request: %w", err)
	}
	ts := at.Unix()
	req.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	req.Header.Set("User-Agent", "Strata-Webhooks/1")
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", signWebhook(key, msgID, ts, body))
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, webhookResponseLimit))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}
