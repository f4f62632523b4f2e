package core

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/strata-dev/strata/sdk/storage"
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
	// Stats are the module's calls by this process; set by
	// Manager.HookModules, never stored.
	Stats *HookStats `json:"stats,omitempty"`
}

// HookCall is one invocation of a hook module: the input envelope's
// contents and the limits of the binding.
type HookCall struct {
	Module, Stage, Type, ID string
	// Hook, when not empty, is the name the input envelope and the
	// errors give the module instead of Module: a replay runs a candidate
	// registered under a temporary name as the module it may replace.
	Hook                   string
	Data, Previous         json.RawMessage
	Principal              *Principal
	RequestID, RequestTime string
	Config                 json.RawMessage
	Timeout                time.Duration
	MemoryMB               int
	// Fuel is the binding's fuel budget; 0 means none.
	Fuel int64
}

// HookResult is a hook's answer.
type HookResult struct {
	Allow  bool
	Errors []FieldError
	// Data, when not nil, replaces the resource data (before_* stages).
	Data json.RawMessage
	// Events are the domain events the hook publishes with the write
	// (validate and before_* stages; see ChangeEvent). They are checked
	// against the limits of MaxEventTypeLength, MaxWriteEvents and
	// MaxWriteEventBytes; an event breaking them fails the hook.
	Events []ChangeEvent
	// SHA256 identifies the module code that answered.
	SHA256 string
}

// Limits on the events one write publishes, whoever publishes them
// (WebAssembly hooks and Go handlers together): they end up in the change
// log, which every consumer reads, so one write may not flood it.
const (
	// MaxEventTypeLength bounds an event's type, in bytes.
	MaxEventTypeLength = 128
	// MaxWriteEvents bounds the events of one write (of each operation of
	// a batch).
	MaxWriteEvents = 100
	// MaxWriteEventBytes bounds the types and data of the events of one
	// write, together, in bytes of compact JSON.
	MaxWriteEventBytes = 256 << 10
)

// addEvents checks evs and appends them to have, the events the write
// publishes so far, with their data compacted. The error says what is
// wrong, for the message of a failed hook.
func addEvents(have, evs []ChangeEvent) ([]ChangeEvent, error) {
	size := 0
	for _, ev := range have {
		size += len(ev.Type) + len(ev.Data)
	}
	for i, ev := range evs {
		if len(have) >= MaxWriteEvents {
			return have, fmt.Errorf("more than %d events in one write", MaxWriteEvents)
		}
		if err := checkEventType(ev.Type); err != nil {
			return have, fmt.Errorf("event %d: %w", i, err)
		}
		data := []byte("null")
		if len(ev.Data) > 0 {
			if err := checkJSON(ev.Data); err != nil {
				return have, fmt.Errorf("event %d (%s): data: %v", i, ev.Type, err)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, ev.Data); err != nil {
				return have, fmt.Errorf("event %d (%s): data is not valid JSON: %v", i, ev.Type, err)
			}
			data = buf.Bytes()
		}
		size += len(ev.Type) + len(data)
		if size > MaxWriteEventBytes {
			return have, fmt.Errorf("the events of one write exceed %d bytes", MaxWriteEventBytes)
		}
		have = append(have, ChangeEvent{Type: ev.Type, Data: data})
	}
	return have, nil
}

