package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// resolveFor resolves the configuration of `serve` given args and env.
func resolveFor(t *testing.T, args []string, env map[string]string) config {
	t.Helper()
	fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	addServeFlags(fl)
	if err := fl.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, err := resolveConfig(fl, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConfigPrecedence checks flags > environment > file > defaults.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "strata.yaml")
	if err := os.WriteFile(file, []byte("addr: file:1\ndata: /file/data\nbody_limit: 111\nrequest_timeout: 5s\nlog_level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	authFile := filepath.Join(dir, "auth.yaml")
	if err := os.WriteFile(authFile, []byte("auth:\n  admin_key: file-admin-key-0123456789\n  jwt_secret: file-secret\n  jwks_file: /file/jwks.json\n  jwt_issuer: https://file.issuer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c config)
	}{
		{"defaults", nil, nil, nil},
		{"file over defaults", []string{"--config", file}, nil, func(t *testing.T, c config) {
			if c.Addr != "file:1" || c.BodyLimit != 111 || time.Duration(c.RequestTimeout) != 5*time.Second || c.LogLevel != "warn" {
				t.Fatalf("%+v", c)
			}
			if c.DefaultPageSize != 20 || c.storageURL() != "bolt:/file/data/strata.db" {
				t.Fatalf("defaults lost: %+v", c)
			}
		}},
		{"env over file", []string{"--config", file}, map[string]string{"STRATA_ADDR": "env:2", "STRATA_BODY_LIMIT": "222"}, func(t *testing.T, c config) {
			if c.Addr != "env:2" || c.BodyLimit != 222 || c.Data != "/file/data" {
				t.Fatalf("%+v", c)
			}
		}},
		{"flags over env", []string{"--config", file, "--addr", "flag:3", "--storage", "memory:"}, map[string]string{"STRATA_ADDR": "env:2"}, func(t *testing.T, c config) {
			if c.Addr != "flag:3" || c.storageURL() != "memory:" {
				t.Fatalf("%+v", c)
			}
		}},
		{"auth from file, secrets from env", []string{"--config", authFile, "--jwt-audience", "flag-aud"},
			map[string]string{"STRATA_ADMIN_KEY": "env-admin-key-0123456789", "STRATA_JWKS_FILE": "/env/jwks.json"}, func(t *testing.T, c config) {
				a := c.Auth
				if a.AdminKey != "env-admin-key-0123456789" || a.JWTSecret != "file-secret" || a.JWKSFile != "/env/jwks.json" ||
					a.JWTIssuer != "https://file.issuer" || a.JWTAudience != "flag-aud" {
					t.Fatalf("%+v", a)
				}
			}},
		{"config from env", nil, map[string]string{"STRATA_CONFIG": file}, func(t *testing.T, c config) {
			if c.Addr != "file:1" {
				t.Fatalf("%+v", c)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := resolveFor(t, tc.args, tc.env)
			if tc.check == nil {
				if d := defaultConfig(); c.Addr != d.Addr || c.Data != d.Data || c.BodyLimit != d.BodyLimit {
					t.Fatalf("defaults: %+v", c)
				}
				return
			}
			tc.check(t, c)
		})
	}

	t.Run("unknown keys are named", func(t *testing.T) {
		cases := []struct {
			name, yaml string
			want       []string
		}{
			{"top level", "addr: 127.0.0.1:9\nadr: typo\n", []string{":2: unknown key adr (did you mean addr?)", "known keys: addr, auth, blob_grace, blob_limit, body_limit,", "rate_limit_admin"}},
			{"no near key", "colour: blue\n", []string{":1: unknown key colour; known keys: addr,"}},
			{"under auth", "auth:\n  admin_kye: x\n", []string{":2: unknown key auth.admin_kye (did you mean auth.admin_key?); known keys under auth: admin_key, jwks_file,"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				file := filepath.Join(t.TempDir(), "strata.yaml")
				if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
				fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
				addServeFlags(fl)
				_ = fl.Parse([]string{"--config", file})
				_, err := resolveConfig(fl, func(string) string { return "" })
				if err == nil {
					t.Fatal("no error")
				}
				for _, want := range append(tc.want, "config "+file) {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
			})
		}
	})

	t.Run("errors", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yaml")
		_ = os.WriteFile(bad, []byte("adress: typo\n"), 0o600)
		for name, args := range map[string][]string{
			"missing named file": {"--config", filepath.Join(dir, "nope.yaml")},
			"unknown key":        {"--config", bad},
		} {
			fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			addServeFlags(fl)
			_ = fl.Parse(args)
			if _, err := resolveConfig(fl, func(string) string { return "" }); err == nil {
				t.Errorf("%s: no error", name)
			}
		}
		fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		addServeFlags(fl)
		if _, err := resolveConfig(fl, func(k string) string {
			if k == "STRATA_BODY_LIMIT" {
				return "lots"
			}
			return ""
		}); err == nil {
			t.Error("bad env value: no error")
		}
	})
}

// TestConfigChangesRetention: changes_retention defaults to a week, is
// read from the file, the environment and the flag, 0 keeps the log
// forever, and a negative value is refused.
func TestConfigChangesRetention(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "strata.yaml")
	if err := os.WriteFile(file, []byte("changes_retention: 24h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    time.Duration
		refused bool
	}{
		{"default", nil, nil, 168 * time.Hour, false},
		{"file", []string{"--config", file}, nil, 24 * time.Hour, false},
		{"env over file", []string{"--config", file}, map[string]string{"STRATA_CHANGES_RETENTION": "1h"}, time.Hour, false},
		{"flag over env", []string{"--changes-retention", "0"}, map[string]string{"STRATA_CHANGES_RETENTION": "1h"}, 0, false},
		{"negative", []string{"--changes-retention", "-1h"}, nil, -time.Hour, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := resolveFor(t, tc.args, tc.env)
			if got := time.Duration(c.ChangesRetention); got != tc.want {
				t.Fatalf("changes_retention %s, want %s", got, tc.want)
			}
			if err := c.check(); (err != nil) != tc.refused {
				t.Fatalf("check: %v, refused want %v", err, tc.refused)
			}
		})
	}
}

// TestConfigRetentionKeepLast: retention.keep_last is off by default, is
// read from the file, the environment and the flag, a misspelt key under
// retention is named, and a negative value is refused.
func TestConfigRetentionKeepLast(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "strata.yaml")
	if err := os.WriteFile(file, []byte("retention:\n  keep_last: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("retention:\n  keep_lats: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    int
		refused bool
	}{
		{"default", nil, nil, 0, false},
		{"file", []string{"--config", file}, nil, 10, false},
		{"env over file", []string{"--config", file}, map[string]string{"STRATA_RETENTION_KEEP_LAST": "3"}, 3, false},
		{"flag over env", []string{"--retention-keep-last", "0"}, map[string]string{"STRATA_RETENTION_KEEP_LAST": "3"}, 0, false},
		{"negative", []string{"--retention-keep-last", "-1"}, nil, -1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := resolveFor(t, tc.args, tc.env)
			if c.Retention.KeepLast != tc.want {
				t.Fatalf("retention.keep_last %d, want %d", c.Retention.KeepLast, tc.want)
			}
			if err := c.check(); (err != nil) != tc.refused {
				t.Fatalf("check: %v, refused want %v", err, tc.refused)
			}
		})
	}
	fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	addServeFlags(fl)
	if err := fl.Parse([]string{"--config", typo}); err != nil {
		t.Fatal(err)
	}
	_, err := resolveConfig(fl, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "unknown key retention.keep_lats (did you mean retention.keep_last?)") {
		t.Fatalf("misspelt key: %v", err)
	}
}

// TestConfigBlobsAndMetrics: blob_limit, blob_grace, metrics and
// metrics_token have their defaults, are read from the file, the
// environment and the flags, and values out of range are refused.
func TestConfigBlobsAndMetrics(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "strata.yaml")
	if err := os.WriteFile(file, []byte("blob_limit: 2048\nblob_grace: 1h\nmetrics: false\nmetrics_token: file-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		limit   int64
		grace   time.Duration
		metrics bool
		token   string
		refused bool
	}{
		{"default", nil, nil, 100 << 20, 24 * time.Hour, true, "", false},
		{"file", []string{"--config", file}, nil, 2048, time.Hour, false, "file-token-0123456789", false},
		{"env over file", []string{"--config", file}, map[string]string{"STRATA_BLOB_LIMIT": "4096", "STRATA_METRICS": "true",
			"STRATA_METRICS_TOKEN": "env-token-0123456789"}, 4096, time.Hour, true, "env-token-0123456789", false},
		{"flags", []string{"--blob-limit", "10", "--blob-grace", "5m", "--metrics=false"}, nil, 10, 5 * time.Minute, false, "", false},
		{"zero limit", []string{"--blob-limit", "0"}, nil, 0, 24 * time.Hour, true, "", true},
		{"zero grace", []string{"--blob-grace", "0s"}, nil, 100 << 20, 0, true, "", true},
		{"short token", nil, map[string]string{"STRATA_METRICS_TOKEN": "short"}, 100 << 20, 24 * time.Hour, true, "short", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := resolveFor(t, tc.args, tc.env)
			if c.BlobLimit != tc.limit || time.Duration(c.BlobGrace) != tc.grace || c.Metrics != tc.metrics || c.MetricsToken != tc.token {
				t.Fatalf("blob_limit %d, blob_grace %s, metrics %v, metrics_token %q", c.BlobLimit, time.Duration(c.BlobGrace), c.Metrics, c.MetricsToken)
			}
			if err := c.check(); (err != nil) != tc.refused {
				t.Fatalf("check: %v, refused want %v", err, tc.refused)
			}
		})
	}
}

// TestRedactedStorageURL keeps passwords of storage URLs out of the logs.
func TestRedactedStorageURL(t *testing.T) {
	tests := []struct{ storage, want string }{
		{"postgres://strata:s3cret@db/strata", "postgres://strata:xxxxx@db/strata"},
		{"postgres://strata@db/strata?sslmode=disable", "postgres://strata@db/strata?sslmode=disable"},
		{"bolt:/data/strata.db", "bolt:/data/strata.db"},
		{"memory:", "memory:"},
	}
	for _, tt := range tests {
		if got := (config{Storage: tt.storage}).redactedStorageURL(); got != tt.want {
			t.Errorf("redactedStorageURL(%q) = %q, want %q", tt.storage, got, tt.want)
		}
	}
}
