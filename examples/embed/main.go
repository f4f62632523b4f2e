// Command embed shows Strata inside a Fiber application of your own: your
// routes and Strata's API share one app, one port and one process.
//
//	go run ./examples/embed -addr 127.0.0.1:3000 -data ./embed_data
//	curl localhost:3000/hello
//	curl -XPOST localhost:3000/strata/api/notes -H 'Content-Type: application/json' -d '{"text":"hi"}'
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"path/filepath"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/server"
)

// notes is the type this application declares in code. Anyone may read
// and add notes; changing them is left to administrators, of whom this
// example configures none (see server.Options.Auth).
var notes = core.Type{
	Name:   "notes",
	Schema: json.RawMessage(`{"type":"object","required":["text"],"properties":{"text":{"type":"string","maxLength":280}}}`),
	Permissions: map[string][]string{
		core.PermRead:   {"public"},
		core.PermCreate: {"public"},
	},
}

// newApp builds the application: its own routes plus Strata under /strata.
// The returned close function releases the storage.
func newApp(ctx context.Context, dataDir string) (*fiber.App, func() error, error) {
	store, err := bolt.Open(ctx, filepath.Join(dataDir, "strata.db"), storage.OpenOptions{})
	if err != nil {
		return nil, nil, err
	}
	m, err := core.Open(ctx, store, core.Options{})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	if err := m.ApplyTypes(ctx, []core.Type{notes}); err != nil {
		m.Close()
		store.Close()
		return nil, nil, err
	}

	app := fiber.New()
	app.Get("/hello", func(c *fiber.Ctx) error {
		n, err := m.Count(c.UserContext(), "notes", false)
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"hello": "world", "notes": n})
	})
	server.New(m, server.Options{}).Mount(app.Group("/strata"))

	closeAll := func() error {
		m.Close()
		return store.Close()
	}
	return app, closeAll, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address")
	data := flag.String("data", "./embed_data", "data directory")
	flag.Parse()
	app, closeAll, err := newApp(context.Background(), *data)
	if err != nil {
		log.Fatal(err)
	}
	defer closeAll()
	log.Fatal(app.Listen(*addr))
}
