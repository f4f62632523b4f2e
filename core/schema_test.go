package core

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/plugins/memory"
	"github.com/strata-dev/strata/sdk/storage"
)

func openMemoryManager(t *testing.T) (*Manager, storage.Store) {
	t.Helper()
	store, err := memory.Open(AsSystem(t.Context()), "", storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(AsSystem(t.Context()), store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); store.Close() })
	return m, store
}

// TestApplyTypesRefusesRootsThatRefuseObjects checks that a type declared
// in the config file goes through the same check as one posted: a root
// schema that cannot accept an object stops the start with an error
// naming the type and the problem.
func TestApplyTypesRefusesRootsThatRefuseObjects(t *testing.T) {
	t.Parallel()
	for _, schema := range []string{`{"type":"array"}`, `{"type":"string"}`, `false`, `{"not":{}}`} {
		t.Run(schema, func(t *testing.T) {
			t.Parallel()
			m, _ := openMemoryManager(t)
			err := m.ApplyTypes(AsSystem(t.Context()), []Type{{Name: "books", Schema: json.RawMessage(schema)}})
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "books") || !strings.Contains(err.Error(), "can never accept a JSON object") {
				t.Fatalf("ApplyTypes(%s) = %v, want ErrInvalid naming books and the object rule", schema, err)
			}
			if _, err := m.Type("books"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("refused type exists: %v", err)
			}
		})
	}
}

