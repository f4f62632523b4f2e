package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	wasmhooks "github.com/strata-dev/strata/examples/wasm-hooks"
	"github.com/strata-dev/strata/hooks"
)

func hookCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hook",
		Short: "Develop hook modules: run one locally, replay one over a server's data, or start a new one from an example",
	}
	cmd.AddCommand(hookTestCommand(), hookReplayCommand(), hookNewCommand())
	return cmd
}

// hookEvent is the input file of strata hook test: the input envelope's
// fields (abi and hook are filled in).
type hookEvent struct {
	Stage     string           `json:"stage"`
	Type      string           `json:"type"`
	ID        string           `json:"id"`
	Data      json.RawMessage  `json:"data"`
	Previous  json.RawMessage  `json:"previous"`
	Principal *hooks.Principal `json:"principal"`
	Config    json.RawMessage  `json:"config"`
}

func hookTestCommand() *cobra.Command {
	var (
		stage, input string
		timeout      time.Duration
		memoryMB     int
	)
	cmd := &cobra.Command{
		Use:   "test <module.wasm>",
		Short: "Run a hook module once and print its output envelope, logs, time and memory",
		Long: "Runs the module once in the same sandbox the server uses. --input names a JSON file\n" +
			"holding the input envelope's fields (stage, type, id, data, previous, principal, config);\n" +
			"--stage overrides its stage. Exit status 0 when the hook allows, 1 when it rejects or fails.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			wasm, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var ev hookEvent
			if input != "" {
				raw, err := os.ReadFile(input)
				if err != nil {
					return err
				}
				dec := json.NewDecoder(bytes.NewReader(raw))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&ev); err != nil {
					return fmt.Errorf("input %s: %w", input, err)
				}
			}
			if stage != "" {
				ev.Stage = stage
			}
			if ev.Stage == "" {
				ev.Stage = "validate"
			}
			if ev.Type == "" {
				ev.Type = "test"
			}
			if ev.Data == nil {
				ev.Data = json.RawMessage("{}")
			}
			ctx := cmd.Context()
			rt, err := hooks.New(ctx)
			if err != nil {
				return err
			}
			defer rt.Close(ctx)
			name := moduleName(args[0])
			if _, err := rt.Register(ctx, name, wasm); err != nil {
				return err
			}
			res, err := rt.Call(ctx, name, hooks.Input{
				Stage: ev.Stage, Type: ev.Type, ID: ev.ID, Data: ev.Data, Previous: ev.Previous,
				Principal: ev.Principal, Config: ev.Config,
				Request: hooks.RequestInfo{ID: "hook-test", Time: time.Now().UTC().Format(time.RFC3339Nano)},
			}, hooks.Limits{Timeout: timeout, MemoryMB: memoryMB})
			out := cmd.OutOrStdout()
			if err != nil {
				fmt.Fprintf(out, "failed: %v\n", err)
				return errHookRejected
			}
			var pretty bytes.Buffer
			if json.Indent(&pretty, res.Raw, "", "  ") != nil {
				pretty.Write(res.Raw)
			}
			fmt.Fprintf(out, "output:\n%s\n", pretty.String())
			for _, l := range res.Logs {
				fmt.Fprintf(out, "log[%s]: %s\n", logLevel(l.Level), l.Message)
			}
			fmt.Fprintf(out, "time: %s\nmemory: %d KiB\nsha256: %s\n", res.Duration, res.MemoryBytes/1024, res.SHA256)
			if !res.Output.Allow {
				return errHookRejected
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&stage, "stage", "", "stage to run (validate, before_create, …); overrides the input's")
	cmd.Flags().StringVar(&input, "input", "", "JSON file with the input envelope's fields")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "time limit (default 100ms)")
	cmd.Flags().IntVar(&memoryMB, "memory", 0, "memory limit in MiB (default 16)")
	return cmd
}

// errHookRejected makes the command exit 1 without an extra message: the
// outcome was already printed.
var errHookRejected = &quietError{"hook rejected or failed"}

type quietError struct{ msg string }

func (e *quietError) Error() string { return e.msg }

