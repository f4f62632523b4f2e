package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
)

func newManager(tb testing.TB) *core.Manager {
	tb.Helper()
	return newManagerWith(tb)
}

// newManagerWith is newManager with options changed by opts. It runs
// over the memory store: the fuzzers call it, and a disk write per
// operation would cut their throughput.
func newManagerWith(tb testing.TB, opts ...func(*core.Options)) *core.Manager {
	tb.Helper()
	o := []apptest.Option{apptest.WithMemoryStore()}
	for _, f := range opts {
		o = append(o, apptest.WithCore(f))
	}
	return apptest.New(tb, o...).Manager
}

// clientError reports whether err is one of the kinds a client causes.
func clientError(err error) bool {
	for _, kind := range []error{core.ErrInvalid, core.ErrNotFound, core.ErrGone, core.ErrConflict, core.ErrPreconditionFailed, core.ErrValidation} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}

// FuzzPatch applies arbitrary merge patches and JSON Patches to a stored
// resource: each either fails with a client error and changes nothing, or
// yields a new current revision whose data is a JSON object.
func FuzzPatch(f *testing.F) {
	seeds := []struct {
		kind  byte
		patch string
	}{
		{0, `{"title":"x"}`},
		{0, `{"tags":null,"n":{"a":[1,2]}}`},
		{0, `[]`},
		{1, `[{"op":"add","path":"/tags/-","value":"c"}]`},
		{1, `[{"op":"remove","path":"/title"}]`},
		{1, `[{"op":"move","from":"/tags","path":"/moved"}]`},
		{1, `[{"op":"copy","from":"/n","path":"/n2"},{"op":"test","path":"/n2","value":{"a":1}}]`},
		{1, `[{"op":"add","path":"/tags/99999999","value":1}]`},
		{1, `[{"op":"replace","path":"","value":{"title":"root"}}]`},
		{1, `{"op":"add"}`},
	}
	for _, s := range seeds {
		f.Add(s.kind, []byte(s.patch))
	}
	ctx := core.AsSystem(context.Background())
	m := newManager(f)
	_, err := m.CreateType(ctx, core.Type{Name: "docs", Schema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"}}}`)})
	if err != nil {
		f.Fatal(err)
	}
	res, err := m.Create(ctx, "docs", []byte(`{"title":"t","tags":["a","b"],"n":{"a":1}}`), core.WriteOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, kind byte, patch []byte) {
		before, err := m.Get(ctx, "docs", res.ID, core.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pk := core.MergePatch
		if kind%2 == 1 {
			pk = core.JSONPatch
		}
		out, err := m.Patch(ctx, "docs", res.ID, pk, patch, core.WriteOptions{})
		if err != nil {
			if !clientError(err) {
				t.Fatalf("patch %q: non-client error %v", patch, err)
			}
			after, _ := m.Get(ctx, "docs", res.ID, core.GetOptions{})
			if after.Revision.Number != before.Revision.Number {
				t.Fatalf("failed patch %q moved the resource to revision %d", patch, after.Revision.Number)
			}
			return
		}
		var obj map[string]any
		if err := json.Unmarshal(out.Data, &obj); err != nil {
			t.Fatalf("patch %q produced non-object data %s", patch, out.Data)
		}
		// Put the document back so the next input starts from the seed.
		if _, err := m.Replace(ctx, "docs", res.ID, []byte(`{"title":"t","tags":["a","b"],"n":{"a":1}}`), core.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzCreate feeds arbitrary bodies to Create: each is stored as a JSON
// object that round-trips, or refused with a client error. The stored
// form is canonical: writing it back is no change (same bytes, same
// hash, no new revision), so canonical(canonical(x)) == canonical(x).
func FuzzCreate(f *testing.F) {
	for _, s := range []string{`{}`, `{"title":"x"}`, `{"id":"abc","title":"y"}`, `[1]`, `{"a":1e400}`, `{"a":"\u0000"}`, `{"id":5}`, `{"title":1}`, `"x"`, `{"a":[[[[[]]]]]}`, `{"a":1} x`, `{"a":-0.0}`, `{"__proto__":{}}`,
		`{"a":1.0,"b":[1e0,10E-1,-0,1.5e300,1E-7,0.1]}`, `{"a":9007199254740993}`, `{"a":0.1000000000000000000001}`,
		`{"a":"\ud800"}`, `{"a":"\ud83d\ude00\u2028"}`, "{\"a\":\"\xff\"}", `{"b":{"z":1,"a":[{"y":2.50,"x":"\u00e9"}]}}`} {
		f.Add([]byte(s))
	}
	ctx := core.AsSystem(context.Background())
	m := newManager(f)
	_, err := m.CreateType(ctx, core.Type{Name: "docs", Schema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"}}}`), Unique: []string{"title"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := m.Create(ctx, "docs", body, core.WriteOptions{})
		if err != nil {
			if !clientError(err) {
				t.Fatalf("body %q: non-client error %v", body, err)
			}
			return
		}
		got, err := m.Get(ctx, "docs", res.ID, core.GetOptions{})
		if err != nil {
			t.Fatalf("created %s but cannot read it: %v", res.ID, err)
		}
		if string(got.Data) != string(res.Data) || !json.Valid(got.Data) || !utf8.Valid(got.Data) {
			t.Fatalf("stored data %s differs from created %s", got.Data, res.Data)
		}
		again, err := m.Replace(ctx, "docs", res.ID, got.Data, core.WriteOptions{})
		if err != nil {
			t.Fatalf("writing back stored data %s: %v", got.Data, err)
		}
		if again.Revision.Number != 1 || again.Revision.DataHash != res.Revision.DataHash || string(again.Data) != string(got.Data) {
			t.Fatalf("stored form %s is not canonical: writing it back gave revision %d %s", got.Data, again.Revision.Number, again.Data)
		}
		// The same data spelled otherwise (numbers in exponent form, keys
		// in reverse order) is the same data.
		other := respell(t, got.Data)
		again, err = m.Replace(ctx, "docs", res.ID, other, core.WriteOptions{})
		if err != nil {
			t.Fatalf("writing back %s as %s: %v", got.Data, other, err)
		}
		if again.Revision.Number != 1 || string(again.Data) != string(got.Data) {
			t.Fatalf("%s respelled as %s gave revision %d %s", got.Data, other, again.Revision.Number, again.Data)
		}
		if err := m.Purge(ctx, "docs", res.ID, core.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// respell writes JSON data with the same values in other spellings:
// numbers in exponent form, object members in reverse key order.
func respell(t *testing.T, data []byte) []byte {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	var write func(b []byte, v any) []byte
	write = func(b []byte, v any) []byte {
		switch v := v.(type) {
		case json.Number:
			f, err := v.Float64()
			if err != nil {
				t.Fatalf("stored number %s: %v", v, err)
			}
			return strconv.AppendFloat(b, f, 'E', -1, 64)
		case map[string]any:
			keys := slices.Sorted(maps.Keys(v))
			slices.Reverse(keys)
			b = append(b, '{')
			for i, k := range keys {
				if i > 0 {
					b = append(b, ',')
				}
				kb, _ := json.Marshal(k)
				b = append(append(b, kb...), ':')
				b = write(b, v[k])
			}
			return append(b, '}')
		case []any:
			b = append(b, '[')
			for i, e := range v {
				if i > 0 {
					b = append(b, ',')
				}
				b = write(b, e)
			}
			return append(b, ']')
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return append(b, raw...)
	}
	return write(nil, v)
}
