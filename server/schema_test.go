package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestSchemaPatternsAreECMA262 checks that pattern, patternProperties and
// format "regex" follow ECMA-262 (with the "u" flag), as JSON Schema says,
// not Go's RE2: lookahead and backreferences compile, \s is Unicode white
// space while \d and \w stay ASCII.
func TestSchemaPatternsAreECMA262(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name":"accounts","schema":{"type":"object",
	  "properties":{
	    "password":{"type":"string","pattern":"^(?=.*[A-Z]).{8,}$"},
	    "handle":{"type":"string","pattern":"^\\S+$"},
	    "code":{"type":"string","pattern":"^\\d+$"},
	    "word":{"type":"string","pattern":"^\\w+$"},
	    "twice":{"type":"string","pattern":"^(ab)\\1$"},
	    "dragon":{"type":"string","pattern":"^\\u{1F409}$"},
	    "rule":{"type":"string","format":"regex"}},
	  "patternProperties":{"^x-(?!internal)":{"type":"integer"}}}}`)

	cases := []struct {
		name   string
		data   string
		status int
		path   string
	}{
		{"lookahead matches", `{"password":"abcdefgH"}`, 201, ""},
		{"lookahead refuses", `{"password":"abcdefgh"}`, 422, "/password"},
		{"no-break space is white space", `{"handle":"a\u00a0b"}`, 422, "/handle"},
		{"ideographic space is white space", `{"handle":"a\u3000b"}`, 422, "/handle"},
		{"byte order mark is white space", `{"handle":"a\ufeffb"}`, 422, "/handle"},
		{"letters are not white space", `{"handle":"héllo"}`, 201, ""},
		{"\\d is ASCII", `{"code":"\u0661\u0662"}`, 422, "/code"},
		{"\\d digits", `{"code":"12"}`, 201, ""},
		{"\\w is ASCII", `{"word":"é"}`, 422, "/word"},
		{"backreference matches", `{"twice":"abab"}`, 201, ""},
		{"backreference refuses", `{"twice":"abba"}`, 422, "/twice"},
		{"code point escape", `{"dragon":"🐉"}`, 201, ""},
		{"format regex takes ECMA-262", `{"rule":"(?<=a)b"}`, 201, ""},
		{"format regex refuses a bad one", `{"rule":"(unclosed"}`, 422, "/rule"},
		{"patternProperties lookahead applies", `{"x-count":"many"}`, 422, "/x-count"},
		{"patternProperties lookahead skips", `{"x-internal":"many"}`, 201, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do("POST", "/api/accounts", tc.data)
			if tc.status == 201 {
				if r.Status != 201 {
					t.Fatalf("status %d, want 201\n%s", r.Status, r.Body)
				}
				return
			}
			p := checkProblem(t, r, tc.status, "validation")
			if got := dig(p["errors"].([]any)[0], "path"); got != tc.path {
				t.Fatalf("error path %v, want %s\n%s", got, tc.path, r.Body)
			}
		})
	}
}

// TestSchemaPatternTimeout checks that a pattern with catastrophic
// backtracking cannot hold a write: the match stops after its time limit
// and the write is refused with a validation error naming the value, and
// nothing is stored. The test has no clock of its own: before the limit it
// would run for days.
func TestSchemaPatternTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name":"slow","schema":{"type":"object",
	  "properties":{"name":{"type":"string","pattern":"^(a+)+$"},
	                "tags":{"type":"array","items":{"type":"string","pattern":"^(a|aa)+$"}}},
	  "patternProperties":{"^(b+)+$":{"type":"string"}}}}`)
	hostile := strings.Repeat("a", 64) + "!"
	cases := []struct {
		name string
		data map[string]any
		path string
	}{
		{"pattern", map[string]any{"name": hostile}, "/name"},
		{"pattern in an array", map[string]any{"tags": []any{"aa", hostile}}, "/tags/1"},
		{"patternProperties", map[string]any{strings.Repeat("b", 64) + "!": 1}, "/" + strings.Repeat("b", 64) + "!"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := checkProblem(t, ts.do("POST", "/api/slow", tc.data), 422, "validation")
			e := p["errors"].([]any)[0]
			if dig(e, "path") != tc.path || !strings.Contains(dig(e, "message").(string), "could not be matched within") {
				raw, _ := json.Marshal(p)
				t.Fatalf("error %v, want a time limit at %s\n%s", e, tc.path, raw)
			}
		})
	}
	// A value the pattern handles quickly still goes through.
	ts.must(201, "POST", "/api/slow", `{"name":"aaaa","tags":["aa"]}`)
	list := ts.must(200, "GET", "/api/slow", nil).JSON(t)
	if n := len(list["items"].([]any)); n != 1 {
		t.Fatalf("%d resources stored, want 1", n)
	}
}

