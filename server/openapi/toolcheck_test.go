package openapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// toolDir holds the pinned third-party OpenAPI tools (package.json and
// package-lock.json; `make openapi-tools` runs npm ci there), the Redocly
// configuration and the TypeScript client the tools are run with.
const toolDir = "testdata/toolcheck"

// toolBin returns the directory of the installed tools' executables. When
// they are not installed the test fails on CI (CI is set) and is skipped
// elsewhere.
func toolBin(t *testing.T) string {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join(toolDir, "node_modules", ".bin"))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, tool := range []string{"redocly", "validate-api", "openapi-typescript", "tsc"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("the third-party OpenAPI tools are not installed (missing %s); run `make openapi-tools`",
			strings.Join(missing, ", "))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// run runs a tool of bin in dir and returns its standard output; a failure
// to start or a non-zero exit is returned with its output.
func run(ctx context.Context, dir, bin, tool string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, tool), args...)
	cmd.Dir = dir
	// No telemetry or update check: the tools run offline.
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s%s", tool, strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// TestThirdPartyTools runs the document of a server with richTypes through
// the tools its users run: Redocly's linter (recommended rules, no error
// and no warning), an OpenAPI 3.1 validator, and openapi-typescript, whose
// output must let a small client (testdata/toolcheck/client.ts) pass
// tsc --strict.
func TestThirdPartyTools(t *testing.T) {
	bin := toolBin(t)
	work := t.TempDir()
	docPath := filepath.Join(work, "openapi.json")
	if err := os.WriteFile(docPath, newRichServer(t).document(), 0o644); err != nil {
		t.Fatal(err)
	}
	// A new server, with no type yet, is the first document a user lints.
	emptyPath := filepath.Join(work, "empty.json")
	if err := os.WriteFile(emptyPath, newServer(t, nil).document(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-5*time.Second))
		defer cancel()
	}
	dir, err := filepath.Abs(toolDir)
	if err != nil {
		t.Fatal(err)
	}

	// The tools run one after the other: each is a node process that keeps
	// a core busy.
	for name, path := range map[string]string{"rich": docPath, "empty": emptyPath} {
		t.Run("redocly lint/"+name, func(t *testing.T) { lint(ctx, t, dir, bin, path) })
	}

	t.Run("openapi-schema-validator", func(t *testing.T) {
		for _, path := range []string{docPath, emptyPath} {
			validate(ctx, t, dir, bin, path)
		}
	})

	t.Run("openapi-typescript and tsc --strict", func(t *testing.T) {
		if _, err := run(ctx, dir, bin, "openapi-typescript", docPath, "--output", filepath.Join(work, "schema.ts")); err != nil {
			t.Fatal(err)
		}
		client, err := os.ReadFile(filepath.Join(dir, "client.ts"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, "client.ts"), client, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = run(ctx, work, bin, "tsc", "--strict", "--noEmit", "--noUnusedLocals",
			"--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler", "client.ts")
		if err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				t.Fatalf("the generated types do not type-check the client:\n%v", err)
			}
			t.Fatal(err)
		}
	})
}

// lint runs Redocly's linter on the document at path and fails t on any
// error or warning.
func lint(ctx context.Context, t *testing.T, dir, bin, path string) {
	out, err := run(ctx, dir, bin, "redocly", "lint", "--config", "redocly.yaml", "--format", "json", path)
	var report struct {
		Totals   struct{ Errors, Warnings int }
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string
			Message  string
			Location []struct{ Pointer string }
		}
	}
	if jerr := json.Unmarshal(out, &report); jerr != nil {
		t.Fatalf("lint report: %v (%v)", jerr, err)
	}
	for _, p := range report.Problems {
		var at []string
		for _, l := range p.Location {
			at = append(at, l.Pointer)
		}
		t.Errorf("%s %s: %s (at %s)", p.Severity, p.RuleID, p.Message, strings.Join(at, ", "))
	}
	if report.Totals.Errors != 0 || report.Totals.Warnings != 0 {
		t.Errorf("redocly lint: %d errors, %d warnings", report.Totals.Errors, report.Totals.Warnings)
	}
	if err != nil && report.Totals.Errors == 0 {
		t.Error(err)
	}
}

// validate runs the OpenAPI schema validator on the document at path.
func validate(ctx context.Context, t *testing.T, dir, bin, path string) {
	out, err := run(ctx, dir, bin, "validate-api", path)
	if err != nil {
		t.Fatal(err)
	}
	var result struct{ Valid bool }
	if err := json.Unmarshal(out, &result); err != nil {
		t.Fatalf("validator output %q: %v", out, err)
	}
	if !result.Valid {
		t.Errorf("%s is not a valid OpenAPI document: %s", filepath.Base(path), out)
	}
}
