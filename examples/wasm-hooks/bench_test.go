package wasmhooks_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-dev/strata/hooks"
)

// hookCallDoc is the data of BenchmarkHookCall's input: about 1 KiB, like
// the documents strata-bench creates, with a title that is not all caps,
// so every module allows it and derives hookCallSlug.
const hookCallDoc = `{"title":"Durable Revisions for the Quiet Harbour","summary":"a journal of every change, kept as immutable revisions and indexed for cursors",` +
	`"body":"the server keeps every revision of a resource in a durable journal and answers reads from the latest snapshot while ` +
	`history stays available to any client that asks for it by number; a change is committed before the response leaves the ` +
	`server and the change log carries it to replicas, which apply it in order and acknowledge it once it is safe on their own ` +
	`disks. the schema is checked on every write, hooks may veto a write or reshape it, and the index keeps list pages cheap ` +
	`at any cursor, carefully and eventually, through the meadow and the mountain, over the river and into the library, where ` +
	`the orchestra plays quietly for the engineer who wrote it all and the lantern burns brightly until the festival ends",` +
	`"tags":["go","storage","review"],"author":"grace","views":48213,"score":812.5,"rating":4,"draft":false,"published":"2026-03-14","seq":1}`

// hookCallLimits are the calls' limits: the defaults but for a timeout as
// long as strata-bench's bindings have (timeout_ms 1000), so that a loaded
// machine slows the benchmark down rather than failing it.
var hookCallLimits = hooks.Limits{Timeout: time.Second}

// hookCallSlug is the slug the example hook derives from hookCallDoc's title.
const hookCallSlug = "durable-revisions-for-the-quiet-harbour"

// BenchmarkHookCall measures one Runtime.Call of each language's module on
// the validate stage of a ~1 KiB document, as Strata makes it for every
// write to a type the module is bound to: input envelope, pooled instance,
// hook_handle, output decoding. guest-ns/call is the part of it the guest
// ran (Result.Duration).
func BenchmarkHookCall(b *testing.B) {
	if len(hookCallDoc) < 900 || len(hookCallDoc) > 1200 {
		b.Fatalf("the document has %d bytes, want about 1 KiB", len(hookCallDoc))
	}
	for _, lang := range []string{"go", "c", "rust", "assemblyscript", "wat"} {
		b.Run(lang, func(b *testing.B) {
			wasm, err := os.ReadFile(filepath.Join("build", lang+".wasm"))
			if err != nil {
				b.Fatalf("module: %v (make -C examples/wasm-hooks builds it)", err)
			}
			ctx := b.Context()
			rt, err := hooks.New(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close(ctx)
			name := lang + "_hook"
			if _, err := rt.Register(ctx, name, wasm); err != nil {
				b.Fatalf("register: %v", err)
			}
			in := hooks.Input{
				Stage: "validate", Type: "docs", ID: "019a0b1c-2d3e-7f40-8a5b-6c7d8e9f0a1b",
				Data:    json.RawMessage(hookCallDoc),
				Request: hooks.RequestInfo{ID: "bench-1", Time: "2026-11-22T09:00:00Z"},
			}
			checkSlug(b, rt, name, in)

			var guest time.Duration
			b.ReportAllocs()
			for b.Loop() {
				res, err := rt.Call(ctx, name, in, hookCallLimits)
				if err != nil {
					b.Fatal(err)
				}
				if !res.Output.Allow {
					b.Fatalf("rejected: %s", res.Raw)
				}
				guest += res.Duration
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
			b.ReportMetric(float64(guest.Nanoseconds())/float64(b.N), "guest-ns/call")
		})
	}
}

// checkSlug calls name once and checks that it allowed in with the data
// plus hookCallSlug.
func checkSlug(b *testing.B, rt *hooks.Runtime, name string, in hooks.Input) {
	b.Helper()
	res, err := rt.Call(b.Context(), name, in, hookCallLimits)
	if err != nil {
		b.Fatalf("call: %v", err)
	}
	var data struct {
		Title string `json:"title"`
		Slug  string `json:"slug"`
		Seq   int    `json:"seq"`
	}
	if !res.Output.Allow || json.Unmarshal(res.Output.Data, &data) != nil ||
		data.Slug != hookCallSlug || data.Seq != 1 {
		b.Fatalf("output %s, want the data allowed with slug %q", res.Raw, hookCallSlug)
	}
}
