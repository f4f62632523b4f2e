package apptest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
)

// TestMain removes the hook compile cache the Envs share.
func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }

var notes = core.Type{Name: "notes", Schema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}}}`)}

// TestNew builds each kind of Env, writes through its Manager, and finds
// the write again after a restart over the same directory: the fixture
// runs over a real file, and closes it so it can be opened again.
func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opts      []apptest.Option
		wantIndex bool
		wantHooks bool
		served    bool
	}{
		{"manager", nil, false, false, false},
		{"with index", []apptest.Option{apptest.WithIndex()}, true, false, false},
		{"with hooks", []apptest.Option{apptest.WithHooks()}, false, true, false},
		{"app", []apptest.Option{apptest.WithApp(nil), apptest.WithIndex()}, true, false, false},
		{"served", []apptest.Option{apptest.Served(func(c *app.Config) { c.Auth.AdminKey = "k-0123456789abcdef" })}, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := core.AsSystem(t.Context())
			env := apptest.New(t, tt.opts...)
			if (env.Index != nil) != tt.wantIndex || (env.Hooks != nil) != tt.wantHooks || (env.URL != "") != tt.served {
				t.Fatalf("index %v, hooks %v, URL %q", env.Index, env.Hooks, env.URL)
			}
			if _, err := env.Manager.CreateType(ctx, notes); err != nil {
				t.Fatal(err)
			}
			if _, err := env.Manager.Create(ctx, "notes", []byte(`{"id":"a","n":1}`), core.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if tt.served {
				req, _ := http.NewRequestWithContext(t.Context(), "GET", env.URL+"/api/notes/a", nil)
				req.Header.Set("Authorization", "Bearer k-0123456789abcdef")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("GET over HTTP: %d %s", resp.StatusCode, body)
				}
			}
			env = env.Reopen()
			got, err := env.Manager.Get(ctx, "notes", "a", core.GetOptions{})
			if err != nil || string(got.Data) != `{"n":1}` {
				t.Fatalf("after reopening: %v, %v", got, err)
			}
			if env.Index != nil {
				page, err := env.Manager.Search(ctx, "notes", core.ListOptions{}, core.ListQuery{Filter: "n = 1"})
				if err != nil || len(page.Items) != 1 {
					t.Fatalf("search after reopening: %v, %v", page, err)
				}
			}
		})
	}
}

// TestCoreOptionsNeedTheManagerWiring: app.New does not take core
// options, so an Env built by it refuses them rather than drop them.
func TestCoreOptionsNeedTheManagerWiring(t *testing.T) {
	t.Parallel()
	ft := &fatalTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		apptest.New(ft, apptest.WithApp(nil), apptest.WithCore(func(*core.Options) {}))
	}()
	if !ft.failed {
		t.Fatal("New accepted WithCore with WithApp")
	}
}

// fatalTB records a Fatalf instead of ending the test.
type fatalTB struct {
	testing.TB
	failed bool
}

func (f *fatalTB) Fatalf(string, ...any) { f.failed = true; panic(errors.New("fatal")) }
