package core_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/memory"
	"github.com/strata-dev/strata/sdk/storage"
)

func ExampleManager() {
	ctx := core.AsSystem(context.Background())
	store, _ := memory.Open(ctx, "", storage.OpenOptions{})
	defer store.Close()
	m, _ := core.Open(ctx, store, core.Options{})
	defer m.Close()

	_, _ = m.CreateType(ctx, core.Type{
		Name:   "posts",
		Schema: json.RawMessage(`{"type":"object","required":["title"],"properties":{"title":{"type":"string"}}}`),
		Unique: []string{"title"},
	})

	post, _ := m.Create(ctx, "posts", []byte(`{"id":"hello","title":"Hello"}`), core.WriteOptions{})
	post, _ = m.Patch(ctx, "posts", post.ID, core.MergePatch, []byte(`{"title":"Hello, world"}`), core.WriteOptions{IfMatch: 1})
	fmt.Println(post.ID, post.Revision.Number, string(post.Data))

	_, err := m.Create(ctx, "posts", []byte(`{"title":"Hello, world"}`), core.WriteOptions{})
	fmt.Println(err)

	diff, _ := m.Diff(ctx, "posts", "hello", 1, 2)
	fmt.Println(string(diff))
	// Output:
	// hello 2 {"title":"Hello, world"}
	// core: conflict: unique value already taken; /title value is already used by another resource
	// [{"op":"replace","path":"/title","value":"Hello, world"}]
}
