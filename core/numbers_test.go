package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/strata-dev/strata/core"
)

// newNumbersManager is a manager with a type "nums" whose "num" is unique
// and whose "title" is required.
func newNumbersManager(t *testing.T, opts ...func(*core.Options)) *core.Manager {
	t.Helper()
	m := newManagerWith(t, opts...)
	_, err := m.CreateType(core.AsSystem(context.Background()), core.Type{
		Name:   "nums",
		Schema: json.RawMessage(`{"type":"object","required":["title"],"properties":{"title":{"type":"string"},"num":{"type":"number"}}}`),
		Unique: []string{"num"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fieldPaths are the paths of err's field errors, or nil.
func fieldPaths(err error) []string {
	var ce *core.Error
	if !errors.As(err, &ce) {
		return nil
	}
	var out []string
	for _, f := range ce.Fields {
		out = append(out, f.Path)
	}
	return out
}

// TestUniqueNumbersByValue: equal numbers are equal unique values however
// they are written.
func TestUniqueNumbersByValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ first, second string }{
		{"1", "1.0"},
		{"1", "1e0"},
		{"1", "10E-1"},
		{"1.0", "1"},
		{"0", "-0"},
		{"-0.0", "0"},
		{"1.5", "15e-1"},
		{"100", "1e2"},
		{"1e21", "1000000000000000000000"},
	} {
		t.Run(tc.first+"_"+tc.second, func(t *testing.T) {
			t.Parallel()
			ctx := core.AsSystem(context.Background())
			m := newNumbersManager(t)
			if _, err := m.Create(ctx, "nums", []byte(`{"title":"a","num":`+tc.first+`}`), core.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			_, err := m.Create(ctx, "nums", []byte(`{"title":"b","num":`+tc.second+`}`), core.WriteOptions{})
			if !errors.Is(err, core.ErrConflict) {
				t.Fatalf("second create with num %s after %s: %v, want a conflict", tc.second, tc.first, err)
			}
			if n, _ := m.Count(ctx, "nums", true); n != 1 {
				t.Fatalf("%d resources stored, want 1", n)
			}
		})
	}
}

// TestEqualNumbersNoNewRevision: a write whose numbers only change
// spelling is no change: no new revision, and the data is stored in the
// canonical form.
func TestEqualNumbersNoNewRevision(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ stored, written, want string }{
		{"1", "1.00", `{"num":1,"title":"a"}`},
		{"1.0", "1", `{"num":1,"title":"a"}`},
		{"-0", "0", `{"num":0,"title":"a"}`},
		{"2.50", "25e-1", `{"num":2.5,"title":"a"}`},
		{"1e21", "1E+21", `{"num":1e+21,"title":"a"}`},
	} {
		t.Run(tc.stored+"_"+tc.written, func(t *testing.T) {
			t.Parallel()
			ctx := core.AsSystem(context.Background())
			m := newNumbersManager(t)
			res, err := m.Create(ctx, "nums", []byte(`{"title":"a","num":`+tc.stored+`}`), core.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Data) != tc.want {
				t.Fatalf("stored %s, want %s", res.Data, tc.want)
			}
			for _, write := range []func() (*core.Resource, error){
				func() (*core.Resource, error) {
					return m.Replace(ctx, "nums", res.ID, []byte(`{"title":"a","num":`+tc.written+`}`), core.WriteOptions{})
				},
				func() (*core.Resource, error) {
					return m.Patch(ctx, "nums", res.ID, core.MergePatch, []byte(`{"num":`+tc.written+`}`), core.WriteOptions{})
				},
				func() (*core.Resource, error) {
					return m.Patch(ctx, "nums", res.ID, core.JSONPatch, []byte(`[{"op":"replace","path":"/num","value":`+tc.written+`}]`), core.WriteOptions{})
				},
			} {
				got, err := write()
				if err != nil {
					t.Fatal(err)
				}
				if got.Revision.Number != 1 || got.Revision.DataHash != res.Revision.DataHash || string(got.Data) != tc.want {
					t.Fatalf("writing %s over %s: revision %d %s %s, want revision 1 %s %s",
						tc.written, tc.stored, got.Revision.Number, got.Revision.DataHash, got.Data, res.Revision.DataHash, tc.want)
				}
			}
		})
	}
}

// numsWrite is one write to the nums type by some path, for the tests that
// every path refuses a bad body.
type numsWrite func(m *core.Manager, id string) error

func createNums(body string) numsWrite {
	return func(m *core.Manager, _ string) error {
		_, err := m.Create(core.AsSystem(context.Background()), "nums", []byte(body), core.WriteOptions{})
		return err
	}
}

func replaceNums(body string) numsWrite {
	return func(m *core.Manager, id string) error {
		_, err := m.Replace(core.AsSystem(context.Background()), "nums", id, []byte(body), core.WriteOptions{})
		return err
	}
}

func patchNums(kind core.PatchKind, body string) numsWrite {
	return func(m *core.Manager, id string) error {
		_, err := m.Patch(core.AsSystem(context.Background()), "nums", id, kind, []byte(body), core.WriteOptions{})
		return err
	}
}

// TestInexactNumbersRefused: a number a double cannot hold is refused by
// every write path with a 400 naming its path, and nothing is written.
func TestInexactNumbersRefused(t *testing.T) {
	t.Parallel()
	type write = numsWrite
	create, replace, patch := createNums, replaceNums, patchNums
	batch := func(body string) write {
		return func(m *core.Manager, _ string) error {
			_, err := m.Batch(core.AsSystem(context.Background()), []core.Op{
				{Kind: core.OpCreate, Type: "nums", Body: []byte(`{"title":"ok","num":7}`)},
				{Kind: core.OpCreate, Type: "nums", Body: []byte(body)},
			}, core.WriteOptions{})
			return err
		}
	}
	for _, tc := range []struct {
		name  string
		write write
		path  string
	}{
		{"2^53+1", create(`{"title":"x","num":9007199254740993}`), "/num"},
		{"1e400", create(`{"title":"x","num":1e400}`), "/num"},
		{"-1e400", create(`{"title":"x","num":-1e400}`), "/num"},
		{"underflow", create(`{"title":"x","num":1e-400}`), "/num"},
		{"too precise", create(`{"title":"x","num":0.1000000000000000000001}`), "/num"},
		{"nested", create(`{"title":"x","deep":{"a/b":[1,2,{"c":9007199254740993}]}}`), "/deep/a~1b/2/c"},
		{"replace", replace(`{"title":"x","num":1e400}`), "/num"},
		{"merge patch", patch(core.MergePatch, `{"num":9007199254740993}`), "/num"},
		{"JSON Patch", patch(core.JSONPatch, `[{"op":"add","path":"/big","value":{"n":[1e400]}}]`), "/big/n/0"},
		{"batch", batch(`{"title":"x","num":1e400}`), "/num"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := core.AsSystem(context.Background())
			m := newNumbersManager(t)
			res, err := m.Create(ctx, "nums", []byte(`{"title":"a","num":1}`), core.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			err = tc.write(m, res.ID)
			if !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
			if paths := fieldPaths(err); len(paths) != 1 || paths[0] != tc.path {
				t.Fatalf("error paths %q, want [%s] (%v)", paths, tc.path, err)
			}
			if !strings.Contains(err.Error(), "double") {
				t.Fatalf("error %q does not say why", err)
			}
			if n, _ := m.Count(ctx, "nums", true); n != 1 {
				t.Fatalf("%d resources, want 1", n)
			}
			got, err := m.Get(ctx, "nums", res.ID, core.GetOptions{})
			if err != nil || got.Revision.Number != 1 {
				t.Fatalf("resource moved: %v %v", got, err)
			}
		})
	}
}

// TestBodyEncodingRefused: invalid UTF-8 and lone surrogates are refused
// wherever a body is decoded, instead of being stored as U+FFFD.
func TestBodyEncodingRefused(t *testing.T) {
	t.Parallel()
	type write = numsWrite
	create, replace, patch := createNums, replaceNums, patchNums
	batch := func(body string) write {
		return func(m *core.Manager, id string) error {
			_, err := m.Batch(core.AsSystem(context.Background()), []core.Op{
				{Kind: core.OpCreate, Type: "nums", Body: []byte(`{"title":"ok"}`)},
				{Kind: core.OpReplace, Type: "nums", ID: id, Body: []byte(body)},
			}, core.WriteOptions{})
			return err
		}
	}
	for _, tc := range []struct {
		name  string
		write write
		want  string
	}{
		{"invalid byte", create("{\"title\":\"a\xffb\"}"), "UTF-8"},
		{"truncated sequence", create("{\"title\":\"a\xe2\x82\"}"), "UTF-8"},
		{"overlong encoding", create("{\"title\":\"\xc0\xaf\"}"), "UTF-8"},
		{"encoded surrogate", create("{\"title\":\"\xed\xa0\x80\"}"), "UTF-8"},
		{"invalid key", create("{\"ti\xfftle\":\"a\",\"title\":\"b\"}"), "UTF-8"},
		{"lone high surrogate", create(`{"title":"\ud800"}`), "surrogate"},
		{"lone low surrogate", create(`{"title":"x\uDC00y"}`), "surrogate"},
		{"high then not low", create(`{"title":"\ud83d\u0041"}`), "surrogate"},
		{"high at end", create(`{"title":"\ud83d"}`), "surrogate"},
		{"two highs", create(`{"title":"\ud83d\ud83d\ude00"}`), "surrogate"},
		{"surrogate in key", create(`{"title":"a","\udfff":1}`), "surrogate"},
		{"replace", replace(`{"title":"\ud800"}`), "surrogate"},
		{"merge patch", patch(core.MergePatch, `{"title":"\ud800"}`), "surrogate"},
		{"merge patch bytes", patch(core.MergePatch, "{\"title\":\"\xff\"}"), "UTF-8"},
		{"JSON Patch", patch(core.JSONPatch, `[{"op":"replace","path":"/title","value":"\udc00"}]`), "surrogate"},
		{"JSON Patch bytes", patch(core.JSONPatch, "[{\"op\":\"replace\",\"path\":\"/title\",\"value\":\"\xff\"}]"), "UTF-8"},
		{"batch", batch("{\"title\":\"\xff\"}"), "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := core.AsSystem(context.Background())
			m := newNumbersManager(t)
			res, err := m.Create(ctx, "nums", []byte(`{"title":"a"}`), core.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			err = tc.write(m, res.ID)
			if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrInvalid naming %s", err, tc.want)
			}
			if n, _ := m.Count(ctx, "nums", true); n != 1 {
				t.Fatalf("%d resources, want 1", n)
			}
			got, err := m.Get(ctx, "nums", res.ID, core.GetOptions{})
			if err != nil || got.Revision.Number != 1 {
				t.Fatalf("resource moved: %v %v", got, err)
			}
		})
	}
	// Proper pairs and non-ASCII text stay accepted, byte for byte.
	m := newNumbersManager(t)
	res, err := m.Create(core.AsSystem(context.Background()), "nums", []byte(`{"title":"\ud83d\ude00 é \u00e9 \uFFFD"}`), core.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"title":"😀 é é �"}`; string(res.Data) != want {
		t.Fatalf("stored %s, want %s", res.Data, want)
	}
}

// TestRequiredFieldPath: a missing required property is reported at its
// own path, not at the object holding it.
func TestRequiredFieldPath(t *testing.T) {
	t.Parallel()
	ctx := core.AsSystem(context.Background())
	m := newManager(t)
	_, err := m.CreateType(ctx, core.Type{
		Name: "docs",
		Schema: json.RawMessage(`{"type":"object","required":["title","a/b"],"properties":{
			"nested":{"type":"object","required":["x"]},
			"list":{"type":"array","items":{"type":"object","required":["y","z"]}},
			"dep":{"type":"string"}},
			"dependentRequired":{"dep":["needed"]}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		body string
		want []string
	}{
		{`{"a/b":1}`, []string{"/title"}},
		{`{}`, []string{"/a~1b", "/title"}},
		{`{"title":"t","a/b":1,"nested":{}}`, []string{"/nested/x"}},
		{`{"title":"t","a/b":1,"list":[{"y":1,"z":1},{"y":1}]}`, []string{"/list/1/z"}},
		{`{"title":"t","a/b":1,"dep":"d"}`, []string{"/needed"}},
	} {
		t.Run(tc.body, func(t *testing.T) {
			_, err := m.Create(ctx, "docs", []byte(tc.body), core.WriteOptions{})
			if !errors.Is(err, core.ErrValidation) {
				t.Fatalf("err %v, want a validation error", err)
			}
			if got := fieldPaths(err); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("paths %q, want %q (%v)", got, tc.want, err)
			}
		})
	}
}