func logLevel(l int) string {
	switch l {
	case 0:
		return "debug"
	case 1:
		return "info"
	case 2:
		return "warn"
	}
	return "error"
}

// moduleName derives a registrable name from a file name.
func moduleName(path string) string {
	base := filepath.Base(path)
	base = base[:len(base)-len(filepath.Ext(base))]
	out := make([]byte, 0, len(base))
	for _, c := range []byte(base) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '-':
			out = append(out, c)
		case 'A' <= c && c <= 'Z':
			out = append(out, c+'a'-'A')
		default:
			out = append(out, '_')
		}
	}
	if len(out) == 0 || len(out) > 64 {
		return "module"
	}
	return string(out)
}

func hookNewCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "new <language> <name>",
		Short: "Start a hook in a new folder <name> from the example of a language (" + strings.Join(wasmhooks.Languages(), ", ") + ")",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			lang, name := args[0], args[1]
			tmpl, ok := wasmhooks.Template(lang)
			if !ok {
				return fmt.Errorf("no example for %q; choose one of %s", lang, strings.Join(wasmhooks.Languages(), ", "))
			}
			if _, err := os.Stat(name); err == nil {
				return fmt.Errorf("%s already exists", name)
			}
			err := fs.WalkDir(tmpl, ".", func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				raw, err := fs.ReadFile(tmpl, path)
				if err != nil {
					return err
				}
				dst := filepath.Join(name, path)
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return err
				}
				return os.WriteFile(dst, raw, 0o644)
			})
			if err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
			module := filepath.Base(name) + ".wasm"
			if err := os.WriteFile(filepath.Join(name, "BUILDING.md"), buildingGuide(lang, module), 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(name, "event.json"), wasmhooks.Event(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s/ from the %s example; BUILDING.md says how to build it,\n"+
				"then try it with: strata hook test %s --input event.json\n", name, lang, module)
			return nil
		},
	}
}

// buildCommands are the shell commands that build a new hook of each
// language into module, run in its folder: the examples' Makefile rules,
// with the new file names.
var buildCommands = map[string]string{
	"go": "go mod init hook && go get github.com/strata-dev/strata/sdk/hookguest\n" +
		"GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o {module} .",
	"c": "clang-14 --target=wasm32-wasi -O2 -Wall -mexec-model=reactor -Wl,--strip-debug -o {module} hook.c",
	"rust": "rustc --edition 2021 --crate-type=cdylib --target wasm32-unknown-unknown -O \\\n" +
		"  -C lto -C codegen-units=1 -C panic=abort -C strip=debuginfo -o {module} hook.rs",
	"assemblyscript": "npm ci --no-audit --no-fund\n" +
		"node_modules/.bin/asc hook.ts --config asconfig.json --target release -o {module}",
	"wat": "wat2wasm -o {module} hook.wat",
}

// buildNotes are what a language's build needs installed.
var buildNotes = map[string]string{
	"go":             "Go 1.24 or later. Inside a checkout of Strata, `go mod edit -replace github.com/strata-dev/strata=<checkout>` first.",
	"c":              "Debian: clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 (another clang works: any with a wasm32-wasi sysroot, given by --sysroot).",
	"rust":           "Debian: rustc libstd-rust-dev-wasm32 (or rustup target add wasm32-unknown-unknown).",
	"assemblyscript": "Node.js and npm; asc comes from the pinned package in package.json.",
	"wat":            "Debian: wabt.",
}

// buildingGuide is the BUILDING.md of a new hook: the command that builds
// this hook, then the examples' guide for the details.
func buildingGuide(lang, module string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Building %s\n\nIn this folder:\n\n```sh\n%s\n```\n\n%s\n\n", module,
		strings.ReplaceAll(buildCommands[lang], "{module}", module), buildNotes[lang])
	fmt.Fprintf(&b, "Then run it once on the example input, in the same sandbox as the server:\n\n"+
		"```sh\nstrata hook test %s --input event.json\n```\n\n"+
		"`event.json` holds the input envelope's fields (stage, type, id, data, previous,\n"+
		"principal, config); docs/hooks.md describes them.\n\n---\n\n", module)
	b.Write(wasmhooks.Guide())
	return b.Bytes()
}
