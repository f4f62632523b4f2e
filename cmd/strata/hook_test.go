package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func builtHook(t *testing.T, lang string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "examples", "wasm-hooks", "build", lang+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("example hook %s is not built (run `make hooks`): %v", lang, err)
	}
	return path
}

// TestHookTestCommand runs a module once through strata hook test.
func TestHookTestCommand(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, title string
		exitOK      bool
		want        []string
	}{
		{"allows", "Hello World", true, []string{`"slug": "hello-world"`, "log[info]: checked title", "time:", "memory:", "sha256:"}},
		{"rejects", "LOUD", false, []string{`"allow": false`, "title must not be all caps"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			input := filepath.Join(dir, tc.name+".json")
			ev, _ := json.Marshal(map[string]any{"type": "posts", "id": "p1", "data": map[string]any{"title": tc.title}})
			if err := os.WriteFile(input, ev, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(strataBin, "hook", "test", builtHook(t, "c"), "--stage", "validate", "--input", input).CombinedOutput()
			if (err == nil) != tc.exitOK {
				t.Fatalf("exit %v, want ok=%v\n%s", err, tc.exitOK, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestHookNewCommand scaffolds a hook from each example: the folder has
// the source, an example event and a BUILDING.md that gives the command
// building this hook. For the languages whose toolchain is quick (C, WAT)
// the command is run as written and the module tried on the event.
func TestHookNewCommand(t *testing.T) {
	cases := []struct {
		lang, file string
		build      bool // run BUILDING.md's command
	}{
		{"go", "main.go", false},
		{"c", "hook.c", true},
		{"rust", "hook.rs", false},
		{"assemblyscript", "hook.ts", false},
		{"wat", "hook.wat", true},
	}
	block := regexp.MustCompile("(?s)```sh\n(.*?)\n```")
	for _, tc := range cases {
		t.Run(tc.lang, func(t *testing.T) {
			cmd := exec.Command(strataBin, "hook", "new", tc.lang, "myhook")
			cmd.Dir = t.TempDir()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			dir := filepath.Join(cmd.Dir, "myhook")
			for _, f := range []string{tc.file, "BUILDING.md", "event.json"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Fatalf("scaffold lacks %s: %v", f, err)
				}
			}
			guide, _ := os.ReadFile(filepath.Join(dir, "BUILDING.md"))
			m := block.FindSubmatch(guide)
			if m == nil || !strings.Contains(string(m[1]), "-o myhook.wasm") {
				t.Fatalf("BUILDING.md gives no command building myhook.wasm:\n%.600s", guide)
			}
			if tc.lang != "go" && !strings.Contains(string(m[1]), tc.file) {
				t.Fatalf("the build command does not name %s:\n%s", tc.file, m[1])
			}
			if !tc.build {
				return
			}
			sh := exec.Command("sh", "-e", "-c", string(m[1]))
			sh.Dir = dir
			if out, err := sh.CombinedOutput(); err != nil {
				t.Fatalf("BUILDING.md's command failed: %v\n%s\n%s", err, m[1], out)
			}
			run := exec.Command(strataBin, "hook", "test", "myhook.wasm", "--input", "event.json")
			run.Dir = dir
			out, err := run.CombinedOutput()
			if err != nil || !strings.Contains(string(out), `"slug": "hello-world"`) {
				t.Fatalf("strata hook test of the new hook: %v\n%s", err, out)
			}
		})
	}
	if out, err := exec.Command(strataBin, "hook", "new", "cobol", "x").CombinedOutput(); err == nil {
		t.Fatalf("unknown language accepted:\n%s", out)
	}
}

// TestHookTestExampleEvent runs strata hook test with the repository's
// example event on the built example module of each language, as
// docs/hooks.md tells a new user to.
func TestHookTestExampleEvent(t *testing.T) {
	event, err := filepath.Abs(filepath.Join("..", "..", "examples", "wasm-hooks", "event.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"c", "go", "rust", "assemblyscript", "wat"} {
		t.Run(lang, func(t *testing.T) {
			out, err := exec.Command(strataBin, "hook", "test", builtHook(t, lang), "--input", event).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, w := range []string{`"allow": true`, `"slug": "hello-world"`, `"body": "The first post."`, "log[info]: checked title"} {
				if !strings.Contains(string(out), w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestHooksDirReload starts the server with a hooks directory and replaces
// a module file while it runs: the new module takes over without a restart.
func TestHooksDirReload(t *testing.T) {
	hooksDir := t.TempDir()
	first, _ := os.ReadFile(builtHook(t, "c"))
	second, _ := os.ReadFile(builtHook(t, "rust"))
	if err := os.WriteFile(filepath.Join(hooksDir, "titles.wasm"), first, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, t.TempDir(), "--hooks-dir", hooksDir)
	sha := func() string {
		_, raw := call(t, "GET", p.url+"/api/hooks/titles", "")
		var m struct{ SHA256 string }
		_ = json.Unmarshal(raw, &m)
		return m.SHA256
	}
	before := sha()
	if before == "" {
		t.Fatalf("module from the hooks directory not registered\n%s", p.logText())
	}
	if st, raw := call(t, "POST", p.url+"/api/types", `{"name":"posts","schema":{"type":"object"},"hooks":[{"stage":"before_create","module":"titles","timeout_ms":5000}]}`); st != 201 {
		t.Fatalf("define type: %d %s", st, raw)
	}
	if st, raw := call(t, "POST", p.url+"/api/posts", `{"title":"A Title"}`); st != 201 || !strings.Contains(string(raw), `"slug":"a-title"`) {
		t.Fatalf("create: %d %s", st, raw)
	}
	if err := os.WriteFile(filepath.Join(hooksDir, "titles.wasm"), second, 0o644); err != nil {
		t.Fatal(err)
	}
	// The watcher logs a module once it has registered it.
	sum := sha256.Sum256(second)
	waitForLog(t, p, "sha256="+hex.EncodeToString(sum[:]))
	if after := sha(); after == before || after != hex.EncodeToString(sum[:]) {
		t.Fatalf("after the reload the module is %s; want %x", after, sum)
	}
	st, raw := call(t, "POST", p.url+"/api/posts", `{"title":"Another"}`)
	if st != 201 || !strings.Contains(string(raw), sha()) {
		t.Fatalf("create after reload: %d %s", st, raw)
	}
}

// TestHooksDirBadFilesAndRemoval: strata serve starts although files of
// its hooks directory cannot be read or registered (each is logged), and
// a file removed while it runs unregisters its module.
func TestHooksDirBadFilesAndRemoval(t *testing.T) {
	hooksDir := t.TempDir()
	good, _ := os.ReadFile(builtHook(t, "c"))
	if err := os.WriteFile(filepath.Join(hooksDir, "titles.wasm"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hooksDir, "garbage.wasm"), []byte("not a module"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(hooksDir, "nowhere"), filepath.Join(hooksDir, "dangling.wasm")); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, t.TempDir(), "--hooks-dir", hooksDir)
	for _, name := range []string{"garbage.wasm", "dangling.wasm"} {
		if !strings.Contains(p.logText(), name) {
			t.Errorf("nothing logged about %s:\n%s", name, p.logText())
		}
	}
	if st, raw := call(t, "GET", p.url+"/api/hooks/titles", ""); st != 200 {
		t.Fatalf("titles from the hooks directory: %d %s\n%s", st, raw, p.logText())
	}
	if err := os.Remove(filepath.Join(hooksDir, "titles.wasm")); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, p, "hook module unloaded")
	if st, raw := call(t, "GET", p.url+"/api/hooks/titles", ""); st != 404 {
		t.Fatalf("titles after its file was removed: %d %s", st, raw)
	}
}
