package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/memory"
	"github.com/strata-dev/strata/sdk/storage"
)

func newManager(tb testing.TB) *core.Manager {
	tb.Helper()
	return newManagerWith(tb)
}

// newManagerWith is newManager with options changed by opts.
func newManagerWith(tb testing.TB, opts ...func(*core.Options)) *core.Manager {
	tb.Helper()
	store, err := memory.Open(context.Background(), "", storage.OpenOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	var o core.Options
	for _, f := range opts {
		f(&o)
	}
	m, err := core.Open(context.Background(), store, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close(); store.Close() })
	return m
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
	ctx := context.Background()
	m := newManager(f)
	_, err := m.CreateType(ctx, core.Type{Name: "docs", Schema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"}}}`)}, core.Principal{})
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
// object that round-trips, or refused with a client error.
func FuzzCreate(f *testing.F) {
	for _, s := range []string{`{}`, `{"title":"x"}`, `{"id":"abc","title":"y"}`, `[1]`, `{"a":1e400}`, `{"a":"\u0000"}`, `{"id":5}`, `{"title":1}`, `"x"`, `{"a":[[[[[]]]]]}`, `{"a":1} x`, `{"a":-0.0}`, `{"__proto__":{}}`} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	m := newManager(f)
	_, err := m.CreateType(ctx, core.Type{Name: "docs", Schema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"}}}`), Unique: []string{"title"}}, core.Principal{})
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
		if string(got.Data) != string(res.Data) || !json.Valid(got.Data) {
			t.Fatalf("stored data %s differs from created %s", got.Data, res.Data)
		}
		if err := m.Purge(ctx, "docs", res.ID, core.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}
