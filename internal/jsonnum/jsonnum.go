// Package jsonnum is Strata's number model, shared by the data path (core)
// and the filter language (index/filter) so that both read a number the
// same way.
//
// Numbers are IEEE-754 doubles. A JSON number literal is accepted only
// when its decimal value is exactly the shortest decimal that round-trips
// the double nearest to it: 1, 1.0, 1e0, 10E-1, 0.1 and 1.5e300 are
// accepted; 9007199254740993 (2^53+1), 1e400 and 0.1000000000000000000001
// are refused, because storing them would silently change them. An
// accepted number has one canonical spelling, the shortest one as
// ECMAScript's Number.prototype.toString writes it (and as RFC 8785 and
// encoding/json do): 1.0, 1e0 and 10E-1 are 1, -0 is 0, 1e21 is 1e+21.
package jsonnum

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// ErrInexact is returned for a literal whose value a double cannot hold.
var ErrInexact = errors.New("jsonnum: not exactly representable as an IEEE-754 double")

// Canonical returns the canonical spelling of the JSON number literal lit
// and its value (never -0). It fails with an error wrapping [ErrInexact] when lit is
// out of the double range or has more precision than a double holds, and
// with another error when lit is not a number in the grammar of [Len].
func Canonical(lit string) (string, float64, error) {
	if plain(lit) {
		f, err := strconv.ParseFloat(lit, 64)
		return lit, f, err
	}
	return canonicalSlow(lit)
}

// canonicalSlow is Canonical without the shortcut for plain literals.
func canonicalSlow(lit string) (string, float64, error) {
	if lit == "" || Len(lit) != len(lit) {
		return "", 0, fmt.Errorf("jsonnum: %q is not a JSON number", lit)
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return "", 0, inexact(lit)
		}
		return "", 0, err
	}
	canon := string(Append(nil, f))
	if !sameDecimal(lit, canon) {
		return "", 0, inexact(lit)
	}
	if f == 0 {
		f = 0 // -0 is 0, as its spelling is
	}
	return canon, f, nil
}

// Len returns the length of the number literal at the start of s, 0 if
// there is none: JSON's grammar, -?digits(.digits)?([eE][+-]?digits)?,
// except that leading zeros are allowed (a decimal 007 is 7). A dot or an
// exponent mark not followed by a digit ends the literal before it.
func Len(s string) int {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	n := digits(s[i:])
	if n == 0 {
		return 0
	}
	i += n
	if i < len(s) && s[i] == '.' {
		if n := digits(s[i+1:]); n > 0 {
			i += 1 + n
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if n := digits(s[j:]); n > 0 {
			i = j + n
		}
	}
	return i
}

// plain reports whether lit is canonical as it stands, the common case
// decided without converting: a decimal without exponent, leading zeros,
// trailing fraction zeros or -0, of at most 15 significant digits and at
// least 1e-6 in magnitude. Any decimal of at most 15 significant digits is
// the shortest spelling of its double (two such decimals differ by more
// than a double's precision), and in that magnitude range the canonical
// spelling is the fixed notation.
func plain(lit string) bool {
	s := lit
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	n := digits(s)
	if n == 0 || n > 15 || s[0] == '0' && n > 1 {
		return false
	}
	sig := n
	if s[0] == '0' {
		sig = 0
	}
	rest := s[n:]
	if rest == "" {
		return lit != "-0"
	}
	frac := rest[1:]
	f := digits(frac)
	if rest[0] != '.' || f == 0 || f != len(frac) || frac[f-1] == '0' {
		return false
	}
	if sig == 0 {
		z := 0
		for frac[z] == '0' {
			z++
		}
		if z > 5 { // below 1e-6
			return false
		}
		f -= z
	}
	return sig+f <= 15
}

func digits(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func inexact(lit string) error {
	const max = 40
	if len(lit) > max {
		lit = lit[:max] + "…"
	}
	return &literalError{lit: lit}
}

type literalError struct{ lit string }

func (e *literalError) Error() string {
	return e.lit + " cannot be held exactly by an IEEE-754 double (out of range or too precise)"
}

func (e *literalError) Unwrap() error { return ErrInexact }

// Append appends the canonical spelling of f: the shortest decimal that
// parses back to f, in fixed notation from 1e-6 up to 1e21 and in
// exponent notation outside, with -0 written 0. f must be finite.
func Append(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0')
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 → 1e-7, as ECMAScript writes it.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// decimal is a number as sign, significant digits (no leading or trailing
// zeros) and exponent: -digits×10^exp when neg. Zero has no digits.
type decimal struct {
	neg    bool
	digits string
	exp    int64
}

// maxExp bounds exponents while parsing: any larger one is far outside
// the double range (and so never equal to a canonical spelling) unless
// the digits are all zeros.
const maxExp = 1 << 40

func parseDecimal(s string) decimal {
	var d decimal
	if s != "" && (s[0] == '-' || s[0] == '+') {
		d.neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp := s, int64(0)
	for i := 0; i < len(s); i++ {
		if s[i] == 'e' || s[i] == 'E' {
			mant = s[:i]
			e := s[i+1:]
			neg := false
			if e != "" && (e[0] == '-' || e[0] == '+') {
				neg = e[0] == '-'
				e = e[1:]
			}
			for j := 0; j < len(e) && exp < maxExp; j++ {
				exp = exp*10 + int64(e[j]-'0')
			}
			if neg {
				exp = -exp
			}
			break
		}
	}
	// Every digit after the point, significant or a leading zero, moves
	// the point one place.
	var digits []byte
	afterDot := false
	for i := 0; i < len(mant); i++ {
		c := mant[i]
		if c == '.' {
			afterDot = true
			continue
		}
		if afterDot {
			exp--
		}
		if c != '0' || len(digits) > 0 {
			digits = append(digits, c)
		}
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if len(digits) == 0 {
		return decimal{}
	}
	d.digits, d.exp = string(digits), exp
	return d
}

// sameDecimal reports whether two number literals have the same decimal
// value (-0 and 0 are the same).
func sameDecimal(a, b string) bool {
	return parseDecimal(a) == parseDecimal(b)
}
