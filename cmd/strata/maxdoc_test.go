package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMaxDocumentSizeSetting: max_document_size comes from the file, the
// environment or a flag, and follows body_limit when none sets it.
func TestMaxDocumentSizeSetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(file, []byte("body_limit: 4096\nmax_document_size: 3000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"default: the default body limit", nil, nil, 10 << 20},
		{"default: the body limit set", []string{"--body-limit", "5000"}, nil, 5000},
		{"file", []string{"--config", file}, nil, 3000},
		{"env over file", []string{"--config", file}, map[string]string{"STRATA_MAX_DOCUMENT_SIZE": "2000"}, 2000},
		{"flag over env", []string{"--max-document-size", "1000"}, map[string]string{"STRATA_MAX_DOCUMENT_SIZE": "2000"}, 1000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := resolveFor(t, c.args, c.env).maxDocumentSize(); got != c.want {
				t.Fatalf("max document size %d, want %d", got, c.want)
			}
		})
	}
}

// TestMaxDocumentSizeServed: strata serve enforces the setting: data over
// it is 413 too_large, data within it is stored.
func TestMaxDocumentSizeServed(t *testing.T) {
	p := startServer(t, t.TempDir(), "--max-document-size", "2000")
	if st, raw := call(t, "POST", p.url+"/api/types", `{"name":"notes","schema":{"type":"object"}}`); st != 201 {
		t.Fatalf("create type: %d %s", st, raw)
	}
	st, raw := call(t, "POST", p.url+"/api/notes", `{"text":"`+strings.Repeat("x", 2000)+`"}`)
	if st != 413 || !strings.Contains(string(raw), "too_large") || !strings.Contains(string(raw), "max_document_size is 2000") {
		t.Fatalf("create over the limit: %d %s", st, raw)
	}
	if st, raw := call(t, "POST", p.url+"/api/notes", `{"text":"`+strings.Repeat("x", 1900)+`"}`); st != 201 {
		t.Fatalf("create within the limit: %d %s", st, raw)
	}
}
