package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestWebhookSettings: webhook_allow_private defaults to false and
// webhook_disable_after to 24h; both are read from the file, the
// environment and flags, strongest last.
func TestWebhookSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(file, []byte("webhook_allow_private: true\nwebhook_disable_after: 2h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		private bool
		after   time.Duration
	}{
		{"default", nil, nil, false, 24 * time.Hour},
		{"file", []string{"--config", file}, nil, true, 2 * time.Hour},
		{"env", []string{"--config", file}, map[string]string{"STRATA_WEBHOOK_ALLOW_PRIVATE": "false", "STRATA_WEBHOOK_DISABLE_AFTER": "90m"}, false, 90 * time.Minute},
		{"flag", []string{"--webhook-allow-private", "--webhook-disable-after", "1s"}, map[string]string{"STRATA_WEBHOOK_DISABLE_AFTER": "90m"}, true, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := resolveFor(t, tc.args, tc.env)
			if c.WebhookAllowPrivate != tc.private || time.Duration(c.WebhookDisableAfter) != tc.after {
				t.Fatalf("webhook_allow_private, webhook_disable_after = %v, %v; want %v, %v",
					c.WebhookAllowPrivate, time.Duration(c.WebhookDisableAfter), tc.private, tc.after)
			}
		})
	}
	for _, v := range []string{"0s", "-1h", "soon"} {
		fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		addServeFlags(fl)
		_, err := resolveConfig(fl, func(k string) string {
			if k == "STRATA_WEBHOOK_DISABLE_AFTER" {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), "webhook-disable-after") {
			t.Errorf("webhook_disable_after %q: %v, want refused", v, err)
		}
	}
}

// TestWebhookDisableAfterFromFile: a webhook_disable_after that is not
// positive is refused from the config file too, as from the environment
// and flags, rather than silently becoming the default.
func TestWebhookDisableAfterFromFile(t *testing.T) {
	for _, v := range []string{"0s", "-1h"} {
		file := filepath.Join(t.TempDir(), "strata.yaml")
		if err := os.WriteFile(file, []byte("webhook_disable_after: "+v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := resolveFor(t, []string{"--config", file}, nil).check()
		if err == nil || !strings.Contains(err.Error(), "webhook_disable_after") {
			t.Errorf("webhook_disable_after %s in the file: %v, want refused", v, err)
		}
	}
}
