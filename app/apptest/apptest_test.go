package apptest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

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
		{"postgres manager", []apptest.Option{apptest.WithBackend(apptest.Postgres)}, false, false, false},
		{"postgres served", []apptest.Option{apptest.WithBackend(apptest.Postgres), apptest.WithIndex(),
			apptest.Served(func(c *app.Config) { c.Auth.AdminKey = "k-0123456789abcdef" })}, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := core.AsSystem(t.Context())
			env := apptest.New(t, tt.opts...)
			if pg := strings.HasPrefix(tt.name, "postgres"); pg != (env.StorageURL != "") || pg == (env.Path != "") {
				t.Fatalf("bolt file %q, postgres database %q", env.Path, env.StorageURL)
			}
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

// TestPostgresDatabaseDropped: the database a Postgres Env was given is
// gone once its test has ended, so test runs leave nothing on the server.
func TestPostgresDatabaseDropped(t *testing.T) {
	t.Parallel()
	var url string
	t.Run("env", func(t *testing.T) {
		env := apptest.New(t, apptest.WithBackend(apptest.Postgres))
		url = env.StorageURL
		conn, err := pgx.Connect(t.Context(), url)
		if err != nil {
			t.Fatalf("the Env's database: %v", err)
		}
		_ = conn.Close(t.Context())
	})
	if url == "" {
		t.Skip("no PostgreSQL server")
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err == nil {
		_ = conn.Close(t.Context())
		t.Fatalf("database %s outlived its test", url)
	}
	if !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("connecting to the dropped database: %v, want that it does not exist", err)
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
