package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsExample builds the minimal module of docs/hooks.md and checks
// that it behaves as the document says.
func TestDocsExample(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "hooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```wat\n")
	if !ok {
		t.Fatal("docs/hooks.md has no WAT example")
	}
	src, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("unterminated WAT example")
	}
	path := filepath.Join(t.TempDir(), "allow.wat")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRuntime(t)
	register(t, r, "docs", compileWAT(t, path))
	in := sampleInput()
	in.Data = []byte(`{"big":"` + strings.Repeat("x", 100_000) + `"}`) // more than one page
	res, err := r.Call(t.Context(), "docs", in, relaxed)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Output.Allow || len(res.Logs) != 1 || res.Logs[0] != (LogLine{Level: levelInfo, Message: "checked"}) {
		t.Errorf("the documented module answered %s with logs %+v", res.Raw, res.Logs)
	}
}
