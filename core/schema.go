package core

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// patternTimeout bounds one match of a schema pattern (pattern,
// patternProperties) against one string, and patternBudget all the
// matches of one validation. Patterns are ECMA-262 regular expressions run
// by a backtracking engine, so a pattern such as ^(a+)+$ takes exponential
// time on a hostile string; past either bound the value is refused with a
// validation error instead of holding the write. Without the budget a
// document of many strings each just under the timeout (a 1 MB body holds
// some 45,000 strings of 22 bytes, each taking 85 ms on ^(a+)+$) would keep
// a core busy for an hour.
const (
	patternTimeout = 100 * time.Millisecond
	patternBudget  = time.Second
)

// typeSchema is a compiled type schema. It is safe for concurrent use.
type typeSchema struct {
	name string // the type's name, for messages
	// one is the compiled schema when it has no patterns: then validation
	// keeps no state and one instance serves every goroutine.
	one *schemaInstance
	// pool holds instances of a schema with patterns, one per concurrent
	// validation, because each carries the deadline of its validation.
	pool *sync.Pool
	// root is a compiled schema to inspect (objectRefusal), never to run.
	root *jsonschema.Schema
	// budget is patternBudget; tests shorten it.
	budget time.Duration
}

// schemaInstance is one compilation of a schema; its patterns share
// budget, the deadline of the validation using the instance.
type schemaInstance struct {
	sch    *jsonschema.Schema
	budget *matchBudget
}

// matchBudget is the deadline of the validation running, zero outside one.
// Only the goroutine holding its schemaInstance touches it.
type matchBudget struct {
	deadline time.Time
	patterns int  // patterns compiled into the instance
	compiled bool // set once compiled: later regexps are "format": "regex" checks
}

// compileSchema compiles doc, a type's JSON Schema (draft 2020-12 unless it
// says otherwise), the one way Strata compiles schemas: patterns are
// ECMA-262 (regexp2 in ECMAScript mode with Unicode), format is asserted,
// and $ref may only point into the schema itself (no loader, so no remote
// or file fetches). stored relaxes a check for a definition that an
// earlier version of Strata stored, so that the server still starts: a
// pattern that only Go's RE2 syntax accepts falls back to RE2. It does not
// check that the root accepts objects; see objectRefusal.
func compileSchema(name string, doc any, stored bool) (*typeSchema, error) {
	first, err := compileInstance(name, doc, stored)
	if err != nil {
		return nil, err
	}
	ts := &typeSchema{name: name, root: first.sch, budget: patternBudget}
	if first.budget.patterns == 0 {
		ts.one = first
		return ts, nil
	}
	ts.pool = &sync.Pool{New: func() any {
		// The same document compiled the first time; it compiles again.
		inst, err := compileInstance(name, doc, stored)
		if err != nil {
			return nil
		}
		return inst
	}}
	ts.pool.Put(first)
	return ts, nil
}

func compileInstance(name string, doc any, stored bool) (*schemaInstance, error) {
	budget := &matchBudget{}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.RegisterFormat(blobFormat)
	c.UseRegexpEngine(ecmaEngine(stored, budget))
	// No loader: a schema may only $ref itself, never a remote URL.
	c.UseLoader(noLoader{})
	url := "strata:///types/" + name + ".schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, err
	}
	budget.compiled = true
	return &schemaInstance{sch: sch, budget: budget}, nil
}

// Validate validates v, JSON decoded with numbers as json.Number. A
// mismatch is a *jsonschema.ValidationError; a pattern that could not be
// matched within patternTimeout, or a document whose matches took more
// than patternBudget, is an *Error of kind ErrValidation naming the value.
func (s *typeSchema) Validate(v any) (err error) {
	inst := s.one
	if inst == nil {
		inst, _ = s.pool.Get().(*schemaInstance)
		if inst == nil {
			return fmt.Errorf("compile the schema of %s again: failed", s.name)
		}
		inst.budget.deadline = time.Now().Add(s.budget)
		defer func() {
			inst.budget.deadline = time.Time{}
			s.pool.Put(inst)
		}()
	}
	defer func() {
		if r := recover(); r != nil {
			pt, ok := r.(patternTimeoutPanic)
			if !ok {
				panic(r)
			}
			msg := fmt.Sprintf("pattern %s could not be matched within %v; the value is refused", pt.pattern, patternTimeout)
			if pt.budget {
				msg = fmt.Sprintf("pattern %s was not matched: the document's patterns took more than %v in all; the document is refused", pt.pattern, s.budget)
			}
			err = fieldError(ErrValidation, "data does not match the schema of "+s.name, FieldError{
				Path: pointer(findString(v, pt.input)), Message: msg, Source: "schema",
			})
		}
	}()
	return inst.sch.Validate(v)
}

