package core

import "testing"

// TestDecodeWebhookSecret: a secret is whsec_ and base64.
func TestDecodeWebhookSecret(t *testing.T) {
	t.Parallel()
	if _, err := decodeWebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"); err != nil {
		t.Errorf("a good secret refused: %v", err)
	}
	for _, bad := range []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!"} {
		if _, err := decodeWebhookSecret(bad); err == nil {
			t.Errorf("secret %q accepted", bad)
		}
	}
}
