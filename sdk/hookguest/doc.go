// Package hookguest is the guest side of Strata's hook ABI v1 for Go: it
// turns a Go function into a WebAssembly hook module.
//
// A hook is a package main that registers one [HandlerFunc] from init:
//
//	package main
//
//	import "github.com/strata-dev/strata/sdk/hookguest"
//
//	func main() {}
//
//	func init() {
//		hookguest.Handle(func(ev *hookguest.Event) (*hookguest.Output, error) {
//			if ev.Data["title"] == "" {
//				return hookguest.Reject("/title", "title is empty"), nil
//			}
//			return &hookguest.Output{Allow: true}, nil
//		})
//	}
//
// built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hook.wasm .
//
// examples/wasm-hooks/go is a complete hook.
//
// # Why init
//
// A c-shared wasip1 module never runs main.main: the host calls the exported
// _initialize, which runs package initialization only. Registering from init
// is therefore the one place a hook can do it. main must still exist (it is
// a package main) and is never called.
//
// # The ABI
//
// The package exports hook_abi_v1 and hook_handle and imports input_read,
// output_write and log from the host module "hook", as the ABI v1 section
// of docs/hooks.md describes. For each call it reads the input envelope,
// decodes it into an [Event], calls the handler and hands the encoded
// [Output] to the host. A handler that returns an error or panics makes the
// call a hook error (status 1); the message is logged at [LevelError].
//
// # Numbers and key order
//
// Event maps hold JSON numbers as [encoding/json.Number], so integers of
// any size and decimal fractions pass through a hook unchanged. Output is
// encoded as encoding/json encodes it (without HTML escaping): object keys
// come out sorted and insignificant whitespace is dropped, so output data
// is semantically, not byte for byte, the data the handler returned.
//
// The package decodes and encodes envelopes with its own small codec rather
// than encoding/json, which is slow under WebAssembly; the two agree on
// every value (fuzz tests check it). Values of Go types the codec does not
// know (structs, typed maps and slices) are encoded by encoding/json.
//
// # Memory
//
// The Go runtime inside a hook runs only while the host is calling an
// export, and left alone it lets the heap reach its 4 MiB minimum goal
// before collecting, which is a large share of a hook's memory limit
// (16 MiB by default). The package reuses its input and output buffers and
// forces a collection every [GCInterval] calls or [GCInputBytes] bytes of
// input, so an instance's linear memory levels off (at about 5 MiB in the
// examples' tests) and then stays flat over any number of calls.
//
// # Host builds
//
// Outside GOOS=wasip1 the package builds too, so that `go vet ./...` and
// `go test ./...` work on a development machine and hook logic can be
// unit-tested natively with [Run]. There, [Log] discards its message and
// [Handle] does nothing: there is no host to call the handler.
package hookguest
