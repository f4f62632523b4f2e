package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// This file is the pipeline's hook step: one chain of handlers per stage
// and type. A chain runs the type's WebAssembly bindings for the stage, in
// binding order, and then the Go handlers bound with OnValidate, OnCreate,
// OnUpdate or OnDelete, in the order they were bound. Each handler decides
// whether the chain goes on: it calls e.Next() to pass the event to the
// next handler, or returns an error to stop the write. The model is
// PocketBase's tools/hook (Hook[T], Event.Next).
//
// Chains run with no storage transaction open and no lock held; a write
// whose resource moved while its chains ran runs them again (see
// pipeline.go), so a handler must expect to see one write more than once
// and should leave side effects to after_* hooks or the change feed. A
// handler may write other resources, but not the one its event is about:
// that write would wait for the write the handler is part of.

// Resolver is an event a Hook passes along its chain.
type Resolver interface {
	// Next runs the rest of the chain.
	Next() error
	setNext(func() error)
	next() func() error
}

// Event is the part of a hook event that chains it: embed it in an event
// type to make it a Resolver.
type Event struct{ nextFn func() error }

// Next runs the next handler of the chain; after the last one it returns
// nil.
func (e *Event) Next() error {
	if e.nextFn == nil {
		return nil
	}
	return e.nextFn()
}

func (e *Event) setNext(f func() error) { e.nextFn = f }
func (e *Event) next() func() error     { return e.nextFn }

// Hook is a chain of handlers of events of type T. It is safe for
// concurrent use: binding while the chain runs affects later runs only.
type Hook[T Resolver] struct {
	mu       sync.RWMutex
	seq      int
	handlers []hookHandler[T]
}

type hookHandler[T Resolver] struct {
	id string
	fn func(T) error
}

// Bind adds fn at the end of the chain and returns an id for Unbind.
func (h *Hook[T]) Bind(fn func(T) error) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	id := "h" + strconv.Itoa(h.seq)
	// A new slice each time: a running chain keeps the one it took.
	h.handlers = append(h.handlers[:len(h.handlers):len(h.handlers)], hookHandler[T]{id: id, fn: fn})
	return id
}

// Unbind removes the handlers with the given ids.
func (h *Hook[T]) Unbind(ids ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	kept := make([]hookHandler[T], 0, len(h.handlers))
	for _, hh := range h.handlers {
		drop := false
		for _, id := range ids {
			drop = drop || hh.id == id
		}
		if !drop {
			kept = append(kept, hh)
		}
	}
	h.handlers = kept
}

// Len is the number of handlers bound.
func (h *Hook[T]) Len() int {
	if h == nil {
		return 0
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.handlers)
}

// Trigger runs first and then the bound handlers on e, as one chain.
func (h *Hook[T]) Trigger(e T, first ...func(T) error) error {
	fns := first
	if h != nil {
		h.mu.RLock()
		for _, hh := range h.handlers {
			fns = append(fns, hh.fn)
		}
		h.mu.RUnlock()
	}
	return runChain(e, fns)
}

// runChain calls fns[0] with e, whose Next calls fns[1], and so on.
func runChain[T Resolver](e T, fns []func(T) error) error {
	prev := e.next()
	defer e.setNext(prev)
	var step func(i int) func() error
	step = func(i int) func() error {
		return func() error {
			if i == len(fns) {
				e.setNext(nil)
				return nil
			}
			e.setNext(step(i + 1))
			return fns[i](e)
		}
	}
	return step(0)()
}

// WriteEvent is what a write's hook handlers see at one stage (validate,
// before_create, before_update or before_delete).
type WriteEvent struct {
	Event
	// Context is the write's context; a handler doing I/O should honour it.
	Context context.Context
	// Stage is the stage being run, such as StageValidate.
	Stage string
	// Type and ID name the resource written.
	Type, ID string
	// Data is the canonical JSON of the data to be written (for a delete,
	// the current data). A before_create or before_update handler may
	// replace it; the schema is then checked again after the chain. At
	// the validate and before_delete stages a change is ignored.
	Data json.RawMessage
	// Previous is the current data before the write; nil on create.
	Previous json.RawMessage
	// Principal is who writes; RequestID names the request.
	Principal Principal
	RequestID string

	approvals []HookApproval
	events    []ChangeEvent
	// dataBy names the WebAssembly hook that last replaced Data, with
	// the data it returned: if Data still holds it, errors about its shape
	// name the hook.
	dataBy  string
	dataSet json.RawMessage
}