// TestTypeRootMustAcceptObjects checks that a type whose root schema can
// never accept a JSON object (resource data is always one) is refused with
// a 400 naming the problem, on create and on update, and that schemas that
// may accept an object are still allowed.
func TestTypeRootMustAcceptObjects(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name":"kept","schema":{"type":"object"}}`)

	refused := []struct{ name, schema, says string }{
		{"array", `{"type":"array"}`, "has type array"},
		{"string", `{"type":"string"}`, "has type string"},
		{"type list without object", `{"type":["string","null"]}`, "has type null, string"},
		{"false", `false`, "is false"},
		{"not anything", `{"not":{}}`, "has a not"},
		{"not true", `{"not":true}`, "has a not"},
		{"not object", `{"not":{"type":"object"}}`, "has a not"},
		{"const", `{"const":"x"}`, "const"},
		{"enum", `{"enum":[1,"a",null]}`, "enum"},
		{"allOf member", `{"allOf":[{"type":"object"},{"type":"array"}]}`, "#/allOf/1 has type array"},
		{"every anyOf member", `{"anyOf":[{"type":"string"},{"type":"integer"}]}`, "#/anyOf/0 has type string"},
		{"every oneOf member", `{"oneOf":[{"type":"string"},false]}`, "#/oneOf/1 is false"},
		{"$ref", `{"$ref":"#/$defs/list","$defs":{"list":{"type":"array"}}}`, "#/$defs/list has type array"},
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			for _, req := range []struct{ method, path string }{{"POST", "/api/types"}, {"PUT", "/api/types/kept"}} {
				name := "things"
				if req.method == "PUT" {
					name = "kept"
				}
				r := ts.do(req.method, req.path, `{"name":"`+name+`","schema":`+tc.schema+`}`)
				p := checkProblem(t, r, 400, "bad_request")
				e := p["errors"].([]any)[0]
				msg, _ := dig(e, "message").(string)
				if dig(e, "path") != "/schema" || !strings.Contains(msg, "can never accept a JSON object") || !strings.Contains(msg, tc.says) {
					t.Fatalf("%s: error %v, want /schema saying %q", req.method, e, tc.says)
				}
			}
			ts.must(404, "GET", "/api/types/things", nil)
			kept := ts.must(200, "GET", "/api/types/kept", nil).JSON(t)
			if kept["schema_version"] != 1.0 {
				t.Fatalf("refused update changed the type: %v", kept)
			}
		})
	}

	accepted := []struct{ name, schema string }{
		{"empty", `{}`},
		{"true", `true`},
		{"object or null", `{"type":["object","null"]}`},
		{"one anyOf member may", `{"anyOf":[{"type":"string"},{"type":"object"}]}`},
		{"not a string", `{"not":{"type":"string"}}`},
		{"not a property", `{"not":{"required":["a"]}}`},
		{"enum of objects", `{"enum":[{"a":1}]}`},
		{"recursive $ref", `{"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{"next":{"$ref":"#/$defs/node"}}}}}`},
	}
	for i, tc := range accepted {
		t.Run("accepted/"+tc.name, func(t *testing.T) {
			name := "ok_" + string(rune('a'+i))
			ts.must(http.StatusCreated, "POST", "/api/types", `{"name":"`+name+`","schema":`+tc.schema+`}`)
		})
	}
}
