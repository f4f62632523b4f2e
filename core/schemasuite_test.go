package core

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/strata-dev/strata/plugins/memory"
	"github.com/strata-dev/strata/sdk/storage"
)

var updateSchemaSuite = flag.Bool("update-schema-suite", false,
	"rewrite "+schemaSuiteExpected+" from the failures seen (then check every line by hand)")

const (
	schemaSuiteDir      = "testdata/JSON-Schema-Test-Suite"
	schemaSuiteExpected = schemaSuiteDir + "/expected-failures.txt"
)

// suiteFile is one file of the JSON-Schema-Test-Suite: cases, each a schema
// and instances that it must accept (valid) or refuse.
type suiteFile []struct {
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Tests       []struct {
		Description string          `json:"description"`
		Data        json.RawMessage `json:"data"`
		Valid       bool            `json:"valid"`
	} `json:"tests"`
}

// TestJSONSchemaTestSuite runs the required draft 2020-12 tests of the
// official JSON-Schema-Test-Suite through core, and the optional ones on
// ECMA-262 regular expressions (patterns are ECMA-262, not RE2). Each case's schema becomes
// a type through Manager.CreateType; object instances are written with
// Manager.Create (stored means valid, ErrValidation means invalid). Other
// instances, which no resource can be, are validated by the compiled
// schema, compiled by compileSchema as every type's is.
//
// Where Strata differs on purpose (format is asserted, remote $refs are
// refused), the test is listed in expected-failures.txt with the reason.
// The test fails on a failure not in that list and on a listed test that
// passes, so the list stays exact. -update-schema-suite rewrites it.
func TestJSONSchemaTestSuite(t *testing.T) {
	ctx := AsSystem(context.Background())
	expected := readSuiteExpected(t)
	root := filepath.Join(schemaSuiteDir, "tests", "draft2020-12")
	var files []string
	for _, pattern := range []string{"*.json", "optional/*.json", "optional/format/*.json"} {
		more, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, more...)
	}
	if len(files) == 0 {
		t.Fatal("no suite files")
	}
	store, err := memory.Open(ctx, "", storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(ctx, store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); store.Close() })

	seen := map[string]string{} // failing test -> what happened
	visited := map[string]bool{}
	var total, viaManager int
	n := 0
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var suite suiteFile
		if err := json.Unmarshal(raw, &suite); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		file, err := filepath.Rel(root, path)
		if err != nil {
			t.Fatal(err)
		}
		file = filepath.ToSlash(file)
		for i, c := range suite {
			n++
			name := fmt.Sprintf("suite_%d", n)
			_, typeErr := m.CreateType(ctx, Type{Name: name, Schema: c.Schema})
			var sch *typeSchema
			doc, compileErr := jsonschema.UnmarshalJSON(bytes.NewReader(c.Schema))
			if compileErr == nil {
				sch, compileErr = compileSchema(name, doc, false)
			}
			for j, tc := range c.Tests {
				total++
				key := fmt.Sprintf("%s %d/%d", file, i, j)
				visited[key] = true
				data, err := decodeJSON(tc.Data)
				if err != nil {
					t.Fatalf("%s: decode instance: %v", key, err)
				}
				var accepted bool
				var why string
				_, isObject := data.(map[string]any)
				switch {
				case compileErr != nil:
					why = "schema refused: " + compileErr.Error()
				case isObject && typeErr != nil:
					// The type was refused although the schema compiles: its
					// root refuses objects, so no object can be stored.
					why = "type refused: " + typeErr.Error()
				case isObject:
					viaManager++
					_, err := m.Create(ctx, name, tc.Data, WriteOptions{})
					accepted = err == nil
					if err != nil && !errors.Is(err, ErrValidation) {
						why = "create: " + err.Error()
						accepted = !tc.Valid // a different refusal is a failure either way
					} else if err != nil {
						why = "create: " + err.Error()
					}
				default:
					err := sch.Validate(data)
					accepted = err == nil
					var ve *jsonschema.ValidationError
					if err != nil && !errors.As(err, &ve) && !errors.Is(err, ErrValidation) {
						why = "validate: " + err.Error()
						accepted = !tc.Valid
					} else if err != nil {
						why = "validate: " + err.Error()
					}
				}
				if accepted == tc.Valid && (compileErr == nil) {
					if _, listed := expected[key]; listed && !*updateSchemaSuite {
						t.Errorf("%s passes now; remove it from %s\n  %s: %s", key, schemaSuiteExpected, c.Description, tc.Description)
					}
					continue
				}
				if why == "" {
					why = "accepted"
				}
				seen[key] = fmt.Sprintf("%s: %s (valid: %v) -> %s", c.Description, tc.Description, tc.Valid, oneLine(why))
				if _, listed := expected[key]; !listed && !*updateSchemaSuite {
					t.Errorf("%s fails and is not an expected failure\n  %s", key, seen[key])
				}
			}
		}
	}
	for key := range expected {
		if !visited[key] && !*updateSchemaSuite {
			t.Errorf("%s is listed in %s but is not a test of the suite", key, schemaSuiteExpected)
		}
	}
	t.Logf("%d tests (%d objects through Manager.Create), %d expected failures", total, viaManager, len(seen))
	if *updateSchemaSuite {
		writeSuiteExpected(t, expected, seen)
	}
}

// readSuiteExpected reads the expected failures: "file case/test" then,
// after " # ", the reason (kept by -update-schema-suite).
func readSuiteExpected(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(schemaSuiteExpected)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, reason, _ := strings.Cut(line, " # ")
		out[strings.TrimSpace(key)] = reason
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func writeSuiteExpected(t *testing.T, old, seen map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(suiteExpectedHeader)
	for _, k := range keys {
		reason := old[k]
		if reason == "" {
			reason = "TODO " + seen[k]
		}
		fmt.Fprintf(&b, "%s # %s\n", k, reason)
	}
	if err := os.WriteFile(schemaSuiteExpected, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

const suiteExpectedHeader = `# Tests of the JSON-Schema-Test-Suite (tests/draft2020-12: the required
# tests, and the optional ones on regular expressions) that Strata fails
# on purpose. One per line: file case/test (indexes from 0 into the file's
# cases and the case's tests) # why.
# TestJSONSchemaTestSuite fails on a failure missing here and on a line
# whose test passes; go test ./core -run TestJSONSchemaTestSuite
# -update-schema-suite rewrites the keys and keeps the reasons.
`

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
