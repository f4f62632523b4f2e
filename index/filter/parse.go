package filter

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ganigeorgiev/fexpr"

	"github.com/strata-dev/strata/internal/jsonnum"
)

// Parse parses expr with the filter language of SPEC §3 "List", checks it
// against s and returns the checked expression.
//
// Every failure is an [*Error] whose Pos is a byte offset into expr:
// malformed syntax, unknown fields, type mismatches, unsupported operators
// and exceeded limits. Zero fields of lim take their defaults. The schema
// is not retained.
func Parse(expr string, s Schema, lim Limits) (*Expr, error) {
	lim = lim.withDefaults()
	if len(expr) > lim.MaxLength {
		return nil, errorf(lim.MaxLength, "expression longer than %d bytes", lim.MaxLength)
	}
	for i := 0; i < len(expr); {
		r, n := utf8.DecodeRuneInString(expr[i:])
		if r == utf8.RuneError && n == 1 {
			return nil, errorf(i, "invalid UTF-8")
		}
		if r == 0 {
			return nil, errorf(i, "unexpected NUL character")
		}
		i += n
	}
	p := &parser{schema: s, lim: lim}
	root, err := p.parseLevel(expr, 0, 0)
	if err != nil {
		return nil, err
	}
	return &Expr{root: root}, nil
}

type parser struct {
	schema  Schema
	lim     Limits
	clauses int
}

// token is a fexpr token with its absolute byte offset.
type token struct {
	fexpr.Token
	pos int
}

// lexer wraps a fexpr.Scanner over one nesting level (the whole expression
// or the inside of a pair of parentheses) and tracks byte offsets, which
// fexpr does not report.
type lexer struct {
	sc     *fexpr.Scanner
	data   string
	base   int // offset of data in the whole expression
	off    int // bytes of data consumed
	peeked *token
}

func newLexer(data string, base int) *lexer {
	return &lexer{sc: fexpr.NewScanner([]byte(data)), data: data, base: base}
}

// end is the absolute offset of the end of this level.
func (l *lexer) end() int { return l.base + len(l.data) }

// next returns the next token that is not whitespace or a comment.
func (l *lexer) next() (token, error) {
	if l.peeked != nil {
		t := *l.peeked
		l.peeked = nil
		return t, nil
	}
	for {
		start := l.off
		if n := jsonnum.Len(l.data[start:]); n > 0 {
			return l.number(start, n)
		}
		t, err := l.sc.Scan()
		tok := token{Token: t, pos: l.base + start}
		if err != nil {
			return tok, errorf(tok.pos, "%s", err.Error())
		}
		if t.Type == fexpr.TokenEOF {
			tok.pos = l.end()
			return tok, nil
		}
		n, ok := rawLen(t, l.data[start:])
		if !ok {
			return tok, errorf(tok.pos, "unexpected %s %q", t.Type, t.Literal)
		}
		l.off += n
		if t.Type == fexpr.TokenWS || t.Type == fexpr.TokenComment {
			continue
		}
		return tok, nil
	}
}

// number lexes the number literal of n bytes at start. fexpr reads
// digits and one dot only; numbers here follow JSON, exponents included,
// as data does. The scanner restarts after the literal.
func (l *lexer) number(start, n int) (token, error) {
	tok := token{Token: fexpr.Token{Type: fexpr.TokenNumber, Literal: l.data[start : start+n]}, pos: l.base + start}
	if end := start + n; end < len(l.data) && wordByte(l.data[end]) {
		// 1e, 1.5.3, 1x: a literal that runs on is malformed, not two tokens.
		for end < len(l.data) && (wordByte(l.data[end]) || l.data[end] == '+' || l.data[end] == '-') {
			end++
		}
		return tok, errorf(tok.pos, "invalid number %q", l.data[start:end])
	}
	l.off += n
	l.sc = fexpr.NewScanner([]byte(l.data[l.off:]))
	return tok, nil
}