// hookData is a hook runner whose before_create hook answers with fixed
// data.
type hookData struct{ out string }

func (h hookData) RunHook(_ context.Context, call core.HookCall) (*core.HookResult, error) {
	return &core.HookResult{Allow: true, Data: json.RawMessage(h.out)}, nil
}

func (h hookData) RegisterHook(_ context.Context, name string, _ []byte) (core.HookModule, error) {
	return core.HookModule{Name: name}, nil
}
func (h hookData) RemoveHook(context.Context, string) error { return nil }
func (h hookData) HookModules() []core.HookModule {
	return []core.HookModule{{Name: "out"}}
}

// TestHookOutputChecked: data a hook returns goes through the same checks
// as a client's: inexact numbers, invalid UTF-8 and lone surrogates are
// refused (the hook failed, nothing is written), and numbers are stored
// canonical.
func TestHookOutputChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, out string
		want      string // stored data, or "" for a refusal
		reason    string
	}{
		{"canonical", `{"title":"a","num":1.0e0}`, `{"num":1,"title":"a"}`, ""},
		{"inexact", `{"title":"a","num":9007199254740993}`, "", "double"},
		{"surrogate", `{"title":"\ud800"}`, "", "surrogate"},
		{"bytes", "{\"title\":\"\xff\"}", "", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := core.AsSystem(context.Background())
			m := newManagerWith(t, func(o *core.Options) { o.Hooks = hookData{tc.out} })
			_, err := m.CreateType(ctx, core.Type{
				Name:   "nums",
				Schema: json.RawMessage(`{"type":"object"}`),
				Hooks:  []core.HookBinding{{Stage: core.StageBeforeCreate, Module: "out"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Create(ctx, "nums", []byte(`{"title":"in"}`), core.WriteOptions{})
			if tc.want != "" {
				if err != nil || string(res.Data) != tc.want {
					t.Fatalf("create: %v %v, want %s", res, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err %v, want a refusal naming %s", err, tc.reason)
			}
			if n, _ := m.Count(ctx, "nums", true); n != 0 {
				t.Fatalf("%d resources, want 0", n)
			}
		})
	}
}
