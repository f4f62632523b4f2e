package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-dev/strata/core"
)

// TestReplayPicksWrites checks which writes a replay runs over: the
// type's latest, newest first, among those of the stage's actions,
// however sparse they are in the change log, without those whose
// revisions retention pruned, and that it writes nothing.
func TestReplayPicksWrites(t *testing.T) {
	ctx := core.AsSystem(context.Background())
	m, _ := openWithHooks(t, t.TempDir(), nil)
	core.SetReplayChunk(m, 7) // many chunks
	read := func(name string) []byte {
		wasm, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		return wasm
	}
	if _, err := m.RegisterHook(ctx, "titles", read("hooks/testdata/allow.wasm")); err != nil {
		t.Fatal(err)
	}
	candidate := read("examples/wasm-hooks/build/wat.wasm") // rejects titles in capitals
	def := hookedDef("posts", "titles")
	def.Hooks[0].Stage = core.StageValidate
	def.Retention = &core.Retention{KeepLast: 2}
	if _, err := m.CreateType(ctx, def); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateType(ctx, core.Type{Name: "noise", Schema: json.RawMessage(`{"type":"object"}`)}); err != nil {
		t.Fatal(err)
	}

	// Each write, newest last, with whether the candidate rejects it and
	// whether retention leaves what a replay needs of it.
	type write struct {
		action       string
		loud, pruned bool
	}
	var writes []write
	var ids []string
	revs := map[string][]int{} // the indexes in writes of each resource's revisions
	for i := range 60 {
		if _, err := m.Create(ctx, "noise", []byte(`{}`), core.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		title := fmt.Sprintf("post %d", i)
		loud := i%4 == 1
		if loud {
			title = fmt.Sprintf("LOUD %d", i)
		}
		body := []byte(fmt.Sprintf(`{"title":%q}`, title))
		switch {
		case i%6 == 5: // updated again and again: retention prunes
			id := ids[0]
			if _, err := m.Replace(ctx, "posts", id, body, core.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			writes = append(writes, write{action: "update", loud: loud})
			revs[id] = append(revs[id], len(writes)-1)
		case i%10 == 9:
			id := ids[len(ids)-1]
			if err := m.Delete(ctx, "posts", id, core.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			ids = ids[:len(ids)-1]
			// The delete is replayed with the data of the revision it
			// deleted, the resource's last.
			last := writes[revs[id][len(revs[id])-1]]
			writes = append(writes, write{action: "delete", loud: last.loud})
		default:
			res, err := m.Create(ctx, "posts", body, core.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, res.ID)
			writes = append(writes, write{action: "create", loud: loud})
			revs[res.ID] = []int{len(writes) - 1}
		}
	}
	// Retention keeps the last two revisions of each resource (pruned in
	// the background, here at once): a write of an older revision is not
	// replayed, nor an update whose previous revision is gone.
	if _, err := m.PruneRevisions(ctx); err != nil {
		t.Fatal(err)
	}
	for _, idx := range revs {
		for k, i := range idx {
			if k < len(idx)-2 || (k == len(idx)-2 && writes[i].action == "update") {
				writes[i].pruned = true
			}
		}
	}
	seq := m.LastSeq()

	cases := []struct {
		stage   string
		last    int
		actions []string
	}{
		{core.StageValidate, 1000, []string{"create", "update"}},
		{core.StageValidate, 9, []string{"create", "update"}},
		{core.StageBeforeCreate, 1000, []string{"create"}},
		{core.StageBeforeUpdate, 1000, []string{"update"}},
		{core.StageBeforeDelete, 1000, []string{"delete"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s last %d", tc.stage, tc.last), func(t *testing.T) {
			var checked, rejected, seen int
			for i := len(writes) - 1; i >= 0 && seen < tc.last; i-- {
				w := writes[i]
				if !contains(tc.actions, w.action) {
					continue
				}
				seen++
				if w.pruned {
					continue
				}
				checked++
				if w.loud {
					rejected++
				}
			}
			rep, err := m.ReplayHook(ctx, "titles", candidate, core.ReplayOptions{Type: "posts", Stage: tc.stage, Last: tc.last})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Checked != checked || rep.Rejected != rejected || rep.Allowed != checked-rejected || rep.Failed != 0 || rep.Truncated {
				t.Fatalf("report %+v, want %d checked, %d rejected", rep, checked, rejected)
			}
		})
	}
	if got := m.LastSeq(); got != seq {
		t.Fatalf("the replays wrote: change log at %d, want %d", got, seq)
	}
	if _, err := m.ReplayHook(core.WithPrincipal(context.Background(), core.Principal{ID: "bob"}), "titles", nil, core.ReplayOptions{Type: "posts"}); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("replay by a non-administrator: %v, want ErrForbidden", err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
