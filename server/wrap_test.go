package server

import (
	"bytes"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestPanicBecomesProblem checks that a panicking handler answers 500
// problem+json without details and the server keeps serving.
func TestPanicBecomesProblem(t *testing.T) {
	s := New(nil, Options{})
	app := fiber.New()
	app.Get("/boom", s.wrap(func(*fiber.Ctx) error { panic("secret internal state") }))
	app.Get("/fine", s.wrap(func(c *fiber.Ctx) error { return c.SendString("ok") }))
	for range 3 {
		resp, err := app.Test(httptest.NewRequest("GET", "/boom", nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 500 || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("panic answered %d %s", resp.StatusCode, body)
		}
		if string(body) == "" || bytes.Contains(body, []byte("secret")) {
			t.Fatalf("panic leaked: %s", body)
		}
	}
	resp, err := app.Test(httptest.NewRequest("GET", "/fine", nil), -1)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after panics: %v %v", err, resp.StatusCode)
	}
}
