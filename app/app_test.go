package app_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/sdk/storage"
)

func drivers() *storage.Registry {
	r := &storage.Registry{}
	r.Register("bolt", bolt.Open)
	return r
}

var notes = core.Type{Name: "notes", Schema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}}}`)}

// TestNew builds every part from a Config, or fails with nothing left
// open: a failed New releases the storage file it opened, so the next New
// over it succeeds.
func TestNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	url := "bolt:" + filepath.Join(dir, "strata.db")
	tests := []struct {
		name    string
		cfg     app.Config
		wantErr string
	}{
		{"no storage", app.Config{}, "no storage"},
		{"unknown scheme", app.Config{StorageURL: "nope:x", Drivers: drivers()}, "nope"},
		{"invalid declared type", app.Config{StorageURL: url, Drivers: drivers(), Data: dir,
			Types: []core.Type{{Name: "bad", Schema: json.RawMessage(`{"type":"nonsense"}`)}}}, "bad"},
		{"built", app.Config{StorageURL: url, Drivers: drivers(), Data: dir, Types: []core.Type{notes}}, ""},
	}
	for _, tt := range tests {
		a, err := app.New(core.AsSystem(t.Context()), tt.cfg)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("%s: err %v, want one saying %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		m := a.Manager()
		if a.Index() == nil || a.Server() == nil || a.Store() == nil {
			t.Fatalf("%s: a part is missing", tt.name)
		}
		if _, err := m.Create(core.AsSystem(t.Context()), "notes", []byte(`{"n":1}`), core.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		page, err := m.Search(core.AsSystem(t.Context()), "notes", core.ListOptions{}, core.ListQuery{Filter: "n = 1"})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("%s: search through the built index: %v, %v", tt.name, page, err)
		}
		if err := a.Close(core.AsSystem(context.Background())); err != nil {
			t.Fatalf("%s: close: %v", tt.name, err)
		}
		if err := a.Close(core.AsSystem(context.Background())); err != nil {
			t.Fatalf("%s: second close: %v", tt.name, err)
		}
	}
}
