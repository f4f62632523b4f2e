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
	"errors"
	"flag"
	"log"
	"path/filepath"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/sdk/storage"
)

// notes is the type this application declares in code. Anyone may read
// and add notes; changing them is left to administrators, of whom this
// example configures none (see app.Config.Auth).
var notes = core.Type{
	Name:   "notes",
	Schema: json.RawMessage(`{"type":"object","required":["text"],"properties":{"text":{"type":"string","maxLength":280}}}`),
	Permissions: map[string][]string{
		core.PermRead:   {"public"},
		core.PermCreate: {"public"},
	},
}

// drafts has no permissions: only administrators may touch it, through
// Strata's API or through the Manager alike.
var drafts = core.Type{
	Name:   "drafts",
	Schema: json.RawMessage(`{"type":"object"}`),
}

// newApp builds the application: its own routes plus Strata under /strata.
// Strata's parts (storage, hooks, core, search index, server) are built by
// package app, as strata serve builds them; the returned close function
// takes them down.
func newApp(ctx context.Context, dataDir string) (*fiber.App, func() error, error) {
	drivers := &storage.Registry{}
	drivers.Register("bolt", bolt.Open)
	strata, err := app.New(ctx, app.Config{
		StorageURL: "bolt:" + filepath.Join(dataDir, "strata.db"),
		Drivers:    drivers,
		Data:       dataDir,
		Types:      []core.Type{notes, drafts},
	})
	if err != nil {
		return nil, nil, err
	}
	m := strata.Manager()

	// The host's own routes call the Manager with the request's context.
	// It carries no principal here (these routes do not authenticate), so
	// core treats them as anonymous and applies the types' permissions,
	// as it does for Strata's API. Code acting for the operator passes
	// core.AsSystem(ctx) instead.
	host := fiber.New()
	host.Get("/hello", func(c *fiber.Ctx) error {
		n, err := m.Count(c.UserContext(), "notes", false)
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"hello": "world", "notes": n})
	})
	host.Get("/drafts/count", func(c *fiber.Ctx) error {
		n, err := m.Count(c.UserContext(), "drafts", false)
		switch {
		case errors.Is(err, core.ErrUnauthenticated):
			return fiber.ErrUnauthorized
		case errors.Is(err, core.ErrNotFound):
			return fiber.ErrNotFound
		case err != nil:
			return err
		}
		return c.JSON(fiber.Map{"drafts": n})
	})
	strata.Server().Mount(host.Group("/strata"))

	closeAll := func() error { return strata.Close(context.Background()) }
	return host, closeAll, nil
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
