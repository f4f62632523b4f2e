package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/valyala/fasthttp"
)

// hookLanguage is one build of the example hook (examples/wasm-hooks): the
// same "title must not be all caps; slug derived from title" hook in each.
type hookLanguage struct {
	name string
	// target is the least acceptable ratio of creates per second with the
	// hook to creates per second without.
	target float64
}

// hookLanguages are the hook overhead run's rows, in the order they run.
// Go modules carry the Go runtime (a 3.3 MB module, ~80 µs a call in the
// examples' own benchmark), so their target is lower.
var hookLanguages = []hookLanguage{
	{name: "go", target: 0.5},
	{name: "c", target: 0.8},
	{name: "rust", target: 0.8},
	{name: "assemblyscript", target: 0.8},
	{name: "wat", target: 0.8},
}

// file is the module's path under the hooks directory dir.
func (l hookLanguage) file(dir string) string { return filepath.Join(dir, l.name+".wasm") }

// module is the name the module is registered under.
func (l hookLanguage) module() string { return l.name + "_hook" }

// typeName is the type whose validate stage the module is bound to.
func (l hookLanguage) typeName() string { return typeName + "_" + l.name }

// hookRun measures durable creates with a validate hook, in each language,
// against plain creates, all in one fresh Strata.
func (b *bench) hookRun(ctx context.Context) (rows []hookRow, err error) {
	strata, _, err := b.startStrata(ctx, "hooks")
	if err != nil {
		return nil, err
	}
	defer stopChild(strata, &err)
	for _, l := range hookLanguages {
		r, err := b.bindHook(strata.addr, l)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
		rows = append(rows, r)
	}
	fmt.Fprintf(b.log, "strata-bench: hook overhead: %d modules registered and bound, approvals recorded\n", len(rows))

	plain := load{auth: b.auth(), clients: b.opts.concurrency, warmup: b.opts.warmup, duration: b.opts.duration, build: b.buildCreate}
	for i, l := range hookLanguages {
		r := &rows[i]
		typ := l.typeName()
		hooked := plain
		hooked.build = func(w *worker, req *fasthttp.Request) { b.fillCreate(w, req, typ) }
		// Each language's run is paired with a plain run right next to it;
		// which of the two goes first alternates.
		if r.Plain, r.Hook, err = b.measurePair(ctx, strata, plain, hooked, i%2 == 1); err != nil {
			return nil, err
		}
		if r.Plain.RPS > 0 {
			r.Ratio = r.Hook.RPS / r.Plain.RPS
		}
		fmt.Fprintf(b.log, "strata-bench: hook %-16s plain %8.0f req/s, hook %8.0f req/s, ratio %.3f\n",
			l.name, r.Plain.RPS, r.Hook.RPS, r.Ratio)
		b.logFailures("strata", "create without a hook", r.Plain)
		b.logFailures("strata", "create with the "+l.name+" hook", r.Hook)
	}
	return rows, nil
}

// bindHook registers l's module, defines its type and creates one
// resource, which must record the module's approval. It returns the row
// to fill in.
func (b *bench) bindHook(addr string, l hookLanguage) (hookRow, error) {
	wasm, err := os.ReadFile(l.file(b.opts.hooksDir))
	if err != nil {
		return hookRow{}, fmt.Errorf("hook module: %w", err)
	}
	sum := sha256.Sum256(wasm)
	r := hookRow{Language: l.name, Module: l.module(), SHA256: hex.EncodeToString(sum[:]), ModuleBytes: len(wasm),
		Clients: b.opts.concurrency, Target: l.target}

	status, body, err := b.callAs(addr, fasthttp.MethodPut, "/api/hooks/"+r.Module, "application/wasm", wasm)
	if err == nil && status != fasthttp.StatusCreated && status != fasthttp.StatusOK {
		err = fmt.Errorf("status %d: %s", status, body)
	}
	if err != nil {
		return r, fmt.Errorf("register %s: %w", r.Module, err)
	}
	var mod struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(body, &mod); err != nil {
		return r, fmt.Errorf("register %s: %w", r.Module, err)
	}
	if mod.Name != r.Module || mod.SHA256 != r.SHA256 {
		return r, fmt.Errorf("register %s: got module %q with sha256 %s, want sha256 %s", r.Module, mod.Name, mod.SHA256, r.SHA256)
	}
	if err := b.defineType(addr, l.typeName(), r.Module); err != nil {
		return r, err
	}
	return r, b.checkApproval(addr, l.typeName(), r)
}

// checkApproval creates one document in typ and checks that its revision
// records r's module's approval at the validate stage.
func (b *bench) checkApproval(addr, typ string, r hookRow) error {
	doc := appendDoc(nil, rand.New(rand.NewPCG(rand.Uint64(), 0)), b.seq.Add(1))
	status, body, err := b.call(addr, fasthttp.MethodPost, "/api/"+typ, doc)
	if err == nil && status != fasthttp.StatusCreated {
		err = fmt.Errorf("status %d: %s", status, body)
	}
	if err != nil {
		return fmt.Errorf("create in %s: %w", typ, err)
	}
	var env struct {
		Revision struct {
			Hooks []struct {
				Name   string `json:"name"`
				Stage  string `json:"stage"`
				SHA256 string `json:"sha256"`
			} `json:"hooks"`
		} `json:"revision"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("create in %s: %w", typ, err)
	}
	for _, h := range env.Revision.Hooks {
		if h.Name == r.Module && h.Stage == "validate" && h.SHA256 == r.SHA256 {
			return nil
		}
	}
	if len(body) > 600 {
		body = body[:600]
	}
	return fmt.Errorf("create in %s: revision.hooks has no validate approval by %s (sha256 %s): %s", typ, r.Module, r.SHA256, body)
}
