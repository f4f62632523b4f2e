package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/strata-dev/strata/server"
)

// noRateLimits are the serve flags of end-to-end tests that hammer one
// server from one address with one principal.
var noRateLimits = []string{"--rate-limit-ip=-1", "--rate-limit-principal=-1"}

// TestHardeningConfig checks that every hardening setting reads from the
// file, the environment and the flags, with the usual precedence, and
// reaches server.Options.
func TestHardeningConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "strata.yaml")
	err := os.WriteFile(file, []byte(`
rate_limit_ip: 5
rate_limit_ip_burst: 7
rate_limit_principal: -1
rate_limit_admin: true
trusted_proxies: [10.0.0.0/8, 192.0.2.1]
cors_origins: [https://app.example.com]
cors_credentials: true
cors_max_age: 1h
max_json_depth: 32
header_limit: 8192
header_timeout: 3s
idle_timeout: 45s
max_conns_per_ip: 100
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want hardeningConfig
	}{
		{"defaults", nil, nil, defaultHardening()},
		{"file", []string{"--config", file}, nil, hardeningConfig{
			RateLimitIP: 5, RateLimitIPBurst: 7, RateLimitPrincipal: -1, RateLimitAdmin: true,
			TrustedProxies: []string{"10.0.0.0/8", "192.0.2.1"},
			CORSOrigins:    []string{"https://app.example.com"}, CORSCredentials: true, CORSMaxAge: duration(time.Hour),
			MaxJSONDepth: 32, HeaderLimit: 8192, HeaderTimeout: duration(3 * time.Second), IdleTimeout: duration(45 * time.Second),
			MaxConnsPerIP: 100,
		}},
		{"environment over file", []string{"--config", file}, map[string]string{
			"STRATA_RATE_LIMIT_IP": "0.5", "STRATA_RATE_LIMIT_PRINCIPAL_BURST": "9",
			"STRATA_TRUSTED_PROXIES": " 127.0.0.1 ,::1", "STRATA_CORS_ORIGINS": "*", "STRATA_CORS_CREDENTIALS": "false",
			"STRATA_MAX_JSON_DEPTH": "-1", "STRATA_HEADER_TIMEOUT": "1m", "STRATA_MAX_CONNS_PER_IP": "0",
			"STRATA_RATE_LIMIT_ADMIN": "false",
		}, hardeningConfig{
			RateLimitIP: 0.5, RateLimitIPBurst: 7, RateLimitPrincipal: -1, RateLimitPrincipalBurst: 9,
			TrustedProxies: []string{"127.0.0.1", "::1"},
			CORSOrigins:    []string{"*"}, CORSMaxAge: duration(time.Hour),
			MaxJSONDepth: -1, HeaderLimit: 8192, HeaderTimeout: duration(time.Minute), IdleTimeout: duration(45 * time.Second),
		}},
		{"flags over environment", []string{"--rate-limit-ip=-1", "--rate-limit-admin", "--cors-origins", "https://a.example,https://b.example",
			"--cors-max-age", "30s", "--header-limit", "4096", "--idle-timeout", "5s", "--max-conns-per-ip", "8"},
			map[string]string{"STRATA_RATE_LIMIT_IP": "3", "STRATA_HEADER_LIMIT": "1"}, func() hardeningConfig {
				h := defaultHardening()
				h.RateLimitIP = -1
				h.RateLimitAdmin = true
				h.CORSOrigins = []string{"https://a.example", "https://b.example"}
				h.CORSMaxAge = duration(30 * time.Second)
				h.HeaderLimit = 4096
				h.IdleTimeout = duration(5 * time.Second)
				h.MaxConnsPerIP = 8
				return h
			}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := resolveFor(t, tc.args, tc.env)
			if !reflect.DeepEqual(c.hardeningConfig, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", c.hardeningConfig, tc.want)
			}
			var o server.Options
			if err := c.hardeningConfig.apply(&o); err != nil {
				t.Fatal(err)
			}
			if o.RateLimit.IPRate != tc.want.RateLimitIP || o.HeaderLimit != tc.want.HeaderLimit ||
				o.HeaderTimeout != time.Duration(tc.want.HeaderTimeout) || len(o.CORS.Origins) != len(tc.want.CORSOrigins) ||
				o.MaxConnsPerIP != tc.want.MaxConnsPerIP || o.RateLimit.Admins != tc.want.RateLimitAdmin {
				t.Fatalf("options %+v", o)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		for name, env := range map[string]map[string]string{
			"rate not a number":           {"STRATA_RATE_LIMIT_IP": "fast"},
			"credentials not a bool":      {"STRATA_CORS_CREDENTIALS": "sure"},
			"timeout not a duration":      {"STRATA_HEADER_TIMEOUT": "10"},
			"conns not a number":          {"STRATA_MAX_CONNS_PER_IP": "many"},
			"admin limit not a bool":      {"STRATA_RATE_LIMIT_ADMIN": "perhaps"},
			"bad origin":                  {"STRATA_CORS_ORIGINS": "app.example.com"},
			"bad proxy":                   {"STRATA_TRUSTED_PROXIES": "10.0.0.0/40"},
			"credentials with any origin": {"STRATA_CORS_ORIGINS": "*", "STRATA_CORS_CREDENTIALS": "true"},
		} {
			fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			addServeFlags(fl)
			c, err := resolveConfig(fl, func(k string) string { return env[k] })
			if err == nil {
				err = c.hardeningConfig.apply(&server.Options{})
			}
			if err == nil {
				t.Errorf("%s: no error", name)
			}
		}
	})
}
