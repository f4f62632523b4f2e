package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// HookRunner runs hook modules (WebAssembly, in package hooks) for the
// Manager. Implementations must be safe for concurrent use and must return
// errors whose text is fit for a client: they name what failed (timeout,
// trap, bad output), not host internals.
type HookRunner interface {
	RunHook(ctx context.Context, call HookCall) (*HookResult, error)
}

// HookRegistry manages the hook modules a HookRunner runs. A HookRunner
// that also implements it lets the Manager's RegisterHook, RemoveHook and
// HookModules work.
type HookRegistry interface {
	// RegisterHook compiles and checks a module and makes it available
	// under name, replacing any module of that name for later calls. A
	// module that breaks the ABI fails with an error wrapping ErrInvalid.
	RegisterHook(ctx context.Context, name string, wasm []byte) (HookModule, error)
	// RemoveHook forgets a module; ErrNotFound if there is none.
	RemoveHook(ctx context.Context, name string) error
	// HookModules lists the modules, sorted by name.
	HookModules() []HookModule
}

// HookModule describes a registered hook module.
type HookModule struct {
	Name         string `json:"name"`
	SHA256       string `json:"sha256"`
	Size         int    `json:"size"`
	RegisteredAt string `json:"registered_at"`
}

// HookCall is one invocation of a hook module: the input envelope's
// contents and the limits of the binding.
type HookCall struct {
	Module, Stage, Type, ID string
	Data, Previous          json.RawMessage
	Principal               *Principal
	RequestID, RequestTime  string
	Config                  json.RawMessage
	Timeout                 time.Duration
	MemoryMB                int
}

// HookResult is a hook's answer.
type HookResult struct {
	Allow  bool
	Errors []FieldError
	// Data, when not nil, replaces the resource data (before_* stages).
	Data json.RawMessage
	// SHA256 identifies the module code that answered.
	SHA256 string
}

// ErrHookFailed: a hook crashed, timed out, broke the ABI, or no hook
// runtime is configured. Nothing was written.
var ErrHookFailed = errors.New("core: hook failed")

// Hook stages.
const (
	StageValidate     = "validate"
	StageBeforeCreate = "before_create"
	StageBeforeUpdate = "before_update"
	StageBeforeDelete = "before_delete"
	StageAfterCreate  = "after_create"
	StageAfterUpdate  = "after_update"
	StageAfterDelete  = "after_delete"
)

// Default hook limits, when a binding sets none.
const (
	DefaultHookTimeout  = 100 * time.Millisecond
	DefaultHookMemoryMB = 16
)

// hasStage reports whether any hook of the type is bound to one of stages.
func (ct *compiledType) hasStage(stages ...string) bool {
	for _, b := range ct.def.Hooks {
		for _, s := range stages {
			if b.Stage == s {
				return true
			}
		}
	}
	return false
}

// writeContext is what hooks learn about the request behind a write.
type writeContext struct {
	by        Principal
	requestID string
}