// dataSource names the hook that set e.Data, "hook X (stage)", or is ""
// when it may have been a Go handler.
func (e *WriteEvent) dataSource(stage string) string {
	if e.dataBy == "" || !sameBytes(e.Data, e.dataSet) {
		return ""
	}
	return fmt.Sprintf("hook %s (%s)", e.dataBy, stage)
}

// Emit publishes a domain event with the write, as a hook's "events"
// output does: if the write commits, the event is stored in the change
// log in its transaction, after the write's own entry, as an entry of
// action "event" about this resource; if the write is rejected or fails,
// it is not published. typ names the event ("post.flagged"); data is any
// JSON value, nil for null. An event that breaks the limits
// (MaxEventTypeLength, MaxWriteEvents, MaxWriteEventBytes) is refused
// with an error wrapping ErrHookFailed; a handler returns it to fail the
// write.
func (e *WriteEvent) Emit(typ string, data json.RawMessage) error {
	evs, err := addEvents(e.events, []ChangeEvent{{Type: typ, Data: data}})
	if err != nil {
		return &Error{Kind: ErrHookFailed, Detail: fmt.Sprintf("a %s handler emitted an invalid event: %v", e.Stage, err)}
	}
	e.events = evs
	return nil
}

// Reject returns the error a handler returns to refuse the write: a
// validation error (422) with message and the fields at fault.
func (e *WriteEvent) Reject(message string, fields ...FieldError) error {
	if len(fields) == 0 {
		fields = []FieldError{{Path: "", Message: message}}
	}
	return fieldError(ErrValidation, message, fields...)
}

// chainKey names one chain: a stage of a type.
type chainKey struct{ stage, typ string }

// chainSet holds the Go handlers bound to a Manager, by stage and type.
type chainSet struct {
	mu    sync.RWMutex
	hooks map[chainKey]*Hook[*WriteEvent]
}

func (m *Manager) chain(stage, typ string) *Hook[*WriteEvent] {
	c := &m.chains
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hooks == nil {
		c.hooks = map[chainKey]*Hook[*WriteEvent]{}
	}
	k := chainKey{stage, typ}
	h := c.hooks[k]
	if h == nil {
		h = &Hook[*WriteEvent]{}
		c.hooks[k] = h
	}
	return h
}

// bound returns the chain of stage and typ, nil if nothing was ever bound.
func (m *Manager) bound(stage, typ string) *Hook[*WriteEvent] {
	c := &m.chains
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.hooks[chainKey{stage, typ}]
}

// OnValidate is the validate chain of type typ: its handlers see every
// create and update after the schema check and may reject it. The type
// need not exist yet.
func (m *Manager) OnValidate(typ string) *Hook[*WriteEvent] { return m.chain(StageValidate, typ) }

// OnCreate is the before_create chain of type typ: its handlers run after
// the validate chain and may replace e.Data or reject the create.
func (m *Manager) OnCreate(typ string) *Hook[*WriteEvent] { return m.chain(StageBeforeCreate, typ) }

// OnUpdate is the before_update chain of type typ (replace and patch).
func (m *Manager) OnUpdate(typ string) *Hook[*WriteEvent] { return m.chain(StageBeforeUpdate, typ) }

// OnDelete is the before_delete chain of type typ (soft delete and
// purge): its handlers may reject the delete.
func (m *Manager) OnDelete(typ string) *Hook[*WriteEvent] { return m.chain(StageBeforeDelete, typ) }

// hasChain reports whether any handler, WebAssembly or Go, runs at one of
// stages for ct.
func (m *Manager) hasChain(ct *compiledType, stages ...string) bool {
	if ct.hasStage(stages...) {
		return true
	}
	for _, s := range stages {
		if m.bound(s, ct.def.Name).Len() > 0 {
			return true
		}
	}
	return false
}

// runStage runs the chain of stage for ct on e: the type's WebAssembly
// bindings, then the Go handlers.
func (m *Manager) runStage(ct *compiledType, stage string, e *WriteEvent) error {
	e.Stage = stage
	var wasm []func(*WriteEvent) error
	for _, b := range ct.def.Hooks {
		if b.Stage == stage {
			wasm = append(wasm, m.wasmHandler(ct, b))
		}
	}
	return m.bound(stage, ct.def.Name).Trigger(e, wasm...)
}

