package hooks

import (
	"context"
	"errors"
	"fmt"

	"github.com/strata-dev/strata/core"
)

// CoreRunner lets a core.Manager run hooks on r: it implements
// core.HookRunner and core.HookRegistry. Pass it as core.Options.Hooks.
func CoreRunner(r *Runtime) interface {
	core.HookRunner
	core.HookRegistry
} {
	return coreRunner{r}
}

type coreRunner struct{ r *Runtime }

// RunHook encodes core's call straight into the input envelope and
// decodes the output envelope straight into core's result: core's types
// are the only ones a hook call of a Manager passes through. Core hands
// valid JSON (canonical data, stored data, a definition's config), so the
// raw fields are not checked again.
func (c coreRunner) RunHook(ctx context.Context, call core.HookCall) (*core.HookResult, error) {
	e := envelope{stage: call.Stage, typ: call.Type, id: call.ID,
		data: call.Data, previous: call.Previous, config: call.Config,
		requestID: call.RequestID, requestTime: call.RequestTime}
	if p := call.Principal; p != nil {
		e.principal, e.principalID, e.roles = true, p.ID, p.Roles
		if e.roles == nil {
			e.roles = []string{}
		}
	}
	hook := call.Hook
	if hook == "" {
		hook = call.Module
	}
	res, err := c.r.call(ctx, call.Module, call.RequestID, appendEnvelope(hook, &e), Limits{Timeout: call.Timeout, MemoryMB: call.MemoryMB, Fuel: call.Fuel})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("module %s is not registered", hook)
		}
		var ce *CallError
		if hook != call.Module && errors.As(err, &ce) {
			named := *ce
			named.Hook = hook
			return nil, &named
		}
		return nil, err
	}
	out := &core.HookResult{Allow: res.Output.Allow, Data: res.Output.Data, SHA256: res.SHA256}
	for _, fe := range res.Output.Errors {
		out.Errors = append(out.Errors, core.FieldError{Path: fe.Path, Message: fe.Message})
	}
	// Core checks the events against its limits, whoever published them.
	if len(res.Output.Events) > 0 {
		out.Events = make([]core.ChangeEvent, len(res.Output.Events))
		for i, ev := range res.Output.Events {
			out.Events[i] = core.ChangeEvent{Type: ev.Type, Data: ev.Data}
		}
	}
	return out, nil
}

func (c coreRunner) RegisterHook(ctx context.Context, name string, wasm []byte) (core.HookModule, error) {
	info, err := c.r.Register(ctx, name, wasm)
	if err != nil {
		if errors.Is(err, ErrInvalidModule) {
			return core.HookModule{}, &core.Error{Kind: core.ErrInvalid, Detail: err.Error()}
		}
		return core.HookModule{}, err
	}
	return moduleOf(info), nil
}

func (c coreRunner) RemoveHook(ctx context.Context, name string) error {
	err := c.r.Remove(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return &core.Error{Kind: core.ErrNotFound, Detail: "no hook module " + name}
	}
	return err
}

func (c coreRunner) HookModules() []core.HookModule {
	mods := c.r.Modules()
	out := make([]core.HookModule, len(mods))
	for i, m := range mods {
		out[i] = moduleOf(m)
	}
	return out
}

func moduleOf(m ModuleInfo) core.HookModule {
	return core.HookModule{Name: m.Name, SHA256: m.SHA256, Size: m.Size, RegisteredAt: m.RegisteredAt.UTC().Format("2006-01-02T15:04:05.000Z")}
}
