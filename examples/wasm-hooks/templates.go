// Package wasmhooks carries the example hook's sources in every language,
// so `strata hook new <language> <name>` can start a hook from them.
package wasmhooks

import (
	"embed"
	"io/fs"
	"slices"
)

//go:embed go/main.go c/hook.c rust/hook.rs wat/hook.wat assemblyscript/hook.ts assemblyscript/package.json assemblyscript/package-lock.json assemblyscript/asconfig.json README.md event.json
var sources embed.FS

// Languages lists the languages there is an example for.
func Languages() []string { return []string{"assemblyscript", "c", "go", "rust", "wat"} }

// Template returns the example's files for a language, rooted at the
// language's folder, or false for a language there is no example for.
func Template(language string) (fs.FS, bool) {
	if !slices.Contains(Languages(), language) {
		return nil, false
	}
	sub, err := fs.Sub(sources, language)
	return sub, err == nil
}

// Guide is the examples' README: how to build each language.
func Guide() []byte {
	b, _ := sources.ReadFile("README.md")
	return b
}

// Event is an example input for `strata hook test --input`: the input
// envelope's fields a stage is called with (see docs/hooks.md).
func Event() []byte {
	b, _ := sources.ReadFile("event.json")
	return b
}