// ecmaEngine compiles schema patterns as ECMA-262 regular expressions with
// the "u" flag, as JSON Schema asks: lookahead and backreferences work, \d
// and \w are ASCII, \s is Unicode white space, \u{1F600} is a code point.
// Their matches count against budget (which may be nil: no budget). With
// fallback, a pattern regexp2 refuses is tried as RE2.
func ecmaEngine(fallback bool, budget *matchBudget) jsonschema.RegexpEngine {
	return func(s string) (jsonschema.Regexp, error) {
		err := checkECMASyntax(s)
		var re *regexp2.Regexp
		if err == nil {
			re, err = regexp2.Compile(ecmaPropertyNames(s), regexp2.ECMAScript|regexp2.Unicode)
		}
		if err != nil {
			if fallback {
				if old, oldErr := regexp.Compile(s); oldErr == nil {
					return old, nil
				}
			}
			return nil, err
		}
		re.MatchTimeout = patternTimeout
		if budget != nil && !budget.compiled {
			budget.patterns++
		}
		return ecmaRegexp{re: re, budget: budget}, nil
	}
}

// checkECMASyntax refuses what regexp2 takes from .NET but ECMA-262 does
// not have, so that it cannot silently mean something else: groups
// other than (?:, (?=, (?!, (?<=, (?<! and (?<name> (inline flags such as
// (?i), comments), and letter escapes ECMA-262 does not define (\a, \e, \A,
// \Z, \z, \G…). Escaped punctuation (\-, \@) stays accepted, as browsers
// accept it outside Unicode mode.
func checkECMASyntax(pattern string) error {
	inClass := false
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '\\':
			if i+1 == len(pattern) {
				return fmt.Errorf("pattern %q ends with a lone backslash", pattern)
			}
			i++
			e := pattern[i]
			if ('a' <= e && e <= 'z' || 'A' <= e && e <= 'Z') && !strings.ContainsRune("bBdDwWsSfnrtvcxupPk", rune(e)) {
				return fmt.Errorf("pattern %q: \\%c is not an ECMA-262 escape", pattern, e)
			}
		case inClass:
			inClass = c != ']'
		case c == '[':
			inClass = true
		case c == '(' && strings.HasPrefix(pattern[i:], "(?"):
			rest := pattern[i+2:]
			ok := strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, "!") ||
				strings.HasPrefix(rest, "<=") || strings.HasPrefix(rest, "<!") ||
				strings.HasPrefix(rest, "<") && len(rest) > 1 && rest[1] != '='
			if !ok {
				return fmt.Errorf("pattern %q: only (?:, (?=, (?!, (?<=, (?<! and (?<name> groups are ECMA-262 (no inline flags or comments)", pattern)
			}
		}
	}
	return nil
}

// ecmaPropertyNames rewrites the Unicode property escapes of an ECMA-262
// pattern into the names regexp2 knows: \p{Letter} and
// \p{General_Category=Letter} become \p{L}, \p{Script=Greek} becomes
// \p{Greek}. Anything else is left for regexp2 to take or refuse.
func ecmaPropertyNames(pattern string) string {
	if !strings.Contains(pattern, `\p{`) && !strings.Contains(pattern, `\P{`) {
		return pattern
	}
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		b.WriteByte(c)
		if c != '\\' || i+1 == len(pattern) {
			continue
		}
		i++
		b.WriteByte(pattern[i]) // the escaped character, whatever it is
		if (pattern[i] != 'p' && pattern[i] != 'P') || i+1 == len(pattern) || pattern[i+1] != '{' {
			continue
		}
		end := strings.IndexByte(pattern[i+1:], '}')
		if end < 0 {
			continue
		}
		name := pattern[i+2 : i+1+end]
		if key, value, ok := strings.Cut(name, "="); ok {
			switch key {
			case "General_Category", "gc", "Script", "sc", "Script_Extensions", "scx":
				name = value
			}
		}
		if short, ok := generalCategories[name]; ok {
			name = short
		}
		b.WriteString("{" + name + "}")
		i += 1 + end
	}
	return b.String()
}

