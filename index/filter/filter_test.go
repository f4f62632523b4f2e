package filter

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var testSchema = Schema{
	"title":       {Path: "title", Kind: String},
	"views":       {Path: "views", Kind: Number},
	"draft":       {Path: "draft", Kind: Bool},
	"published":   {Path: "published", Kind: Time},
	"tags":        {Path: "tags", Kind: Array},
	"author.name": {Path: "author.name", Kind: String},
	"extra":       {Path: "extra", Kind: Any},
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		expr string
		lim  Limits
		pos  int
	}{
		{"empty", "", Limits{}, 0},
		{"blank", "   ", Limits{}, 3},
		{"unknown field", `title = "a" && nope = 1`, Limits{}, 15},
		{"unknown nested", `author.age = 1`, Limits{}, 0},
		{"number vs string", `views > "x"`, Limits{}, 8},
		{"string vs number", `title = 1`, Limits{}, 8},
		{"like on number", `views ~ 1`, Limits{}, 6},
		{"any-eq on string", `title ?= "a"`, Limits{}, 6},
		{"gt on bool", `draft > true`, Limits{}, 6},
		{"bad time", `published > "yesterday"`, Limits{}, 12},
		{"array eq", `tags = "a"`, Limits{}, 5},
		{"null with gt", `views > null`, Limits{}, 8},
		{"unsupported op", `tags ?!= "a"`, Limits{}, 5},
		{"bad sign", `views === 1`, Limits{}, 6},
		{"missing operand", `views >`, Limits{}, 7},
		{"missing operator", `views`, Limits{}, 5},
		{"dangling join", `views > 1 &&`, Limits{}, 12},
		{"two clauses no join", `views > 1 title = "a"`, Limits{}, 10},
		{"unterminated string", `title = "abc`, Limits{}, 8},
		{"unclosed paren", `(views > 1`, Limits{}, 0},
		{"empty parens", `views > 1 && ()`, Limits{}, 13},
		{"error inside parens", `views > 1 && (title = "a" || views = "b")`, Limits{}, 37},
		{"two fields", `views = title`, Limits{}, 8},
		{"two literals", `1 = 2`, Limits{}, 0},
		{"flipped like", `"a" ~ title`, Limits{}, 4},
		{"function", `lower(title) = "a"`, Limits{}, 0},
		{"bad char", `views > 1 $`, Limits{}, 10},
		{"invalid utf8", "title = \"\xff\"", Limits{}, 9},
		{"too long", `views > 1 && views < 10`, Limits{MaxLength: 10}, 10},
		{"too deep", `((views > 1))`, Limits{MaxDepth: 1}, 1},
		{"too many clauses", `views > 1 && views < 5 && views != 3`, Limits{MaxClauses: 2}, 26},
		{"huge number", "views = 1" + strings.Repeat("0", 400), Limits{}, 8},
		{"any like number", `extra ~ 1`, Limits{}, 8},
		{"after comment", "views > 1 // c\n && nope = 1", Limits{}, 19},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.expr, testSchema, tt.lim)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q) error = %v, want *Error", tt.expr, err)
			}
			if fe.Pos != tt.pos {
				t.Errorf("Parse(%q) = %v, want position %d", tt.expr, err, tt.pos)
			}
		})
	}
}

