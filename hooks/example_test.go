package hooks_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/strata-dev/strata/hooks"
)

// testdata/allow.wasm is testdata/allow.wat compiled by wat2wasm.
//
//go:generate wat2wasm testdata/allow.wat -o testdata/allow.wasm

func ExampleRuntime_Call() {
	ctx := context.Background()
	r, err := hooks.New(ctx, hooks.WithMaxConcurrency(4))
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close(ctx)

	wasm, err := os.ReadFile("testdata/allow.wasm")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := r.Register(ctx, "posts_validate", wasm); err != nil {
		log.Fatal(err)
	}
	res, err := r.Call(ctx, "posts_validate", hooks.Input{
		Stage: "validate", Type: "posts", ID: "0193",
		Data:    []byte(`{"title":"Hello"}`),
		Request: hooks.RequestInfo{ID: "req-1", Time: "2025-01-02T03:04:05Z"},
	}, hooks.Limits{Timeout: 50 * time.Millisecond, MemoryMB: 8})
	var ce *hooks.CallError
	switch {
	case errors.As(err, &ce):
		fmt.Println("hook failed:", ce.Reason) // a 500 hook_failed naming ce.Hook
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("allow:", res.Output.Allow, "errors:", len(res.Output.Errors))
	}
	// Output: allow: true errors: 0
}

func ExampleRuntime_Register_invalid() {
	ctx := context.Background()
	r, err := hooks.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close(ctx)

	_, err = r.Register(ctx, "broken", []byte("\x00asm\x01\x00\x00\x00"))
	fmt.Println(errors.Is(err, hooks.ErrInvalidModule))
	fmt.Println(err)
	// Output:
	// true
	// hooks: invalid module "broken": does not export its memory as "memory"
}
