package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/strata-dev/strata/plugins/postgres/pgtest"
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

// TestQuickBench builds strata (and the example hooks, if missing) and
// runs the whole bench in quick mode: the report must have a row for every
// scenario, for every hook language, for the hooked load, for every search measure and query,
// for every realtime measure, for every PostgreSQL measure (on the bolt
// node, one node and two nodes over PostgreSQL) and for the size run, and
// no request may fail.
func TestQuickBench(t *testing.T) {
	if testing.Short() {
		t.Skip("builds strata and runs two servers")
	}
	bin := filepath.Join(t.TempDir(), "strata")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../strata")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build strata: %v\n%s", err, out)
	}
	hooksDir := buildHooks(t)
	var stdout, stderr bytes.Buffer
	args := []string{"-strata", bin, "-hooks-dir", hooksDir, "-quick", "-duration", "300ms", "-docs", "1000", "-search-docs", "1000",
		"-postgres", pgtest.Server()}
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
	header, rows = markdownTable(t, out, "Language")
	errorsCol = slices.Index(header, "Errors P/H")
	if len(rows) != len(hookLanguages) {
		t.Errorf("hook overhead table has %d rows, want %d", len(rows), len(hookLanguages))
	}
	for _, l := range hookLanguages {
		r, ok := rows[l.name]
		if !ok {
			t.Errorf("no hook overhead row for %q", l.name)
			continue
		}
		if r[errorsCol] != "0/0" {
			t.Errorf("hook %s: errors %s, want 0/0", l.name, r[errorsCol])
		}
	}
	header, rows = markdownTable(t, out, "Run")
	errorsCol = slices.Index(header, "Errors")
	var hookedRuns []string
	for _, s := range hookedSettings {
		for _, run := range []string{"unhooked creates, solo", "unhooked creates, beside the hooked load", "hooked creates (the load)"} {
			hookedRuns = append(hookedRuns, run+" ("+s.name+")")
		}
	}
	for _, run := range hookedRuns {
		r, ok := rows[run]
		if !ok {
			t.Errorf("no hooked-load row for %q", run)
			continue
		}
		if r[errorsCol] != "0" {
			t.Errorf("hooked load %s: errors %s, want 0", run, r[errorsCol])
		}
	}
	header, rows = markdownTable(t, out, "Search measure")
	errorsCol = slices.Index(header, "Errors")
	for _, m := range []string{"indexing throughput", "index lag p50", "index lag p99", "index size"} {
		r, ok := rows[m]
		if !ok {
			t.Errorf("no search row for %q", m)
			continue
		}
		if got := r[errorsCol]; got != "0" && got != "—" {
			t.Errorf("search %s: errors %s, want 0", m, got)
		}
	}
	header, rows = markdownTable(t, out, "Search query")
	errorsCol = slices.Index(header, "Errors B/S")
	for _, sc := range (&bench{}).searchScenarios() {
		r, ok := rows[sc.name]
		if !ok {
			t.Errorf("no search query row for %q", sc.name)
			continue
		}
		if r[errorsCol] != "0/0" {
			t.Errorf("search query %s: errors %s, want 0/0", sc.name, r[errorsCol])
		}
	}
	header, rows = markdownTable(t, out, "Realtime measure")
	errorsCol = slices.Index(header, "Errors")
	for _, m := range []string{"write → event latency p50", "write → event latency p99", "events delivered/s", "creates with idle subscribers",
		"creates with idle subscribers and one webhook"} {
		r, ok := rows[m]
		if !ok {
			t.Errorf("no realtime row for %q", m)
			continue
		}
		if got := r[errorsCol]; got != "0" {
			t.Errorf("realtime %s: errors %s, want 0", m, got)
		}
	}
	// The webhook row is measured: a verdict, not a TODO, and a receiver
	// that got deliveries (a verdict of MISS on the ratio alone is the
	// machine's load, but nothing delivered is a broken run).
	if r, ok := rows["creates with idle subscribers and one webhook"]; ok {
		if v := r[slices.Index(header, "Result")]; v != "PASS" && v != "MISS" {
			t.Errorf("realtime webhook row: result %q, want PASS or MISS", v)
		}
		if details := r[slices.Index(header, "Details")]; !strings.Contains(details, "deliveries") || strings.Contains(details, "got 0 deliveries") {
			t.Errorf("realtime webhook row: details %q, want deliveries received", details)
		}
	}
	checkPostgresRows(t, out)
	header, rows = markdownTable(t, out, "Documents")
	r, ok := rows["1,000"]
	if !ok {
		t.Fatalf("no size run row for 1,000 documents")
	}
	if got := r[slices.Index(header, "Errors")]; got != "0" {
		t.Errorf("size run: errors %s, want 0", got)
	}
}