func TestParseString(t *testing.T) {
	t.Parallel()
	tests := []struct{ expr, want string }{
		{`views>1`, `views > 1`},
		{`5 < views`, `views > 5`},
		{`"a" = title`, `title = "a"`},
		{`(views > 1 && (draft = false && title != null))`, `views > 1 && draft = false && title != null`},
		{`views > 1 && (title = 'x' || title = "y\"z")`, `views > 1 && (title = "x" || title = "y\"z")`},
		{`views > 1 || (title = 'x' || tags ?= 2.50)`, `views > 1 || title = "x" || tags ?= 2.5`},
		{`a_b = 1 || views = 1 && draft = true`, ``},
		{`published >= "2024-01-02T03:04:05+02:00"`, `published >= "2024-01-02T03:04:05+02:00"`},
		{`id = "x" && created_at < "2024-01-01T00:00:00Z" && extra.deep.key ~ "q"`, `id = "x" && created_at < "2024-01-01T00:00:00Z" && extra.deep.key ~ "q"`},
		{"title = 'tab\\there'", `title = "tab\there"`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tt.expr, testSchema, Limits{})
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Parse(%q) succeeded, want error", tt.expr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.expr, err)
			}
			if got := e.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			e2, err := Parse(e.String(), testSchema, Limits{})
			if err != nil || e2.String() != e.String() {
				t.Errorf("reparse of %q: %v, %v", e.String(), e2, err)
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	e, err := Parse(`views = 1 || views = 2 && draft = true`, testSchema, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	or, ok := e.Root().(*Or)
	if !ok || len(or.Nodes) != 2 {
		t.Fatalf("root = %#v, want Or of 2", e.Root())
	}
	if _, ok := or.Nodes[1].(*And); !ok {
		t.Errorf("second node = %#v, want And", or.Nodes[1])
	}
	if got, want := e.String(), `views = 1 || views = 2 && draft = true`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var fields []string
	e.Walk(func(c Clause) bool {
		fields = append(fields, c.Field)
		return len(fields) < 2
	})
	if strings.Join(fields, ",") != "views,views" {
		t.Errorf("Walk visited %v, want views,views then stop", fields)
	}
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatch(t *testing.T) {
	t.Parallel()
	doc := `{"title":"Hello World","views":150,"draft":false,"published":"2024-03-01T10:00:00+01:00",
		"tags":["go","db",7],"author":{"name":"Ann"},"nothing":null,"extra":{"n":3,"s":"x","arr":["a"]}}`
	meta := map[string]any{"id": "r1", "created_at": "2024-01-01T00:00:00Z", "created_by": "alice"}
	tests := []struct {
		expr string
		want bool
	}{
		{`title = "Hello World"`, true},
		{`title = "hello world"`, false},
		{`title != "x"`, true},
		{`title ~ "WORLD"`, true},
		{`title ~ "%World"`, false},
		{`title ~ ""`, true},
		{`title !~ "xyz"`, true},
		{`title !~ "hello"`, false},
		{`title > "Apple"`, true},
		{`title < "Apple"`, false},
		{`views = 150`, true},
		{`views = 150.0`, true},
		{`views >= 150 && views <= 150`, true},
		{`views > 150`, false},
		{`200 > views`, true},
		{`draft = false`, true},
		{`draft != true`, true},
		{`published > "2024-03-01T09:30:00Z"`, false}, // 09:00Z
		{`published < "2024-03-01T09:30:00Z"`, true},  // chronological, not textual
		{`published = "2024-03-01T09:00:00Z"`, true},
		{`tags ?= "go"`, true},
		{`tags ?= 7`, true},
		{`tags ?= "7"`, false},
		{`tags ?= "rust"`, false},
		{`author.name = "Ann"`, true},
		{`id = "r1" && created_by = "alice"`, true},
		{`created_at < "2024-02-01T00:00:00Z"`, true},
		{`updated_at = null`, true},
		{`updated_by != "x"`, true},
		{`id != null`, true},
		// missing and null fields
		{`missing_str = null`, true},
		{`extra.none = null`, true},
		{`extra.none != null`, false},
		{`extra.none != "x"`, true},
		{`extra.none = "x"`, false},
		{`extra.none ~ "x"`, false},
		{`extra.none !~ "x"`, false},
		{`extra.none > 1`, false},
		{`extra.none ?= 1`, false},
		{`title != null`, true},
		{`title = null`, false},
		// schema-less values
		{`extra.n = 3`, true},
		{`extra.n = "3"`, false},
		{`extra.n != "3"`, true},
		{`extra.n ~ "3"`, false},
		{`extra.n !~ "3"`, false},
		{`extra.s ~ "X"`, true},
		{`extra.arr ?= "a"`, true},
		{`extra.s ?= "x"`, false},
		{`extra.s > 1`, false},
		{`extra = null`, false},
		// boolean structure
		{`views = 1 || views = 150 && draft = false`, true},
		{`(views = 1 || views = 150) && draft = true`, false},
	}
	d := decode(t, doc)
	var plain map[string]any
	if err := json.Unmarshal([]byte(doc), &plain); err != nil {
		t.Fatal(err)
	}
	schema := Schema{"missing_str": {Path: "missing_str", Kind: String}}
	for k, v := range testSchema {
		schema[k] = v
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tt.expr, schema, Limits{})
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.expr, err)
			}
			if got := e.Match(d, meta); got != tt.want {
				t.Errorf("Match (json.Number) = %v, want %v", got, tt.want)
			}
			if got := e.Match(plain, meta); got != tt.want {
				t.Errorf("Match (float64) = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchNilDocs(t *testing.T) {
	t.Parallel()
	e, err := Parse(`title = null && id = null && views != 1`, testSchema, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Match(nil, nil) {
		t.Error("Match(nil, nil) = false, want true")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`title = "a"`, `views > 1 && (draft = true || tags ?= "x")`, `5 < views`,
		`extra.a.b ~ 'q'`, `published >= "2024-01-01T00:00:00Z"`, "a // c\n", `((`, `"\`,
		`id != null || created_at < "2024-01-01T00:00:00Z"`, `views = -1.5`, `views > 1e300`, `views = 1E-7`, `views = 1e`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s, testSchema, Limits{})
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q) error %T, want *Error", s, err)
			}
			if fe.Pos < 0 || fe.Pos > len(s) {
				t.Fatalf("Parse(%q) error position %d outside [0, %d]", s, fe.Pos, len(s))
			}
			return
		}
		canon := e.String()
		e2, err := Parse(canon, testSchema, Limits{MaxLength: 1 << 20})
		if err != nil {
			t.Fatalf("reparse of canonical %q (from %q): %v", canon, s, err)
		}
		if got := e2.String(); got != canon {
			t.Fatalf("canonical form not stable: %q -> %q", canon, got)
		}
		e.Match(map[string]any{"title": "x", "views": 1.0, "tags": []any{"x", 1.0}, "extra": map[string]any{"a": "b"}}, nil)
	})
}

// TestParseNumbers: number literals follow the data's number model:
// JSON's grammar with exponents, doubles, refused when a double cannot
// hold them exactly, written in the canonical spelling.
func TestParseNumbers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want string // canonical form; "" for an error at pos
		pos  int
	}{
		{`views > 1e300`, `views > 1e+300`, 0},
		{`views > -1E300`, `views > -1e+300`, 0},
		{`views = 1E2`, `views = 100`, 0},
		{`views = 1e+2`, `views = 100`, 0},
		{`views = 10E-1`, `views = 1`, 0},
		{`views = 1.0`, `views = 1`, 0},
		{`views = -0`, `views = 0`, 0},
		{`views > 1.5e-7`, `views > 1.5e-7`, 0},
		{`views < 0.000001`, `views < 0.000001`, 0},
		{`views = 1e21`, `views = 1e+21`, 0},
		{`views = 100000000000000000000`, `views = 100000000000000000000`, 0},
		{`views = 9007199254740992`, `views = 9007199254740992`, 0},
		{`views = 007`, `views = 7`, 0},
		{`tags ?= 1e0`, `tags ?= 1`, 0},
		{`1e2 < views`, `views > 100`, 0},
		{`(views = 1e2 || views=2e1)&&draft=true`, `(views = 100 || views = 20) && draft = true`, 0},
		{`views=1e2&&draft=true`, `views = 100 && draft = true`, 0},
		{`extra.n = 25e-1`, `extra.n = 2.5`, 0},
		{`views = 9007199254740993`, ``, 8},
		{`views = -9007199254740993`, ``, 8},
		{`views > 1e400`, ``, 8},
		{`views > 1e-400`, ``, 8},
		{`views = 0.1000000000000000000001`, ``, 8},
		{`views = 1e`, ``, 8},
		{`views = 1e+`, ``, 8},
		{`views = 1.`, ``, 8},
		{`views = 1.5.3`, ``, 8},
		{`views = 1x`, ``, 8},
		{`views = 2 && (views = 1e999)`, ``, 22},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tt.expr, testSchema, Limits{})
			if tt.want == "" {
				var fe *Error
				if !errors.As(err, &fe) || fe.Pos != tt.pos {
					t.Fatalf("Parse(%q) = %v, want an error at %d", tt.expr, err, tt.pos)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.expr, err)
			}
			if got := e.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			e2, err := Parse(e.String(), testSchema, Limits{})
			if err != nil || e2.String() != e.String() {
				t.Fatalf("reparse of %q: %v, %v", e.String(), e2, err)
			}
		})
	}
}

// TestMatchNumbers: equal numbers match however the document or the
// filter writes them.
func TestMatchNumbers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		doc, expr string
		want      bool
	}{
		{`{"views":1}`, `views = 1.0`, true},
		{`{"views":1.0}`, `views = 1`, true},
		{`{"views":1e0}`, `views = 10E-1`, true},
		{`{"views":-0}`, `views = 0`, true},
		{`{"views":0}`, `views = -0`, true},
		{`{"views":1.5e300}`, `views > 1e300`, true},
		{`{"views":1e300}`, `views > 1e300`, false},
		{`{"views":9007199254740992}`, `views = 9007199254740992`, true},
		{`{"views":9007199254740990}`, `views = 9007199254740992`, false},
		{`{"tags":[1,2e1]}`, `tags ?= 20`, true},
	} {
		t.Run(tt.doc+" "+tt.expr, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tt.expr, testSchema, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Match(decode(t, tt.doc), nil); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}
