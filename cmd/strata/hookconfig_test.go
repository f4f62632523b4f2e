package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-dev/strata/server"
)

// TestHookRegisterTimeoutSetting: hook_register_timeout defaults to the
// server's default and is read from the file, the environment and flags.
func TestHookRegisterTimeoutSetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(file, []byte("hook_register_timeout: 7m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want time.Duration
	}{
		{"default", nil, nil, server.DefaultHookRegisterTimeout},
		{"file", []string{"--config", file}, nil, 7 * time.Minute},
		{"env", []string{"--config", file}, map[string]string{"STRATA_HOOK_REGISTER_TIMEOUT": "90s"}, 90 * time.Second},
		{"flag", []string{"--config", file, "--hook-register-timeout", "10m"}, map[string]string{"STRATA_HOOK_REGISTER_TIMEOUT": "90s"}, 10 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := time.Duration(resolveFor(t, tc.args, tc.env).HookRegisterTimeout); got != tc.want {
				t.Fatalf("hook_register_timeout = %v, want %v", got, tc.want)
			}
		})
	}
}
