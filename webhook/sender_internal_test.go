package webhook

import (
	"encoding/base64"
	"net/netip"
	"testing"
)

// TestPublicAddress: the addresses webhooks may not reach unless
// webhook_allow_private.
func TestPublicAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"::ffff:192.168.1.1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"169.254.1.1", false},
		{"fe80::1", false},
		{"fd00:ec2::254", false}, // AWS metadata over IPv6
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"100.64.0.1", false},
		{"255.255.255.255", false},
		{"8.8.8.8", true},
		{"93.184.216.34", true},
		{"172.32.0.1", true},
		{"2606:4700:4700::1111", true},
		{"::ffff:8.8.8.8", true},
	} {
		if got := publicAddress(netip.MustParseAddr(tc.addr)); got != tc.public {
			t.Errorf("publicAddress(%s) = %v, want %v", tc.addr, got, tc.public)
		}
	}
}

// TestCheckDialedAddress: the dialer's check refuses by the address it is
// about to connect to.
func TestCheckDialedAddress(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{"127.0.0.1:80": false, "[::1]:443": false, "169.254.169.254:80": false,
		"8.8.8.8:443": true, "[2606:4700:4700::1111]:443": true} {
		if err := checkDialedAddress("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("checkDialedAddress(%s) = %v", addr, err)
		}
	}
}

// TestSignWebhook checks the signature against the example of the
// Standard Webhooks specification.
func TestSignWebhook(t *testing.T) {
	t.Parallel()
	key, err := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}