// generalCategories maps the long names of Unicode general categories,
// which ECMA-262 accepts, to the short ones regexp2 accepts.
var generalCategories = map[string]string{
	"Other": "C", "Control": "Cc", "cntrl": "Cc", "Format": "Cf", "Unassigned": "Cn", "Private_Use": "Co", "Surrogate": "Cs",
	"Letter": "L", "Lowercase_Letter": "Ll", "Modifier_Letter": "Lm", "Other_Letter": "Lo", "Titlecase_Letter": "Lt", "Uppercase_Letter": "Lu",
	"Mark": "M", "Combining_Mark": "M", "Spacing_Mark": "Mc", "Enclosing_Mark": "Me", "Nonspacing_Mark": "Mn",
	"Number": "N", "Decimal_Number": "Nd", "digit": "Nd", "Letter_Number": "Nl", "Other_Number": "No",
	"Punctuation": "P", "punct": "P", "Connector_Punctuation": "Pc", "Dash_Punctuation": "Pd", "Close_Punctuation": "Pe",
	"Final_Punctuation": "Pf", "Initial_Punctuation": "Pi", "Other_Punctuation": "Po", "Open_Punctuation": "Ps",
	"Symbol": "S", "Currency_Symbol": "Sc", "Modifier_Symbol": "Sk", "Math_Symbol": "Sm", "Other_Symbol": "So",
	"Separator": "Z", "Line_Separator": "Zl", "Paragraph_Separator": "Zp", "Space_Separator": "Zs",
}

// ecmaRegexp adapts a regexp2.Regexp to jsonschema.Regexp. It belongs to
// one schemaInstance, so setting its MatchTimeout does not race.
type ecmaRegexp struct {
	re     *regexp2.Regexp
	budget *matchBudget
}

// patternTimeoutPanic carries a match timeout from ecmaRegexp.MatchString,
// whose interface has no error result, up to typeSchema.Validate, which
// recovers it. It never leaves this file: the validator between them is a
// pure function with nothing to clean up. Answering false instead would
// let a timed-out property name skip its patternProperties schema, and
// answering true would let a value skip its pattern; either way the schema
// would not hold.
type patternTimeoutPanic struct {
	pattern, input string
	budget         bool // the validation's budget ran out, not the match's time
}

func (r ecmaRegexp) MatchString(s string) bool {
	if r.budget != nil && !r.budget.deadline.IsZero() {
		left := time.Until(r.budget.deadline)
		if left <= 0 {
			panic(patternTimeoutPanic{pattern: r.re.String(), input: s, budget: true})
		}
		r.re.MatchTimeout = min(patternTimeout, left)
	}
	ok, err := r.re.MatchString(s)
	if err != nil { // regexp2's only match error is the timeout
		panic(patternTimeoutPanic{pattern: r.re.String(), input: s, budget: r.re.MatchTimeout < patternTimeout})
	}
	return ok
}

func (r ecmaRegexp) String() string { return r.re.String() }

// findString returns the path of the first string value or property name
// in v equal to s (property names sorted), or nil.
func findString(v any, s string) []string {
	var walk func(v any, path []string) ([]string, bool)
	walk = func(v any, path []string) ([]string, bool) {
		switch v := v.(type) {
		case string:
			return path, v == s
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := append(slices.Clip(path), k)
				if k == s {
					return p, true
				}
				if found, ok := walk(v[k], p); ok {
					return found, true
				}
			}
		case []any:
			for i, e := range v {
				if found, ok := walk(e, append(slices.Clip(path), fmt.Sprint(i))); ok {
					return found, true
				}
			}
		}
		return nil, false
	}
	path, _ := walk(v, nil)
	return path
}