// checkPostgresRows checks the PostgreSQL run's table in the report md:
// a row for every measure, each with requests answered on the three
// clusters, ratios to the bolt node that agree with them, a verdict and
// no errors; not whether the targets are met, which depends on the
// machine. A run skipped for want of a server passes, but not under CI,
// where the bench itself fails.
func checkPostgresRows(t *testing.T, md string) {
	t.Helper()
	if i := strings.Index(md, "### PostgreSQL"); i >= 0 && strings.Contains(md[i:], "\nSkipped: ") {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL run skipped under CI")
		}
		t.Logf("PostgreSQL run skipped: no server (CI would fail)")
		return
	}
	header, rows := markdownTable(t, md, "PostgreSQL measure")
	col := func(name string) int {
		i := slices.Index(header, name)
		if i < 0 {
			t.Fatalf("PostgreSQL table: no column %q in %q", name, header)
		}
		return i
	}
	rate := func(r []string, name string) float64 {
		x, err := strconv.ParseFloat(strings.ReplaceAll(r[col(name)], ",", ""), 64)
		if err != nil || x <= 0 {
			t.Errorf("PostgreSQL %s: %s %q, want a positive rate", r[0], name, r[col(name)])
		}
		return x
	}
	ratio := func(r []string, name string) float64 {
		x, err := strconv.ParseFloat(strings.TrimSuffix(r[col(name)], "×"), 64)
		if err != nil {
			t.Errorf("PostgreSQL %s: %s %q, want a ratio", r[0], name, r[col(name)])
		}
		return x
	}
	ms := (&bench{}).pgMeasures()
	if len(rows) != len(ms) {
		t.Errorf("PostgreSQL table has %d rows, want %d", len(rows), len(ms))
	}
	for _, m := range ms {
		r, ok := rows[m.name]
		if !ok {
			t.Errorf("no PostgreSQL row for %q", m.name)
			continue
		}
		bolt, one, two := rate(r, "bbolt req/s"), rate(r, "PG 1 node req/s"), rate(r, "PG 2 nodes req/s")
		// The rates are rounded to whole requests: allow for it.
		for _, c := range []struct {
			name string
			rate float64
		}{{"1 node ÷ bbolt", one}, {"2 nodes ÷ bbolt", two}} {
			if got, want := ratio(r, c.name), c.rate/bolt; bolt > 0 && (got < want-0.01 || got > want+0.01) {
				t.Errorf("PostgreSQL %s: %s %.2f, want %.2f from the rates", m.name, c.name, got, want)
			}
		}
		if v := r[col("Result")]; v != "PASS" && v != "MISS" {
			t.Errorf("PostgreSQL %s: result %q, want PASS or MISS", m.name, v)
		}
		if got := r[col("Errors bolt/1/2")]; got != "0/0/0" {
			t.Errorf("PostgreSQL %s: errors %s, want 0/0/0", m.name, got)
		}
	}
}

// buildHooks returns the directory of the example hook modules, building
// them with make if any is missing.
func buildHooks(t testing.TB) string {
	t.Helper()
	const examples = "../../examples/wasm-hooks"
	dir := filepath.Join(examples, "build")
	for _, l := range hookLanguages {
		if _, err := os.Stat(l.file(dir)); err == nil {
			continue
		}
		out, err := exec.CommandContext(t.Context(), "make", "-C", examples).CombinedOutput()
		if err != nil {
			t.Fatalf("build the example hooks: %v\n%s", err, out)
		}
		break
	}
	return dir
}

// TestTitlesNotAllCaps checks that the documents the bench writes pass the
// example hook: their titles have a lowercase letter.
func TestTitlesNotAllCaps(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var doc []byte
	for i := range 1000 {
		doc = appendDoc(doc[:0], rng, uint64(i))
		var d struct{ Title string }
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatalf("document %s: %v", doc, err)
		}
		if !strings.ContainsFunc(d.Title, unicode.IsLower) {
			t.Fatalf("title %q has no lowercase letter: the example hook would reject it", d.Title)
		}
	}
}

// TestHookModulesMissing checks that a missing hook module fails the bench
// before it starts anything, unless -skip-hooks.
func TestHookModulesMissing(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "strata")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	var stderr bytes.Buffer
	_, err := parseOptions([]string{"-strata", bin, "-hooks-dir", empty}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "go.wasm") {
		t.Errorf("parseOptions with an empty -hooks-dir: %v, want an error naming go.wasm", err)
	}
	if _, err := parseOptions([]string{"-strata", bin, "-hooks-dir", empty, "-skip-hooks"}, &stderr); err != nil {
		t.Errorf("parseOptions with -skip-hooks: %v", err)
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
