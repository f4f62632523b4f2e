package hooks

import (
	"encoding/json"
	"reflect"
	"testing"
)

// referenceEnvelope is the input envelope as encoding/json writes it.
type referenceEnvelope struct {
	ABI       int             `json:"abi"`
	Hook      string          `json:"hook"`
	Stage     string          `json:"stage"`
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Data      json.RawMessage `json:"data"`
	Previous  json.RawMessage `json:"previous,omitempty"`
	Principal *Principal      `json:"principal,omitempty"`
	Request   RequestInfo     `json:"request"`
	Config    json.RawMessage `json:"config,omitempty"`
}

func TestEncodeInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Input
	}{
		{name: "sample", in: sampleInput()},
		{name: "zero", in: Input{}},
		{name: "escapes", in: Input{
			Stage: "a\"b\\c\nd\te\rf\x01g<h>&i", Type: "\u2028\u2029é日本", ID: "bad\xffutf8",
			Data: json.RawMessage(`{"a":[1,2,{"b":null}]}`), Previous: json.RawMessage(`"x"`),
			Principal: &Principal{ID: "p", Roles: nil}, Config: json.RawMessage(`[]`),
			Request: RequestInfo{ID: "\x00", Time: "t"},
		}},
		{name: "roles", in: Input{Principal: &Principal{ID: "p", Roles: []string{"a", "b\"c"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeInput("h", &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(referenceEnvelope{
				ABI: 1, Hook: "h", Stage: tc.in.Stage, Type: tc.in.Type, ID: tc.in.ID, Data: tc.in.Data,
				Previous: tc.in.Previous, Principal: tc.in.Principal, Request: tc.in.Request, Config: tc.in.Config,
			})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("encodeInput\n got %s\nwant %s", got, want)
			}
		})
	}
	for _, bad := range []Input{
		{Data: json.RawMessage(`{`)},
		{Previous: json.RawMessage(`nope`)},
		{Config: json.RawMessage(`{"a":}`)},
	} {
		if _, err := encodeInput("h", &bad); err == nil {
			t.Errorf("encodeInput(%+v) accepted invalid JSON", bad)
		}
	}
	// Empty raw fields count as absent.
	got, _ := encodeInput("h", &Input{Data: json.RawMessage{}, Previous: json.RawMessage{}, Config: json.RawMessage{}})
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil || m["data"] != nil || m["previous"] != nil || m["config"] != nil {
		t.Errorf("empty raw fields: %s", got)
	}
	if _, has := m["previous"]; has {
		t.Errorf("empty previous was sent: %s", got)
	}
}

// FuzzAppendString checks that appendString writes what encoding/json
// writes for any string.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "\x00\x1f\x7f", "<>&", "\u2028\u2029", "\xff\xfe", "é日本\U0001F600", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got := appendString(nil, s)
		if string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual([]byte(back), []byte(string([]rune(s)))) && isValidUTF8(s) {
			t.Fatalf("round trip of %q gave %q", s, back)
		}
	})
}

func isValidUTF8(s string) bool { return string([]rune(s)) == s }

// FuzzDecodeOutput checks that decodeOutput never panics and that what it
// accepts survives a round trip.
func FuzzDecodeOutput(f *testing.F) {
	for _, s := range []string{`{"allow":true}`, `{"allow":false,"errors":[{"path":"/a","message":"m"}]}`,
		`{"allow":true,"data":{"x":[1,2]},"events":[{"type":"t","data":null}]}`, `{"allow":1}`, `[]`, `null`, `{"allow":true,"data":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := decodeOutput(raw)
		if err != nil {
			return
		}
		again, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", out, err)
		}
		back, err := decodeOutput(again)
		if err != nil {
			t.Fatalf("decodeOutput(%s) after a round trip: %v", again, err)
		}
		if back.Allow != out.Allow || len(back.Errors) != len(out.Errors) || len(back.Events) != len(out.Events) || (back.Data == nil) != (out.Data == nil) {
			t.Fatalf("round trip changed %+v into %+v", out, back)
		}
	})
}
