package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
)

// unmarshalNumbers decodes one JSON value as encoding/json does, but with
// numbers as json.Number, so huge ones are not an error.
func unmarshalNumbers(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

// FuzzOrderedRoundTrip checks that decodeOrdered and encodeIndented keep
// the meaning of any JSON value, and that embedding a schema with no
// references or identifiers changes nothing.
func FuzzOrderedRoundTrip(f *testing.F) {
	for _, seed := range []string{
		`{}`, `[]`, `true`, `null`, `1.50e3`, `"a\u003cb"`,
		`{"b":1,"a":[1,{"c":null}],"b":2}`,
		`{"type":"object","properties":{"x":{"type":"string","enum":["a","b"]}},"required":["x"]}`,
		`{"$ref":"#/$defs/a","$defs":{"a":{"$id":"x"}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, err := unmarshalNumbers(data)
		if err != nil {
			if _, err := decodeOrdered(data); err == nil {
				t.Fatalf("decodeOrdered accepts invalid JSON %q", data)
			}
			return
		}
		v, err := decodeOrdered(data)
		if err != nil {
			t.Fatalf("decodeOrdered(%q): %v", data, err)
		}
		out, err := encodeIndented(v)
		if err != nil {
			t.Fatalf("encodeIndented: %v", err)
		}
		got, err := unmarshalNumbers(out)
		if err != nil {
			t.Fatalf("encodeIndented wrote invalid JSON %q: %v", out, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip of %q gave %q", data, out)
		}
		if len(out) > 4*len(data)+10*maxIndent*maxIndent {
			t.Fatalf("%d bytes of JSON became %d", len(data), len(out))
		}

		s, err := embedSchema("t", data)
		if err != nil {
			return // not an object or boolean
		}
		if _, err := encodeIndented(s); err != nil {
			t.Fatalf("embedded schema does not encode: %v", err)
		}
	})
}

func TestEncodeIndentedDeep(t *testing.T) {
	t.Parallel()
	const depth = 5000
	data := bytes.Repeat([]byte("["), depth)
	data = append(data, bytes.Repeat([]byte("]"), depth)...)
	v, err := decodeOrdered(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := encodeIndented(v)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > 2*depth+4*maxIndent*maxIndent {
		t.Errorf("%d levels took %d bytes", depth, len(out))
	}
	if _, err := unmarshalNumbers(out); err != nil {
		t.Error(err)
	}
}
