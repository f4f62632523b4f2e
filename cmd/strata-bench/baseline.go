package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// baselineCommand is the hidden first argument that makes the bench binary
// run as the baseline server instead: `strata-bench baseline -addr A`.
const baselineCommand = "baseline"

// maxBaselineBody caps the body size a baseline request may ask for.
const maxBaselineBody = 16 << 20

// runBaseline serves the baseline until ctx is done: a bare Fiber v2
// app whose one handler answers any method on /baseline/{size} with a
// fixed JSON body of exactly size bytes. It is the ceiling Strata is
// measured against: the same framework, network path and response size,
// with no work behind the handler. It logs `msg="baseline listening"
// addr=…` to stderr once it accepts connections.
func runBaseline(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(baselineCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var bodies sync.Map // size → []byte, built on first use
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.All("/baseline/*", func(c *fiber.Ctx) error {
		size, err := strconv.Atoi(c.Params("*"))
		if err != nil || size < 0 || size > maxBaselineBody {
			return c.Status(fiber.StatusBadRequest).SendString("want /baseline/{size}")
		}
		body, ok := bodies.Load(size)
		if !ok {
			body, _ = bodies.LoadOrStore(size, fixedJSON(size))
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(body.([]byte))
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("baseline: listen on %s: %w", *addr, err)
	}
	slog.New(slog.NewTextHandler(stderr, nil)).Info("baseline listening", slog.String("addr", ln.Addr().String()))

	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("baseline: serve: %w", err)
	case <-ctx.Done():
	}
	if err := app.ShutdownWithTimeout(5 * time.Second); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("baseline: shutdown: %w", err)
	}
	_ = ln.Close() // Serve may not have registered ln yet; see strata serve
	<-served
	return nil
}

// fixedJSON returns a JSON object of exactly size bytes, or of the
// smallest possible size, `{}`, when size is smaller.
func fixedJSON(size int) []byte {
	const head, tail = `{"pad":"`, `"}`
	if size < len(head)+len(tail) {
		return []byte("{}")
	}
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(head)
	b.Write(bytes.Repeat([]byte("x"), size-len(head)-len(tail)))
	b.WriteString(tail)
	return b.Bytes()
}
