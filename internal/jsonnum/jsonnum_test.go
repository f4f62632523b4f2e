package jsonnum

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestCanonical(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lit, want string // want "" means refused as inexact
	}{
		{"1", "1"},
		{"1.0", "1"},
		{"1e0", "1"},
		{"10E-1", "1"},
		{"1.00", "1"},
		{"0.1e1", "1"},
		{"0", "0"},
		{"-0", "0"},
		{"-0.0e5", "0"},
		{"0e999999999999999999999", "0"},
		{"0.1", "0.1"},
		{"-2.50", "-2.5"},
		{"100", "100"},
		{"1e2", "100"},
		{"1e20", "100000000000000000000"},
		{"1e21", "1e+21"},
		{"1.5e300", "1.5e+300"},
		{"1e-6", "0.000001"},
		{"1e-7", "1e-7"},
		{"123456789e-20", "1.23456789e-12"},
		{"9007199254740992", "9007199254740992"},
		{"-9007199254740992", "-9007199254740992"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"},
		{"5e-324", "5e-324"},
		{"9007199254740993", ""},
		{"1e400", ""},
		{"-1e400", ""},
		{"1e-400", ""},
		{"0.1000000000000000000001", ""},
		{"0.30000000000000004", "0.30000000000000004"},
		{"0.300000000000000044", ""},
		{"1e99999999999999999999", ""},
		{"1e-99999999999999999999", ""},
	} {
		t.Run(tc.lit, func(t *testing.T) {
			got, f, err := Canonical(tc.lit)
			if tc.want == "" {
				if !errors.Is(err, ErrInexact) {
					t.Fatalf("Canonical(%q) = %q, %v; want ErrInexact", tc.lit, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Canonical(%q) = %q, %v; want %q", tc.lit, got, err, tc.want)
			}
			if math.Signbit(f) && f == 0 {
				t.Fatalf("Canonical(%q) value is -0", tc.lit)
			}
			if again, g, err := Canonical(got); err != nil || again != got || g != f {
				t.Fatalf("Canonical(%q) = %q, %v, %v; canonical form does not round-trip", got, again, g, err)
			}
		})
	}
}

// FuzzCanonical checks that a canonical spelling is a fixed point with
// the same value, and that every finite double has one.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"1", "1.0", "-0", "1e400", "9007199254740993", "0.1", "1e21", "1e-7", "123.456e-7",
		"0.000001", "0.0000001", "-0.5", "123456789012345", "1234567890123456", "0.123456789012345", "99999999999999.9", "0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		if v, err := strconv.ParseFloat(lit, 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			c := string(Append(nil, v))
			if again, g, err := Canonical(c); err != nil || again != c || g != v && !(g == 0 && v == 0) {
				t.Fatalf("Append(%v) = %q does not round-trip: %q, %v, %v", v, c, again, g, err)
			}
		}
		canon, v, err := Canonical(lit)
		slow, sv, serr := canonicalSlow(lit)
		if canon != slow || v != sv && !(v == 0 && sv == 0) || (err == nil) != (serr == nil) {
			t.Fatalf("Canonical(%q) = %q, %v, %v; without the shortcut %q, %v, %v", lit, canon, v, err, slow, sv, serr)
		}
		if err != nil {
			return
		}
		again, g, err := Canonical(canon)
		if err != nil || again != canon || g != v {
			t.Fatalf("Canonical(%q) = %q; Canonical of that = %q, %v (value %v vs %v)", lit, canon, again, err, g, v)
		}
	})
}

func TestLen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    string
		want int
	}{
		{"", 0}, {"-", 0}, {"x", 0}, {".5", 0}, {"Inf", 0}, {"0x10", 1},
		{"1", 1}, {"-1", 2}, {"007", 3}, {"1.5", 3}, {"1.", 1}, {"1.e3", 1},
		{"1e3", 3}, {"1E+3", 4}, {"1e-3 ", 4}, {"1e", 1}, {"1e+", 1}, {"1.5e300)", 7},
	} {
		if got := Len(tc.s); got != tc.want {
			t.Errorf("Len(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
	for _, lit := range []string{"Inf", "NaN", "0x1p3", "1_0", "+1", " 1", ""} {
		if _, _, err := Canonical(lit); err == nil || errors.Is(err, ErrInexact) {
			t.Errorf("Canonical(%q): %v, want a grammar error", lit, err)
		}
	}
}

// TestPlainShortcut: the shortcut for plain decimals agrees with the
// exact comparison on decimals of up to 17 digits at every point position.
func TestPlainShortcut(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		n := 1 + r.IntN(17)
		b := make([]byte, 0, n+4)
		if r.IntN(2) == 0 {
			b = append(b, '-')
		}
		point := r.IntN(n + 1)
		for i := range n {
			if i == point && i > 0 {
				b = append(b, '.')
			}
			b = append(b, byte('0'+r.IntN(10)))
		}
		lit := string(b)
		if Len(lit) != len(lit) {
			continue
		}
		c, v, err := Canonical(lit)
		sc, sv, serr := canonicalSlow(lit)
		if c != sc || v != sv || (err == nil) != (serr == nil) {
			t.Fatalf("Canonical(%q) = %q, %v, %v; without the shortcut %q, %v, %v", lit, c, v, err, sc, sv, serr)
		}
	}
}