// TestStoredTypesStillLoad checks that a type stored by an earlier version
// with what this version refuses (a root that refuses objects, an RE2-only
// pattern) does not stop the Manager from opening, while the same
// definition sent again is refused.
func TestStoredTypesStillLoad(t *testing.T) {
	t.Parallel()
	m, store := openMemoryManager(t)
	for _, def := range []Type{
		{Name: "lists", Schema: json.RawMessage(`{"type":"array"}`)},
		{Name: "named", Schema: json.RawMessage(`{"type":"object","properties":{"code":{"type":"string","pattern":"^(?P<x>[a-z]+)\\z"}}}`)},
	} {
		if _, err := compileType(def); !errors.Is(err, ErrInvalid) {
			t.Fatalf("compileType(%s) = %v, want ErrInvalid", def.Name, err)
		}
		ct, err := compileStoredType(def)
		if err != nil {
			t.Fatalf("compileStoredType(%s): %v", def.Name, err)
		}
		// Store it as an earlier version would have.
		if _, err := m.update(AsSystem(t.Context()), Principal{}, func(w *writer) error { return w.putType(ct, false) }); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	again, err := Open(AsSystem(t.Context()), store, Options{})
	if err != nil {
		t.Fatalf("reopen with stored types an earlier version accepted: %v", err)
	}
	defer again.Close()
	if _, err := again.Create(AsSystem(t.Context()), "named", []byte(`{"code":"abc"}`), WriteOptions{}); err != nil {
		t.Fatalf("RE2 pattern of a stored type no longer works: %v", err)
	}
	if _, err := again.Create(AsSystem(t.Context()), "named", []byte(`{"code":"ABC"}`), WriteOptions{}); !errors.Is(err, ErrValidation) {
		t.Fatalf("RE2 pattern of a stored type accepts a mismatch: %v", err)
	}
	if _, err := again.UpdateType(AsSystem(t.Context()), Type{Name: "lists", Schema: json.RawMessage(`{"type":"array"}`)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("update keeping a root that refuses objects = %v, want ErrInvalid", err)
	}
}

// TestECMAPatterns checks the pattern dialect on its own: what ECMA-262
// (with the u flag) has compiles and matches as in JavaScript, what only
// .NET or RE2 have is refused rather than given another meaning.
func TestECMAPatterns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pattern string
		match   map[string]bool // input -> want
		refused bool
	}{
		{pattern: `^(?=.*\d)(?=.*[a-z]).{6,}$`, match: map[string]bool{"abc123": true, "abcdef": false}},
		{pattern: `(?<!\$)\b\d+`, match: map[string]bool{"$30": false, "30": true}},
		{pattern: `^(?<y>\d{4})-\k<y>$`, match: map[string]bool{"2024-2024": true, "2024-2025": false}},
		{pattern: `^\s+$`, match: map[string]bool{"\u00a0\u2003\u3000\ufeff\u2029\v": true, "\u200b": false, "\u0085": false}},
		{pattern: `^[\s]$`, match: map[string]bool{"\u00a0": true}},
		{pattern: `^\S$`, match: map[string]bool{"\u00a0": false, "x": true}},
		{pattern: `^\d$`, match: map[string]bool{"7": true, "\u0667": false}},
		{pattern: `^\w+$`, match: map[string]bool{"a_1": true, "é": false}},
		{pattern: `^\p{Letter}+$`, match: map[string]bool{"πé": true, "1": false}},
		{pattern: `^\p{General_Category=Uppercase_Letter}$`, match: map[string]bool{"Ä": true, "ä": false}},
		{pattern: `^\p{Script=Greek}+$`, match: map[string]bool{"αβ": true, "ab": false}},
		{pattern: `^[^\P{Lu}]$`, match: map[string]bool{"A": true, "a": false}},
		{pattern: `^\\p{Letter}$`, match: map[string]bool{`\p{Letter}`: true}},
		{pattern: `^\u{1F409}$`, match: map[string]bool{"🐉": true}},
		{pattern: `^.$`, match: map[string]bool{"🐉": true}},
		{pattern: `^\cJ$`, match: map[string]bool{"\n": true}},
		{pattern: `^abc$`, match: map[string]bool{"abc\n": false}},
		{pattern: `^[(?i)]+$`, match: map[string]bool{"(?i)": true}},
		{pattern: `^a\-b$`, match: map[string]bool{"a-b": true}},
		{pattern: `(?i)abc`, refused: true},
		{pattern: `(?P<name>a)`, refused: true},
		{pattern: `(?#comment)`, refused: true},
		{pattern: `\Aabc\z`, refused: true},
		{pattern: `\a`, refused: true},
		{pattern: `abc\`, refused: true},
		{pattern: `(unclosed`, refused: true},
	}
	engine := ecmaEngine(false, nil)
	for _, tc := range cases {
		t.Run(tc.pattern, func(t *testing.T) {
			t.Parallel()
			re, err := engine(tc.pattern)
			if tc.refused {
				if err == nil {
					t.Fatalf("compiled, want refused")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for in, want := range tc.match {
				if got := re.MatchString(in); got != want {
					t.Errorf("MatchString(%q) = %v, want %v", in, got, want)
				}
			}
		})
	}
}

// TestPatternBudget checks the bound on all the matches of one validation:
// once it is spent the next match refuses the document, naming the value,
// while a fresh validation gets a fresh budget. Validations run in
// parallel, under -race, to show that each has its own deadline.
func TestPatternBudget(t *testing.T) {
	t.Parallel()
	doc := map[string]any{"type": "object", "properties": map[string]any{
		"codes": map[string]any{"type": "array", "items": map[string]any{"type": "string", "pattern": "^[a-z]+$"}}}}
	ts, err := compileSchema("codes", doc, false)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]any{"codes": []any{"abc", "def"}}
	t.Run("parallel validations each have a budget", func(t *testing.T) {
		// Each validation takes an instance of its own from the pool, so
		// the race detector sees any sharing; the budget is long, since a
		// loaded machine may hold a goroutine past the default second.
		roomy := *ts
		roomy.budget = time.Minute
		done := make(chan error)
		for range 8 {
			go func() {
				var err error
				for range 50 {
					if err = roomy.Validate(data); err != nil {
						break
					}
				}
				done <- err
			}()
		}
		for range 8 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("a spent budget refuses the document", func(t *testing.T) {
		spent := *ts
		spent.budget = -time.Second
		err := spent.Validate(data)
		var ce *Error
		if !errors.As(err, &ce) || !errors.Is(err, ErrValidation) || len(ce.Fields) != 1 ||
			ce.Fields[0].Path != "/codes/0" || !strings.Contains(ce.Fields[0].Message, "took more than") {
			t.Fatalf("Validate with a spent budget = %v, want a validation error at /codes/0", err)
		}
		if err := ts.Validate(data); err != nil {
			t.Fatalf("next validation with a fresh budget: %v", err)
		}
	})
}
