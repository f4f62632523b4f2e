package server

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// TestRequestTimeoutProblem runs a handler that works until the request's
// deadline, which wrap sets from RequestTimeout, and checks the answer:
// 503 with its own problem code, naming the setting and its value, rather
// than an internal error.
func TestRequestTimeoutProblem(t *testing.T) {
	t.Parallel()
	s := New(nil, Options{RequestTimeout: 20 * time.Millisecond, RateLimit: RateLimit{IPRate: -1, PrincipalRate: -1}})
	app := fiber.New(fiber.Config{ErrorHandler: s.handleError})
	app.Get("/", s.wrap(func(c *fiber.Ctx) error {
		<-c.UserContext().Done()
		return c.UserContext().Err()
	}))
	resp, err := app.Test(httptest.NewRequest("GET", "/", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var p Problem
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	want := Problem{Type: "urn:strata:problem:timeout", Title: "Request timed out", Status: 503,
		Detail: "the request took longer than request_timeout (20ms)"}
	if resp.StatusCode != 503 || p.Type != want.Type || p.Title != want.Title || p.Status != want.Status || p.Detail != want.Detail {
		t.Fatalf("answered %d %+v, want %+v", resp.StatusCode, p, want)
	}
}