// wasmHandler is a WebAssembly binding as a handler: it calls the module
// and, when it allows the write, records its approval and goes on.
func (m *Manager) wasmHandler(ct *compiledType, b HookBinding) func(*WriteEvent) error {
	return func(e *WriteEvent) error {
		res, err := m.callHook(e.Context, ct, b, e.ID, e.Data, e.Previous, writeContext{by: e.Principal, requestID: e.RequestID})
		if err != nil {
			return err
		}
		if res == nil { // failed, and its failure policy ignores that
			return e.Next()
		}
		if !res.Allow {
			return rejection(b, res)
		}
		if res.Data != nil && (e.Stage == StageBeforeCreate || e.Stage == StageBeforeUpdate) {
			e.Data = res.Data
			e.dataBy, e.dataSet = b.Module, res.Data
		}
		if len(res.Events) > 0 {
			evs, err := addEvents(e.events, res.Events)
			if err != nil {
				return &Error{Kind: ErrHookFailed, Detail: fmt.Sprintf("hook %s (%s) failed: invalid events: %v", b.Module, b.Stage, err)}
			}
			e.events = evs
		}
		e.approvals = append(e.approvals, HookApproval{Name: b.Module, Stage: b.Stage, SHA256: res.SHA256})
		return e.Next()
	}
}

// chainsResult is what a write's chains leave for its commit: the
// approvals to record and the events to publish.
type chainsResult struct {
	approvals []HookApproval
	events    []ChangeEvent
}

// writeChains checks obj against the schema and runs the validate chain
// and then the before stage's chain. A before handler may replace the
// data; the schema is checked again after the chain. It returns the final
// document, and the approvals and events of the chains.
func (m *Manager) writeChains(ctx context.Context, ct *compiledType, before, id string, obj map[string]any, previous json.RawMessage, wc writeContext) (*document, chainsResult, error) {
	doc, err := ct.newDocument(obj)
	if err != nil || !m.hasChain(ct, StageValidate, before) {
		return doc, chainsResult{}, err
	}
	e := &WriteEvent{Context: ctx, Type: ct.def.Name, ID: id, Data: doc.raw, Previous: previous, Principal: wc.by, RequestID: wc.requestID}
	if err := m.runStage(ct, StageValidate, e); err != nil {
		return nil, chainsResult{}, handlerError(StageValidate, err)
	}
	e.Data = doc.raw // validate handlers do not change the data
	if err := m.runStage(ct, before, e); err != nil {
		return nil, chainsResult{}, handlerError(before, err)
	}
	if !sameBytes(e.Data, doc.raw) {
		if doc, err = ct.hookedDocument(before, e.dataSource(before), id, e.Data); err != nil {
			return nil, chainsResult{}, err
		}
	}
	return doc, chainsResult{approvals: e.approvals, events: e.events}, nil
}

// hookedDocument is the document of resource id made of data, which a
// before stage's handler returned: an object, whose id, if it has one,
// is still id, and which matches the schema. who names the hook that
// returned it, or is "" when a Go handler may have.
func (ct *compiledType) hookedDocument(before, who, id string, data json.RawMessage) (*document, error) {
	next, err := decodeObject(data)
	if err != nil {
		return nil, hookDataError(before, who, err)
	}
	if v, has := next["id"]; has {
		if v != id {
			return nil, &Error{Kind: ErrHookFailed, Detail: hookFailure(before, who, "changed the id")}
		}
		delete(next, "id")
	}
	return ct.newDocument(next)
}

// deleteChains runs the before_delete chain of a resource about to be
// deleted; data is its current data. It returns the events the chain
// publishes with the delete.
func (m *Manager) deleteChains(ctx context.Context, ct *compiledType, id string, data json.RawMessage, wc writeContext) ([]ChangeEvent, error) {
	e := &WriteEvent{Context: ctx, Type: ct.def.Name, ID: id, Data: data, Previous: data, Principal: wc.by, RequestID: wc.requestID}
	if err := m.runStage(ct, StageBeforeDelete, e); err != nil {
		return nil, handlerError(StageBeforeDelete, err)
	}
	return e.events, nil
}

// handlerError passes a Manager error (a rejection, a failed hook, a
// context's end) through and makes any other error a Go handler returned
// a failed hook.
func handlerError(stage string, err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &Error{Kind: ErrHookFailed, Detail: fmt.Sprintf("a %s handler failed: %v", stage, err)}
}

// sameBytes reports whether a and b are the same slice (a handler that did
// not replace the data) or hold the same bytes.
func sameBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0] || string(a) == string(b)
}