// objectRefusal explains why the compiled schema s can never accept a JSON
// object, or returns "" when it may accept one. A resource's data is always
// an object, so a type whose root refuses every object could never hold a
// resource. It is sure of what it says and silent when unsure: it reads
// false, type, const, enum, not, allOf, anyOf, oneOf and $ref, not the
// combinations of object keywords that no object could satisfy.
func objectRefusal(s *jsonschema.Schema) string {
	return refusal(s, map[*jsonschema.Schema]*string{})
}

// refusal is objectRefusal with a memo of the subschemas visited, so that
// $refs neither loop nor make the walk exponential: a subschema still being
// walked (a cycle) counts as "may accept".
func refusal(s *jsonschema.Schema, memo map[*jsonschema.Schema]*string) string {
	if s == nil {
		return ""
	}
	if r, ok := memo[s]; ok {
		if r == nil {
			return ""
		}
		return *r
	}
	memo[s] = nil
	r := refusalOf(s, memo)
	memo[s] = &r
	return r
}

func refusalOf(s *jsonschema.Schema, seen map[*jsonschema.Schema]*string) string {
	at := location(s)
	switch {
	case s.Bool != nil && !*s.Bool:
		return at + "is false"
	case s.Types != nil && !slices.Contains(s.Types.ToStrings(), "object"):
		return fmt.Sprintf("%shas type %s", at, strings.Join(s.Types.ToStrings(), ", "))
	case s.Const != nil && !isObject(*s.Const):
		return at + "has a const that is not an object"
	case s.Enum != nil && !slices.ContainsFunc(s.Enum.Values, isObject):
		return at + "has an enum without an object"
	case s.Not != nil && acceptsEveryObject(s.Not, seen):
		return at + "has a not that every object matches"
	}
	if r := refusal(s.Ref, seen); r != "" {
		return r
	}
	for _, sub := range s.AllOf {
		if r := refusal(sub, seen); r != "" {
			return r
		}
	}
	for _, group := range [][]*jsonschema.Schema{s.AnyOf, s.OneOf} {
		if len(group) == 0 {
			continue
		}
		var reasons []string
		for _, sub := range group {
			r := refusal(sub, seen)
			if r == "" {
				break
			}
			reasons = append(reasons, r)
		}
		if len(reasons) == len(group) {
			return strings.Join(reasons, "; ")
		}
	}
	return ""
}

// acceptsEveryObject reports whether s certainly accepts every object:
// true, {}, or a schema whose only assertions cannot fail for an object.
func acceptsEveryObject(s *jsonschema.Schema, seen map[*jsonschema.Schema]*string) bool {
	if s.Bool != nil {
		return *s.Bool
	}
	if s.Ref != nil || s.RecursiveRef != nil || s.DynamicRef != nil ||
		s.Enum != nil || s.Const != nil || len(s.AllOf) > 0 || len(s.AnyOf) > 0 || len(s.OneOf) > 0 ||
		s.If != nil || len(s.Extensions) > 0 ||
		s.MaxProperties != nil || s.MinProperties != nil || len(s.Required) > 0 || s.PropertyNames != nil ||
		len(s.Properties) > 0 || len(s.PatternProperties) > 0 || s.AdditionalProperties != nil ||
		len(s.Dependencies) > 0 || len(s.DependentRequired) > 0 || len(s.DependentSchemas) > 0 ||
		s.UnevaluatedProperties != nil {
		return false
	}
	if s.Types != nil && !slices.Contains(s.Types.ToStrings(), "object") {
		return false
	}
	return s.Not == nil || refusal(s.Not, seen) != ""
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// location renders where s sits in its type's schema, for messages: ""
// for the root, else "#/allOf/0 ".
func location(s *jsonschema.Schema) string {
	_, frag, _ := strings.Cut(s.Location, "#")
	if frag == "" {
		return ""
	}
	return "#" + frag + " "
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("remote schema %s is not allowed: a type's schema may only $ref itself", url)
}
