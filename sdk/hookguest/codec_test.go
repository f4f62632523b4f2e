package hookguest

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

var jsonSeeds = []string{
	`{"abi":1,"data":{"title":"Hi","n":12345678901234567890,"f":-1.50e+3,"z":0}}`,
	`{"a":[1,[2,[3]],{}],"b":null,"c":true,"d":false,"e":""}`,
	`"\u00e9\ud83d\ude80\ud800x\udc00\\\"\/\b\f\n\r\t"`,
	`"caf\xc3\xa9 \xff\xfe bad utf-8"`,
	` [ 1 , -0 , 0.5 , 1e9 , 2E-7 ] `,
	`{"k":"v","k":"w"}`,
	`{"\u2028":"\u2029<>&"}`,
	`01`, `1.`, `-`, `[1,]`, `{"a":1,}`, `"\u12"`, `"\x01"`, `{"a" 1}`, `nul`, `[1] x`,
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
}

// FuzzDecode checks the decoder against encoding/json with UseNumber: the
// same values for valid JSON, an error for invalid JSON.
func FuzzDecode(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		d := decoder{src: src}
		got, err := d.document()
		if !json.Valid(src) {
			if err == nil {
				t.Fatalf("decoded invalid JSON %q as %#v", src, got)
			}
			return
		}
		if err != nil {
			if depth(src) > maxDepth {
				return
			}
			t.Fatalf("valid JSON %q: %v", src, err)
		}
		var want any
		dec := json.NewDecoder(bytes.NewReader(src))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", src, got, want)
		}
	})
}

// depth is the deepest nesting of arrays and objects in valid JSON.
func depth(src []byte) int {
	n, deepest, inString := 0, 0, false
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			n++
			deepest = max(deepest, n)
		case c == ']' || c == '}':
			n--
		}
	}
	return deepest
}

// FuzzEncode checks that encoding a decoded value gives encoding/json's
// bytes (without HTML escaping).
func FuzzEncode(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var v any
		dec := json.NewDecoder(bytes.NewReader(src))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return
		}
		got, err := appendValue(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if want := marshal(t, v); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", src, got, want)
		}
	})
}

// FuzzEncodeString covers strings decoding never produces: invalid UTF-8.
func FuzzEncodeString(f *testing.F) {
	for _, s := range []string{"", "plain", "\x00\x1f\x7f", "\xff", "a\xc3", "\u2028\u2029", "<&>", "\"\\", "é🚀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString(nil, s), marshal(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	})
}

func FuzzEncodeFloat(f *testing.F) {
	for _, x := range []float64{0, math.Copysign(0, -1), 1, 1.5, 1e-7, 1e20, 1e21, 123456789e-15, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.NaN()} {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x float64) {
		for _, v := range []any{x, float32(x)} {
			got, err := appendValue(nil, v)
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			if wantErr := enc.Encode(v); wantErr != nil {
				if err == nil {
					t.Fatalf("%T %v: encoded as %s, encoding/json fails: %v", v, v, got, wantErr)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%T %v: %v", v, v, err)
			}
			if w := bytes.TrimSuffix(want.Bytes(), []byte("\n")); !bytes.Equal(got, w) {
				t.Fatalf("%T %v:\n got %s\nwant %s", v, v, got, w)
			}
		}
	})
}

func TestAppendValueTypes(t *testing.T) {
	t.Parallel()
	type point struct{ X, Y int }
	for _, v := range []any{
		nil, "s", true, json.Number("1.50"), json.Number(""), 3, int64(-4), int32(5), uint(6), uint64(7), uint32(8),
		map[string]any(nil), []any(nil), []string(nil), []string{"a", "<b>"}, map[string]any{"b": 1, "a": []any{}},
		point{1, 2}, map[string]int{"z": 1, "a": 2}, []byte("bytes"),
	} {
		got, err := appendValue(nil, v)
		if err != nil {
			t.Errorf("%#v: %v", v, err)
			continue
		}
		if want := marshal(t, v); !bytes.Equal(got, want) {
			t.Errorf("%#v:\n got %s\nwant %s", v, got, want)
		}
	}
	if _, err := appendValue(nil, json.Number("1x")); err == nil {
		t.Error("encoded an invalid json.Number")
	}
}

// marshal is encoding/json's encoding of v, without HTML escaping.
func marshal(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
