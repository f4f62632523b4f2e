package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/strata-dev/strata/core"
)

// FuzzExpand reads a resource with arbitrary expand paths: each is either
// refused as ErrInvalid or answered with embedded resources only under
// fields it asked for, no deeper than core.MaxExpandDepth.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"author", "author.org", "author,author.org,parent", "parent.parent.parent",
		"parent.parent.parent.parent", "author..org", ",", "", ".", "nope", "title", "author.org.x",
		strings.Repeat("parent,", 12)} {
		f.Add(s)
	}
	ctx := core.AsSystem(context.Background())
	m := newManager(f)
	for _, def := range []string{
		`{"name":"orgs","schema":{"type":"object"}}`,
		`{"name":"users","schema":{"type":"object"},"references":{"org":{"type":"orgs"}}}`,
		`{"name":"posts","schema":{"type":"object"},"references":{"author":{"type":"users"},"parent":{"type":"posts"}}}`,
	} {
		var typ core.Type
		if err := json.Unmarshal([]byte(def), &typ); err != nil {
			f.Fatal(err)
		}
		if _, err := m.CreateType(ctx, typ); err != nil {
			f.Fatal(err)
		}
	}
	create := func(typ, data string) string {
		res, err := m.Create(ctx, typ, []byte(data), core.WriteOptions{})
		if err != nil {
			f.Fatal(err)
		}
		return res.ID
	}
	org := create("orgs", `{"name":"o"}`)
	user := create("users", `{"name":"u","org":"`+org+`"}`)
	root := create("posts", `{"title":"root","author":"`+user+`"}`)
	post := create("posts", `{"title":"p","author":"`+user+`","parent":"`+root+`"}`)

	f.Fuzz(func(t *testing.T, expand string) {
		paths := strings.Split(expand, ",")
		res, err := m.Get(ctx, "posts", post, core.GetOptions{Expand: paths})
		if err != nil {
			if !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("expand %q: %v", expand, err)
			}
			return
		}
		var check func(r *core.Resource, prefix string, depth int)
		check = func(r *core.Resource, prefix string, depth int) {
			for field, target := range r.Expand {
				path := prefix + field
				if depth > core.MaxExpandDepth || !slices.ContainsFunc(paths, func(p string) bool {
					return p == path || strings.HasPrefix(p, path+".")
				}) {
					t.Fatalf("expand %q embeds %s", expand, path)
				}
				check(target, path+".", depth+1)
			}
		}
		check(res, "", 1)
		if _, err := json.Marshal(res); err != nil {
			t.Fatal(err)
		}
	})
}