func wordByte(c byte) bool {
	return c == '.' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (l *lexer) peek() (token, error) {
	if l.peeked != nil {
		return *l.peeked, nil
	}
	t, err := l.next()
	if err != nil {
		return t, err
	}
	l.peeked = &t
	return t, nil
}

// rawLen returns how many bytes of rest the scanner consumed to produce t,
// and false if that cannot be determined (which Parse reports as an error
// rather than risk wrong positions).
func rawLen(t fexpr.Token, rest string) (int, bool) {
	switch t.Type {
	case fexpr.TokenWS, fexpr.TokenIdentifier, fexpr.TokenNumber, fexpr.TokenSign, fexpr.TokenJoin:
		return len(t.Literal), strings.HasPrefix(rest, t.Literal)
	case fexpr.TokenGroup:
		n := len(t.Literal) + 2
		ok := len(rest) >= n && rest[0] == '(' && rest[1:n-1] == t.Literal && rest[n-1] == ')'
		return n, ok
	case fexpr.TokenText:
		if rest == "" {
			return 0, false
		}
		q := rest[0]
		for i := 1; i < len(rest); i++ {
			switch rest[i] {
			case '\\':
				i++
			case q:
				return i + 1, true
			}
		}
		return 0, false
	case fexpr.TokenComment:
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			return i + 1, true
		}
		return len(rest), true
	}
	return 0, false
}

// parseLevel parses data, which starts at absolute offset base and sits
// inside depth pairs of parentheses.
func (p *parser) parseLevel(data string, base, depth int) (Node, error) {
	l := newLexer(data, base)
	t, err := l.peek()
	if err != nil {
		return nil, err
	}
	if t.Type == fexpr.TokenEOF {
		if depth == 0 {
			return nil, errorf(t.pos, "empty expression")
		}
		return nil, errorf(base-1, "empty parentheses")
	}
	n, err := p.parseOr(l, depth)
	if err != nil {
		return nil, err
	}
	t, err = l.next()
	if err != nil {
		return nil, err
	}
	if t.Type != fexpr.TokenEOF {
		return nil, errorf(t.pos, "expected && or ||, got %q", t.Literal)
	}
	return n, nil
}

func (p *parser) parseOr(l *lexer, depth int) (Node, error) {
	var nodes []Node
	for {
		n, err := p.parseAnd(l, depth)
		if err != nil {
			return nil, err
		}
		if or, ok := n.(*Or); ok {
			nodes = append(nodes, or.Nodes...)
		} else {
			nodes = append(nodes, n)
		}
		t, err := l.peek()
		if err != nil {
			return nil, err
		}
		if t.Type != fexpr.TokenJoin || t.Literal != string(fexpr.JoinOr) {
			break
		}
		l.next() // the peeked token: cannot fail
	}
	if len(nodes) == 1 {
		return nodes[0], nil
	}
	return &Or{Nodes: nodes}, nil
}

func (p *parser) parseAnd(l *lexer, depth int) (Node, error) {
	var nodes []Node
	for {
		n, err := p.parsePrimary(l, depth)
		if err != nil {
			return nil, err
		}
		if and, ok := n.(*And); ok {
			nodes = append(nodes, and.Nodes...)
		} else {
			nodes = append(nodes, n)
		}
		t, err := l.peek()
		if err != nil {
			return nil, err
		}
		if t.Type != fexpr.TokenJoin || t.Literal != string(fexpr.JoinAnd) {
			break
		}
		l.next() // the peeked token: cannot fail
	}
	if len(nodes) == 1 {
		return nodes[0], nil
	}
	return &And{Nodes: nodes}, nil
}

func (p *parser) parsePrimary(l *lexer, depth int) (Node, error) {
	t, err := l.next()
	if err != nil {
		return nil, err
	}
	switch t.Type {
	case fexpr.TokenEOF:
		return nil, errorf(t.pos, "incomplete expression")
	case fexpr.TokenGroup:
		if depth+1 > p.lim.MaxDepth {
			return nil, errorf(t.pos, "parentheses nested deeper than %d", p.lim.MaxDepth)
		}
		return p.parseLevel(t.Literal, t.pos+1, depth+1)
	}
	return p.parseClause(l, t)
}

// operand is one side of a comparison.
type operand struct {
	tok     token
	isField bool
	value   any // when !isField
}

func (p *parser) operand(t token) (operand, error) {
	switch t.Type {
	case fexpr.TokenIdentifier:
		switch t.Literal {
		case "null":
			return operand{tok: t}, nil
		case "true":
			return operand{tok: t, value: true}, nil
		case "false":
			return operand{tok: t, value: false}, nil
		}
		return operand{tok: t, isField: true}, nil
	case fexpr.TokenText:
		return operand{tok: t, value: t.Literal}, nil
	case fexpr.TokenNumber:
		// The number model of data (internal/jsonnum): doubles, and a
		// literal a double cannot hold exactly is refused, not rounded.
		_, f, err := jsonnum.Canonical(t.Literal)
		switch {
		case errors.Is(err, jsonnum.ErrInexact):
			return operand{}, errorf(t.pos, "number %s", err.Error())
		case err != nil:
			return operand{}, errorf(t.pos, "invalid number %q", t.Literal)
		}
		return operand{tok: t, value: f}, nil
	case fexpr.TokenFunction:
		return operand{}, errorf(t.pos, "functions are not supported")
	case fexpr.TokenEOF:
		return operand{}, errorf(t.pos, "incomplete expression")
	}
	return operand{}, errorf(t.pos, "expected a field or a literal, got %q", t.Literal)
}

