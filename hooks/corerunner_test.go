package hooks

import (
	"testing"

	"github.com/strata-dev/strata/core"
)

// TestCoreRunnerEvents: the events of a module's output reach core's
// HookResult as the module wrote them, an event without data with nil
// data (core stores it as null).
func TestCoreRunnerEvents(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	cr := CoreRunner(r)
	if _, err := cr.RegisterHook(t.Context(), "events", module(t, "events")); err != nil {
		t.Fatal(err)
	}
	res, err := cr.RunHook(t.Context(), core.HookCall{Module: "events", Stage: core.StageBeforeCreate, Type: "posts", ID: "p1",
		Data: []byte(`{}`), Timeout: relaxed.Timeout})
	if err != nil {
		t.Fatal(err)
	}
	want := []core.ChangeEvent{{Type: "post.flagged", Data: []byte(`{"reason":"caps"}`)}, {Type: "post.seen"}}
	if !res.Allow || len(res.Events) != len(want) {
		t.Fatalf("result %+v, want events %+v", res, want)
	}
	for i, ev := range res.Events {
		if ev.Type != want[i].Type || string(ev.Data) != string(want[i].Data) {
			t.Fatalf("event %d: %s %s, want %s %s", i, ev.Type, ev.Data, want[i].Type, want[i].Data)
		}
	}
}
