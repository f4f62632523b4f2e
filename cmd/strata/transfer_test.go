package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// strata runs the strata binary with args as an administrator and returns
// its stdout, its stderr and whether it succeeded.
func strata(t *testing.T, args ...string) (string, string, bool) {
	t.Helper()
	cmd := exec.Command(strataBin, args...)
	cmd.Env = append(os.Environ(), "STRATA_TOKEN="+adminKey)
	cmd.Dir = t.TempDir()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), err == nil
}

// TestExportImportBackupCLI drives strata export, import and backup
// against running servers: an export imported into an empty server
// exports the same lines; a bad file is refused naming its line; a backup
// opens as the data directory of another server.
func TestExportImportBackupCLI(t *testing.T) {
	src := startServer(t, t.TempDir(), noRateLimits...)
	if st, body := call(t, "POST", src.url+"/api/types", docsType); st != 201 {
		t.Fatalf("define type: %d %s", st, body)
	}
	for i, body := range []string{`{"id":"a","n":1}`, `{"id":"b","n":2,"pad":"x"}`} {
		if st, raw := call(t, "POST", src.url+"/api/docs", body); st != 201 {
			t.Fatalf("create %d: %d %s", i, st, raw)
		}
	}
	if st, raw := call(t, "PUT", src.url+"/api/docs/a", `{"n":1,"w":7}`); st != 200 {
		t.Fatalf("update: %d %s", st, raw)
	}

	exported, stderr, ok := strata(t, "export", "--url", src.url)
	if !ok || strings.Count(exported, "\n") != 3 {
		t.Fatalf("export: ok=%v %s\n%s", ok, stderr, exported)
	}
	file := filepath.Join(t.TempDir(), "export.ndjson")
	if err := os.WriteFile(file, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := startServer(t, t.TempDir(), noRateLimits...)
	out, stderr, ok := strata(t, "import", file, "--url", dst.url)
	if !ok || !strings.Contains(out, "imported 1 types, 2 resources, 3 revisions") {
		t.Fatalf("import: ok=%v %s %s", ok, out, stderr)
	}
	again, _, _ := strata(t, "export", "--url", dst.url)
	if again != exported {
		t.Fatalf("export after import:\n%s\nwant\n%s", again, exported)
	}
	typeOnly, _, ok := strata(t, "export", "--type", "docs", "--url", dst.url)
	if !ok || strings.Count(typeOnly, "\n") != 2 {
		t.Fatalf("export --type:\n%s", typeOnly)
	}

	// Importing it again conflicts, unless skipped.
	if _, stderr, ok := strata(t, "import", file, "--url", dst.url); ok || !strings.Contains(stderr, "409") || !strings.Contains(stderr, "import line 2") {
		t.Fatalf("second import: ok=%v %s", ok, stderr)
	}
	if out, stderr, ok := strata(t, "import", file, "--url", dst.url, "--on-conflict", "skip"); !ok || !strings.Contains(out, "(2 skipped, 0 replaced)") {
		t.Fatalf("import --on-conflict skip: %s %s", out, stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.ndjson")
	if err := os.WriteFile(bad, []byte(strings.Replace(exported, `"w":7`, `"w":8`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := startServer(t, t.TempDir(), noRateLimits...)
	if _, stderr, ok := strata(t, "import", bad, "--url", empty.url); ok || !strings.Contains(stderr, "import line 2: revision 2: data_hash") {
		t.Fatalf("bad import: ok=%v %s", ok, stderr)
	}

	// A backup, checked, opens as a data directory.
	restored := t.TempDir()
	to := filepath.Join(restored, "strata.db")
	out, stderr, ok = strata(t, "backup", "--url", src.url, "--to", to)
	if !ok || !strings.Contains(out, "checked: "+to) || strings.Contains(out, "\r") {
		t.Fatalf("backup: ok=%v %q %s", ok, out, stderr)
	}
	if entries, _ := os.ReadDir(restored); len(entries) != 1 {
		t.Fatalf("the backup left files beside it: %v", entries)
	}
	// A damaged download is refused and the old backup stays.
	if _, stderr, ok := strata(t, "backup", "--url", dst.url+"/nowhere", "--to", to); ok || !strings.Contains(stderr, "404") {
		t.Fatalf("backup from a bad URL: ok=%v %s", ok, stderr)
	}
	if err := verifyBackup(to); err != nil {
		t.Fatal(err)
	}
	back := startServer(t, restored, noRateLimits...)
	fromBackup, _, _ := strata(t, "export", "--url", back.url)
	if fromBackup != exported {
		t.Fatalf("export of the restored backup:\n%s\nwant\n%s", fromBackup, exported)
	}
	if st, raw := call(t, "GET", back.url+"/api/docs?filter=w%3D7", ""); st != 200 || !strings.Contains(string(raw), `"id":"a"`) {
		t.Fatalf("search of the restored backup: %d %s", st, raw)
	}

	garbage := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte{0xAB}, 1<<16), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := verifyBackup(garbage); err == nil {
		t.Fatal("verifyBackup accepted garbage")
	}
}
