package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/strata-dev/strata/hooks"
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

// TestHookConcurrencySetting: hook_concurrency and hook_nice default to 0
// (the CPUs less one; off), are read from the file, the
// environment and flags, and are refused out of range.
func TestHookConcurrencySetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(file, []byte("hook_concurrency: 3\nhook_nice: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		args       []string
		env        map[string]string
		want, nice int
		refused    string
	}{
		{"default", nil, nil, 0, 0, ""},
		{"file", []string{"--config", file}, nil, 3, 5, ""},
		{"env", []string{"--config", file}, map[string]string{"STRATA_HOOK_CONCURRENCY": "5", "STRATA_HOOK_NICE": "19"}, 5, 19, ""},
		{"flag", []string{"--config", file, "--hook-concurrency", "7", "--hook-nice", "12"}, map[string]string{"STRATA_HOOK_CONCURRENCY": "5"}, 7, 12, ""},
		{"negative concurrency", []string{"--hook-concurrency", "-1"}, nil, -1, 0, "hook_concurrency -1"},
		{"nice too high", []string{"--hook-nice", "20"}, nil, 0, 20, "hook_nice 20"},
		{"negative nice", []string{"--hook-nice", "-5"}, nil, 0, -5, "hook_nice -5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := resolveFor(t, tc.args, tc.env)
			if c.HookConcurrency != tc.want || c.HookNice != tc.nice {
				t.Fatalf("hook_concurrency, hook_nice = %d, %d; want %d, %d", c.HookConcurrency, c.HookNice, tc.want, tc.nice)
			}
			err := c.check()
			if tc.refused == "" && err != nil || tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)) {
				t.Fatalf("check: %v, want refused: %q", err, tc.refused)
			}
		})
	}
}

// TestConfigTypesBindModules: a type declared in the config file may bind
// a module of the hooks directory, and a type binding a module that is
// nowhere stops the start with an error naming it.
func TestConfigTypesBindModules(t *testing.T) {
	dir := t.TempDir()
	hooksDir := filepath.Join(dir, "hooks")
	if err := os.Mkdir(hooksDir, 0o755); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(builtHook(t, "wat"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hooksDir, "titles.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	config := func(module string) string {
		path := filepath.Join(dir, module+".yaml")
		body := "types:\n  - name: notes\n    schema: {type: object}\n    hooks:\n      - {stage: before_create, module: " + module + "}\n"
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// Refused, strata exits at once; the bound stops a server that starts.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, strataBin, "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "refused"),
		"--hooks-dir", hooksDir, "--config", config("nowhere")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown hook module "nowhere"`) {
		t.Fatalf("a config type binding an unknown module: %v\n%s", err, out)
	}

	p := startServer(t, filepath.Join(dir, "data"), "--hooks-dir", hooksDir, "--config", config("titles"))
	if st, raw := call(t, "POST", p.url+"/api/notes", `{"title":"From Config"}`); st != 201 || !strings.Contains(string(raw), `"slug":"from-config"`) {
		t.Fatalf("create: %d %s", st, raw)
	}
}

// TestHookNiceGivesHooksTheirOwnProcs: with hook_nice set, strata serve
// gives the process a P more per hook slot, so that a computing hook never
// holds a P requests need and the kernel decides who runs; without it,
// GOMAXPROCS stays as it is.
func TestHookNiceGivesHooksTheirOwnProcs(t *testing.T) {
	if !hooks.NiceWorks() {
		t.Skip("hook_nice takes effect on Linux only")
	}
	cases := []struct {
		name string
		args []string
		want string // the log line's attributes; "" for none
	}{
		{"default slots", []string{"--hook-nice", "19"}, "hook_concurrency=1 gomaxprocs=3"},
		{"slots set", []string{"--hook-nice", "10", "--hook-concurrency", "2"}, "hook_concurrency=2 gomaxprocs=4"},
		{"no nice", []string{"--hook-concurrency", "2"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startServerEnv(t, t.TempDir(), []string{"GOMAXPROCS=2", "STRATA_ADMIN_KEY=" + adminKey}, tc.args...)
			// The line, if any, comes before the server listens, which
			// startServerEnv waited for.
			logs := p.logText()
			raised := strings.Contains(logs, "GOMAXPROCS raised")
			switch {
			case tc.want == "" && raised:
				t.Fatalf("GOMAXPROCS raised without hook_nice:\n%s", logs)
			case tc.want != "" && !strings.Contains(logs, tc.want):
				t.Fatalf("want a line with %q:\n%s", tc.want, logs)
			}
		})
	}
}

// TestHookModuleLimitSetting: hook_module_limit defaults to the server's
// default, is read from the file, the environment and flags, and is
// refused when not positive.
func TestHookModuleLimitSetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(file, []byte("hook_module_limit: 1048576\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"default", nil, nil, server.DefaultHookModuleLimit},
		{"file", []string{"--config", file}, nil, 1 << 20},
		{"env", []string{"--config", file}, map[string]string{"STRATA_HOOK_MODULE_LIMIT": "2097152"}, 2 << 20},
		{"flag", []string{"--config", file, "--hook-module-limit", "4194304"}, map[string]string{"STRATA_HOOK_MODULE_LIMIT": "2097152"}, 4 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolveFor(t, tc.args, tc.env).HookModuleLimit; got != tc.want {
				t.Fatalf("hook_module_limit = %d, want %d", got, tc.want)
			}
		})
	}
	cfg := defaultConfig()
	cfg.HookModuleLimit = 0
	if err := cfg.check(); err == nil || !strings.Contains(err.Error(), "hook_module_limit") {
		t.Fatalf("check of hook_module_limit 0: %v", err)
	}
}

// TestHookLimitsSetting: hook_limits in the file bounds what a module may
// declare on this server: a limit set lower than a module needs refuses
// it at upload with 400 naming the limit; a misspelt key is named and a
// negative limit refused.
func TestHookLimitsSetting(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tight := write("tight.yaml", "hook_limits:\n  max_functions: 3\n  compile_timeout: 30s\n")
	c := resolveFor(t, []string{"--config", tight}, nil)
	if c.HookLimits.MaxFunctions != 3 || time.Duration(c.HookLimits.CompileTimeout) != 30*time.Second || c.check() != nil {
		t.Fatalf("hook_limits = %+v (check: %v)", c.HookLimits, c.check())
	}
	if err := resolveFor(t, []string{"--config", write("neg.yaml", "hook_limits:\n  max_nesting: -1\n")}, nil).check(); err == nil ||
		!strings.Contains(err.Error(), "hook_limits.max_nesting -1") {
		t.Fatalf("negative limit: %v", err)
	}
	fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	addServeFlags(fl)
	if err := fl.Parse([]string{"--config", write("typo.yaml", "hook_limits:\n  max_function: 3\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := resolveConfig(fl, func(string) string { return "" }); err == nil ||
		!strings.Contains(err.Error(), "unknown key hook_limits.max_function (did you mean hook_limits.max_functions?)") {
		t.Fatalf("misspelt key: %v", err)
	}

	// Through strata serve: the example module has more than 3 functions.
	p := startServer(t, filepath.Join(dir, "data"), "--config", tight)
	wasm, err := os.ReadFile(builtHook(t, "wat"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("PUT", p.url+"/api/hooks/titles", bytes.NewReader(wasm))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/wasm")
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), "max_functions") {
		t.Fatalf("module over max_functions: %s %s", resp.Status, raw)
	}
}