// callHook runs one binding. It returns nil, nil when the hook failed and
// its failure policy is "ignore".
func (m *Manager) callHook(ctx context.Context, ct *compiledType, b HookBinding, id string, data, previous json.RawMessage, wc writeContext) (*HookResult, error) {
	fail := func(reason string) error {
		return &Error{Kind: ErrHookFailed, Detail: fmt.Sprintf("hook %s (%s) failed: %s", b.Module, b.Stage, reason)}
	}
	if m.hooks == nil {
		return nil, fail("no hook runtime is configured")
	}
	call := HookCall{
		Module: b.Module, Stage: b.Stage, Type: ct.def.Name, ID: id,
		Data: data, Previous: previous, Config: b.Config,
		RequestID: wc.requestID, RequestTime: formatTime(m.now()),
		Timeout: DefaultHookTimeout, MemoryMB: DefaultHookMemoryMB,
	}
	if wc.by.ID != "" {
		p := wc.by
		call.Principal = &p
	}
	if b.TimeoutMS > 0 {
		call.Timeout = time.Duration(b.TimeoutMS) * time.Millisecond
	}
	if b.MemoryMB > 0 {
		call.MemoryMB = b.MemoryMB
	}
	res, err := m.hooks.RunHook(ctx, call)
	if err != nil {
		if b.FailurePolicy == "ignore" {
			m.log.WarnContext(ctx, "hook failed; ignored by its failure policy",
				slog.String("hook", b.Module), slog.String("stage", b.Stage), slog.String("request_id", wc.requestID), slog.Any("err", err))
			return nil, nil
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fail(err.Error())
	}
	return res, nil
}

// rejection turns a hook's allow:false into a validation error whose field
// errors name the hook as their source.
func rejection(b HookBinding, res *HookResult) error {
	fields := make([]FieldError, 0, len(res.Errors))
	for _, f := range res.Errors {
		f.Source = b.Module
		fields = append(fields, f)
	}
	if len(fields) == 0 {
		fields = append(fields, FieldError{Path: "", Message: "rejected", Source: b.Module})
	}
	return fieldError(ErrValidation, fmt.Sprintf("rejected by hook %s (%s)", b.Module, b.Stage), fields...)
}

// runWriteHooks validates obj against the schema and runs the type's
// validate hooks and then its before stage hooks, in binding order. A
// before hook may replace the data; the schema is checked again after the
// last one. It returns the final document and the approvals to record.
func (m *Manager) runWriteHooks(ctx context.Context, ct *compiledType, before, id string, obj map[string]any, previous json.RawMessage, wc writeContext) (*document, []HookApproval, error) {
	doc, err := ct.newDocument(obj)
	if err != nil || !ct.hasStage(StageValidate, before) {
		return doc, nil, err
	}
	var approvals []HookApproval
	for _, b := range ct.def.Hooks {
		if b.Stage != StageValidate {
			continue
		}
		res, err := m.callHook(ctx, ct, b, id, doc.raw, previous, wc)
		if err != nil {
			return nil, nil, err
		}
		if res == nil {
			continue
		}
		if !res.Allow {
			return nil, nil, rejection(b, res)
		}
		approvals = append(approvals, HookApproval{Name: b.Module, Stage: b.Stage, SHA256: res.SHA256})
	}
	data, changed := doc.raw, false
	for _, b := range ct.def.Hooks {
		if b.Stage != before {
			continue
		}
		res, err := m.callHook(ctx, ct, b, id, data, previous, wc)
		if err != nil {
			return nil, nil, err
		}
		if res == nil {
			continue
		}
		if !res.Allow {
			return nil, nil, rejection(b, res)
		}
		if res.Data != nil {
			data, changed = res.Data, true
		}
		approvals = append(approvals, HookApproval{Name: b.Module, Stage: b.Stage, SHA256: res.SHA256})
	}
	if changed {
		next, err := decodeObject(data)
		if err != nil {
			return nil, nil, hookDataError(before, err)
		}
		if v, has := next["id"]; has {
			if v != id {
				return nil, nil, &Error{Kind: ErrHookFailed, Detail: "a " + before + " hook changed the id"}
			}
			delete(next, "id")
		}
		if doc, err = ct.newDocument(next); err != nil {
			return nil, nil, err
		}
	}
	return doc, approvals, nil
}

// runDeleteHooks runs the before_delete hooks of a resource about to be
// deleted; data is its current data.
func (m *Manager) runDeleteHooks(ctx context.Context, ct *compiledType, id string, data json.RawMessage, wc writeContext) error {
	for _, b := range ct.def.Hooks {
		if b.Stage != StageBeforeDelete {
			continue
		}
		res, err := m.callHook(ctx, ct, b, id, data, data, wc)
		if err != nil {
			return err
		}
		if res != nil && !res.Allow {
			return rejection(b, res)
		}
	}
	return nil
}

// RegisterHook registers a hook module with the hook runtime.
func (m *Manager) RegisterHook(ctx context.Context, name string, wasm []byte) (HookModule, error) {
	reg, err := m.hookRegistry()
	if err != nil {
		return HookModule{}, err
	}
	return reg.RegisterHook(ctx, name, wasm)
}

// RemoveHook removes a hook module from the hook runtime.
func (m *Manager) RemoveHook(ctx context.Context, name string) error {
	reg, err := m.hookRegistry()
	if err != nil {
		return err
	}
	return reg.RemoveHook(ctx, name)
}

// HookModules lists the registered hook modules.
func (m *Manager) HookModules() ([]HookModule, error) {
	reg, err := m.hookRegistry()
	if err != nil {
		return nil, err
	}
	return reg.HookModules(), nil
}

func (m *Manager) hookRegistry() (HookRegistry, error) {
	reg, ok := m.hooks.(HookRegistry)
	if !ok {
		return nil, errorf(ErrNotFound, "no hook runtime is configured")
	}
	return reg, nil
}