func (p *parser) parseClause(l *lexer, lt token) (Node, error) {
	left, err := p.operand(lt)
	if err != nil {
		return nil, err
	}
	st, err := l.next()
	if err != nil {
		return nil, err
	}
	if st.Type == fexpr.TokenEOF {
		return nil, errorf(st.pos, "incomplete expression: expected an operator")
	}
	if st.Type != fexpr.TokenSign {
		return nil, errorf(st.pos, "expected an operator, got %q", st.Literal)
	}
	op := Op(st.Literal)
	switch op {
	case Eq, Neq, Gt, Gte, Lt, Lte, Like, NotLike, AnyEq:
	default:
		return nil, errorf(st.pos, "unsupported operator %q", st.Literal)
	}
	rt, err := l.next()
	if err != nil {
		return nil, err
	}
	right, err := p.operand(rt)
	if err != nil {
		return nil, err
	}

	switch {
	case left.isField && right.isField:
		return nil, errorf(right.tok.pos, "comparing two fields is not supported; expected a literal")
	case !left.isField && !right.isField:
		return nil, errorf(left.tok.pos, "expected a field on one side of %q", op)
	case right.isField:
		f := op.flip()
		if f == "" {
			return nil, errorf(st.pos, "operator %q needs the field on the left", op)
		}
		op, left, right = f, right, left
	}

	p.clauses++
	if p.clauses > p.lim.MaxClauses {
		return nil, errorf(lt.pos, "more than %d comparisons", p.lim.MaxClauses)
	}

	path := left.tok.Literal
	kind, ok := p.schema.lookup(path)
	if !ok {
		return nil, errorf(left.tok.pos, "unknown field %q", path)
	}
	v, err := check(path, kind, op, st.pos, right)
	if err != nil {
		return nil, err
	}
	return &Clause{Field: path, Kind: kind, Op: op, Value: v, Pos: lt.pos}, nil
}

func valueType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "unknown"
}

// check type-checks op and the literal against a field of the given kind
// and returns the clause's value.
func check(path string, kind Kind, op Op, opPos int, lit operand) (any, error) {
	v := lit.value
	opErr := func() error {
		switch op {
		case AnyEq:
			return errorf(opPos, "operator ?= needs an array field; %q is %s", path, kind)
		}
		return errorf(opPos, "operator %q is not supported on %s field %q", op, kind, path)
	}
	mismatch := func() error {
		return errorf(lit.tok.pos, "type mismatch: %s field %q compared with %s", kind, path, valueType(v))
	}
	if v == nil {
		if op != Eq && op != Neq {
			return nil, errorf(lit.tok.pos, "null can only be compared with = or !=")
		}
		return nil, nil
	}
	switch kind {
	case String, Text:
		if op == AnyEq {
			return nil, opErr()
		}
		if _, ok := v.(string); !ok {
			return nil, mismatch()
		}
	case Number:
		if op == AnyEq || op == Like || op == NotLike {
			return nil, opErr()
		}
		if _, ok := v.(float64); !ok {
			return nil, mismatch()
		}
	case Bool:
		if op != Eq && op != Neq {
			return nil, opErr()
		}
		if _, ok := v.(bool); !ok {
			return nil, mismatch()
		}
	case Time:
		if op == AnyEq || op == Like || op == NotLike {
			return nil, opErr()
		}
		s, ok := v.(string)
		if !ok {
			return nil, mismatch()
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, errorf(lit.tok.pos, "invalid time %q for field %q: want RFC 3339", s, path)
		}
		return t, nil
	case Array:
		if op == Eq || op == Neq {
			return nil, errorf(opPos, "array field %q can only be compared with null; use ?= to match an element", path)
		}
		if op != AnyEq {
			return nil, opErr()
		}
		switch v.(type) {
		case string, float64:
		default:
			return nil, mismatch()
		}
	case Any:
		switch op {
		case Like, NotLike:
			if _, ok := v.(string); !ok {
				return nil, mismatch()
			}
		case Gt, Gte, Lt, Lte:
			if _, ok := v.(bool); ok {
				return nil, mismatch()
			}
		}
	}
	return v, nil
}
