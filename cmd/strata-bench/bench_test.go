package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for strata-bench as the baseline
// child: run re-executes os.Executable, which under `go test` is this
// binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == baselineCommand {
		os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestQuickBench builds strata and runs the whole bench in quick mode: the
// report must have a row for every scenario and for the size run, and no
// request may fail.
func TestQuickBench(t *testing.T) {
	if testing.Short() {
		t.Skip("builds strata and runs two servers")
	}
	bin := filepath.Join(t.TempDir(), "strata")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../strata")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build strata: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	args := []string{"-strata", bin, "-quick", "-duration", "300ms", "-docs", "1000"}
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	t.Logf("report:\n%s", out)

	header, rows := markdownTable(t, out, "Scenario")
	errorsCol := slices.Index(header, "Errors B/S")
	for _, sc := range (&bench{}).scenarios() {
		r, ok := rows[sc.name]
		if !ok {
			t.Errorf("no row for %q", sc.name)
			continue
		}
		if r[errorsCol] != "0/0" {
			t.Errorf("%s: errors %s, want 0/0", sc.name, r[errorsCol])
		}
	}
	header, rows = markdownTable(t, out, "Documents")
	r, ok := rows["1,000"]
	if !ok {
		t.Fatalf("no size run row for 1,000 documents")
	}
	if got := r[slices.Index(header, "Errors")]; got != "0" {
		t.Errorf("size run: errors %s, want 0", got)
	}
}

// markdownTable finds the table whose first header cell is first and
// returns its header and its rows keyed by their first cell.
func markdownTable(t testing.TB, md, first string) ([]string, map[string][]string) {
	t.Helper()
	var header []string
	rows := map[string][]string{}
	for line := range strings.Lines(md) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if header != nil {
				break // the table ended
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case header == nil && cells[0] == first:
			header = cells
		case header != nil && !strings.HasPrefix(cells[0], "---"):
			rows[cells[0]] = cells
		}
	}
	if header == nil {
		t.Fatalf("no table headed %q in:\n%s", first, md)
	}
	return header, rows
}