// checkEventType accepts a non-empty type of at most MaxEventTypeLength
// bytes of UTF-8 text without control characters: it is shown in logs,
// SSE streams and webhook headers as it is.
func checkEventType(typ string) error {
	switch {
	case typ == "":
		return errors.New(`"type" is empty`)
	case len(typ) > MaxEventTypeLength:
		return fmt.Errorf(`"type" is longer than %d bytes`, MaxEventTypeLength)
	case !utf8.ValidString(typ):
		return errors.New(`"type" is not UTF-8 text`)
	}
	for _, r := range typ {
		if unicode.IsControl(r) {
			return fmt.Errorf(`"type" %q holds a control character`, typ)
		}
	}
	return nil
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
	if m.hooks == nil {
		return nil, hookFailed(b, "no hook runtime is configured")
	}
	start := time.Now()
	res, err := m.hooks.RunHook(ctx, m.hookCall(ct, b, id, data, previous, wc))
	// A call the client gave up on is not the module's failure.
	m.hookStats.record(b.Module, time.Since(start), err != nil && ctx.Err() == nil)
	m.observeHook(b, start, res, err)
	if err != nil {
		if b.FailurePolicy == "ignore" {
			m.log.WarnContext(ctx, "hook failed; ignored by its failure policy",
				slog.String("hook", b.Module), slog.String("stage", b.Stage), slog.String("request_id", wc.requestID), slog.Any("err", err))
			return nil, nil
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, hookFailed(b, err.Error())
	}
	return res, nil
}

// hookCall is the call of binding b on the write of resource id of ct:
// the input envelope's contents and the binding's limits.
func (m *Manager) hookCall(ct *compiledType, b HookBinding, id string, data, previous json.RawMessage, wc writeContext) HookCall {
	call := HookCall{
		Module: b.Module, Stage: b.Stage, Type: ct.def.Name, ID: id,
		Data: data, Previous: previous, Config: b.Config,
		RequestID: wc.requestID, RequestTime: formatTime(m.now()),
		Timeout: DefaultHookTimeout, MemoryMB: DefaultHookMemoryMB, Fuel: b.Fuel,
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
	return call
}

// hookFailed is the failure of binding b's hook, for reason.
func hookFailed(b HookBinding, reason string) error {
	return &Error{Kind: ErrHookFailed, Detail: fmt.Sprintf("hook %s (%s) failed: %s", b.Module, b.Stage, reason)}
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

// RegisterHook compiles and checks a hook module in the hook runtime and
// then stores it, so that it survives a restart (Open loads stored modules
// into the runtime). A module that breaks the ABI fails with an error
// wrapping ErrInvalid and changes nothing. Registering an existing name
// replaces the module. If the module cannot be stored, the runtime is
// put back as it was (the previously stored module of that name, or none)
// and the error is returned.
func (m *Manager) RegisterHook(ctx context.Context, name string, wasm []byte) (HookModule, error) {
	if err := RequireAdmin(ctx); err != nil {
		return HookModule{}, err
	}
	if m.closed.Load() {
		return HookModule{}, ErrClosed
	}
	reg, err := m.hookRegistry()
	if err != nil {
		return HookModule{}, err
	}
	// One registration or removal at a time, so that the runtime and the
	// store agree on which module a name holds.
	m.hookMu.Lock()
	defer m.hookMu.Unlock()
	mod, err := reg.RegisterHook(ctx, name, wasm)
	if err != nil {
		return HookModule{}, err
	}
	mod.RegisteredAt = formatTime(m.now())
	m.hookStats.reset(name) // new code, new figures
	var prev []byte
	err = m.store.Update(ctx, func(tx storage.Tx) error {
		prev = nil
		old, err := tx.Get(bucketHookCode, []byte(name))
		switch {
		case err == nil:
			prev = bytes.Clone(old)
		case !isNotFound(err):
			return err
		}
		if err := putJSON(tx, bucketHookModules, []byte(name), mod); err != nil {
			return err
		}
		if err := bumpConfig(tx); err != nil { // other nodes load it
			return err
		}
		return tx.Put(bucketHookCode, []byte(name), wasm)
	})
	if err != nil {
		m.restoreHook(ctx, reg, name, prev)
		return HookModule{}, fmt.Errorf("store hook module %s: %w", name, err)
	}
	m.noteStoredModule(name, mod.SHA256)
	return mod, nil
}

// restoreHook puts the runtime back after a module was registered but
// could not be stored: prev is the stored module of the name, nil if none.
// A module of that name from a hooks directory, which is not stored, is
// not brought back; the directory's watcher does when its file changes.
func (m *Manager) restoreHook(ctx context.Context, reg HookRegistry, name string, prev []byte) {
	ctx = context.WithoutCancel(ctx)
	var err error
	if prev != nil {
		_, err = reg.RegisterHook(ctx, name, prev)
	} else {
		err = reg.RemoveHook(ctx, name)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		m.log.ErrorContext(ctx, "hook module could not be put back after a failed registration",
			slog.String("hook", name), slog.Any("err", err))
	}
}

// RemoveHook removes a hook module from the hook runtime and the store. It
// fails with ErrConflict, naming the types, while a type binds the module,
// unless force is set: writes to those types then fail with ErrHookFailed
// until a module of that name is registered again. It fails with
// ErrNotFound if there is no such module.
func (m *Manager) RemoveHook(ctx context.Context, name string, force bool) error {
	if err := RequireAdmin(ctx); err != nil {
		return err
	}
	if m.closed.Load() {
		return ErrClosed
	}
	reg, err := m.hookRegistry()
	if err != nil {
		return err
	}
	m.hookMu.Lock()
	defer m.hookMu.Unlock()
	// Type changes wait, so no type starts binding the module between the
	// check and the removal.
	m.typeMu.Lock()
	defer m.typeMu.Unlock()
	if !force {
		if bound := m.typesBinding(name); len(bound) > 0 {
			return fieldError(ErrConflict,
				fmt.Sprintf("hook module %s is bound by type %s; unbind it first, or remove it with force", name, strings.Join(bound, ", ")),
				FieldError{Path: "", Message: "bound by " + strings.Join(bound, ", ")})
		}
	}
	stored := false
	err = m.store.Update(ctx, func(tx storage.Tx) error {
		_, err := tx.Get(bucketHookModules, []byte(name))
		switch {
		case err == nil:
			stored = true
		case isNotFound(err):
			stored = false
		default:
			return err
		}
		if err := tx.Delete(bucketHookModules, []byte(name)); err != nil {
			return err
		}
		if err := bumpConfig(tx); err != nil { // other nodes remove it
			return err
		}
		return tx.Delete(bucketHookCode, []byte(name))
	})
	if err != nil {
		return fmt.Errorf("remove stored hook module %s: %w", name, err)
	}
	m.forgetStoredModule(name)
	if err := reg.RemoveHook(ctx, name); err != nil && !(stored && errors.Is(err, ErrNotFound)) {
		return err
	}
	m.hookStats.reset(name)
	return nil
}

// typesBinding lists, sorted, the types with a hook bound to module.
func (m *Manager) typesBinding(module string) []string {
	var out []string
	for name, ct := range m.typeSet() {
		for _, b := range ct.def.Hooks {
			if b.Module == module {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// HookModules lists the modules the hook runtime holds, sorted by name.
// Those registered through the Manager show when they were stored.
func (m *Manager) HookModules() ([]HookModule, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	reg, err := m.hookRegistry()
	if err != nil {
		return nil, err
	}
	mods := slices.DeleteFunc(reg.HookModules(), func(mod HookModule) bool {
		_, candidate := m.replaying.Load(mod.Name)
		return candidate
	})
	stored, err := m.storedHookModules(context.Background())
	if err != nil {
		return nil, err
	}
	for i, mod := range mods {
		if s, ok := stored[mod.Name]; ok && s.SHA256 == mod.SHA256 {
			mods[i].RegisteredAt = s.RegisteredAt
		}
		st := m.hookStats.stats(mod.Name)
		mods[i].Stats = &st
	}
	return mods, nil
}

// storedHookModules reads the descriptions of the stored modules.
func (m *Manager) storedHookModules(ctx context.Context) (map[string]HookModule, error) {
	out := map[string]HookModule{}
	err := m.store.View(ctx, func(tx storage.Tx) error {
		var decodeErr error
		err := tx.Scan(bucketHookModules, storage.Range{}, func(k, v []byte) bool {
			var mod HookModule
			if decodeErr = json.Unmarshal(v, &mod); decodeErr != nil {
				decodeErr = fmt.Errorf("decode hook module %s: %w", k, decodeErr)
				return false
			}
			mod.Name = string(k)
			out[mod.Name] = mod
			return true
		})
		if err != nil {
			return err
		}
		return decodeErr
	})
	if err != nil {
		return nil, fmt.Errorf("read stored hook modules: %w", err)
	}
	return out, nil
}

// heldModules is the set of module names reg holds.
func heldModules(reg HookRegistry) map[string]bool {
	held := map[string]bool{}
	for _, mod := range reg.HookModules() {
		held[mod.Name] = true
	}
	return held
}

// loadHookModules registers the stored modules with the hook runtime, at
// Open. A module the runtime already holds under that name (one from a
// hooks directory loaded before Open) is left alone: declared modules
// take precedence, as declared types do. A module that no longer compiles
// is logged and skipped; it stays stored, and writes to types bound to it
// fail with ErrHookFailed until it is registered again.
func (m *Manager) loadHookModules(ctx context.Context) error {
	reg, ok := m.hooks.(HookRegistry)
	if !ok {
		return nil
	}
	held := heldModules(reg)
	stored, err := m.storedHookModules(ctx)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(stored)) {
		if held[name] {
			m.log.InfoContext(ctx, "stored hook module not loaded: the hooks directory has a module of that name",
				slog.String("hook", name))
			continue
		}
		if err := m.loadStoredModule(ctx, reg, name, stored[name].SHA256); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("load hook module %s: %w", name, err)
			}
			m.log.ErrorContext(ctx, "stored hook module could not be loaded", slog.String("hook", name), slog.Any("err", err))
			continue
		}
	}
	return nil
}

// loadStoredModule reads the stored code of module name, checks it has
// digest sum, and registers it with reg.
func (m *Manager) loadStoredModule(ctx context.Context, reg HookRegistry, name, sum string) error {
	var code []byte
	err := m.store.View(ctx, func(tx storage.Tx) error {
		v, err := tx.Get(bucketHookCode, []byte(name))
		if err != nil {
			return err
		}
		code = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read stored code: %w", err)
	}
	got := sha256.Sum256(code)
	if hex.EncodeToString(got[:]) != sum {
		return fmt.Errorf("stored module is corrupt: its digest is not %s", sum)
	}
	if _, err := reg.RegisterHook(ctx, name, code); err != nil {
		return err
	}
	m.noteStoredModule(name, sum)
	return nil
}

// checkHookModules refuses a definition that binds a module the hook
// runtime does not hold: every write to the type would fail. Without a
// hook runtime no binding can work; with a runner that keeps no registry
// (HookRegistry), modules cannot be checked and are not.
func (m *Manager) checkHookModules(def Type) error {
	if len(def.Hooks) == 0 {
		return nil
	}
	if m.hooks == nil {
		return fieldError(ErrInvalid, "invalid type definition: no hook runtime is configured",
			FieldError{Path: "/hooks", Message: "no hook runtime is configured"})
	}
	reg, ok := m.hooks.(HookRegistry)
	if !ok {
		return nil
	}
	held := heldModules(reg)
	var fields []FieldError
	var missing []string
	for i, b := range def.Hooks {
		if !held[b.Module] {
			fields = append(fields, FieldError{Path: fmt.Sprintf("/hooks/%d/module", i), Message: fmt.Sprintf("unknown hook module %q", b.Module)})
			if !slices.Contains(missing, b.Module) {
				missing = append(missing, b.Module)
			}
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return fieldError(ErrInvalid, fmt.Sprintf("invalid type definition: unknown hook module %s; register it first (PUT /api/hooks/{name})", strings.Join(missing, ", ")), fields...)
}

// warnUnboundHooks logs each loaded type bound to a module the hook
// runtime does not hold. The type keeps serving: reads work, and writes
// fail with ErrHookFailed naming the module until it is registered.
func (m *Manager) warnUnboundHooks(ctx context.Context) {
	reg, ok := m.hooks.(HookRegistry)
	if !ok {
		return
	}
	held := heldModules(reg)
	set := m.typeSet()
	for _, name := range slices.Sorted(maps.Keys(set)) {
		for _, b := range set[name].def.Hooks {
			if !held[b.Module] {
				m.log.WarnContext(ctx, "type binds a hook module that is not registered; its writes will fail until it is",
					slog.String("type", name), slog.String("hook", b.Module), slog.String("stage", b.Stage))
			}
		}
	}
}

func (m *Manager) hookRegistry() (HookRegistry, error) {
	reg, ok := m.hooks.(HookRegistry)
	if !ok {
		return nil, errorf(ErrNotFound, "no hook runtime is configured")
	}
	return reg, nil
}
