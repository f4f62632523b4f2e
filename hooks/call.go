package hooks

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/sys"
)

// callKey is the context key of the *callState of the call in progress.
type callKey struct{}

// errHookTimeout is the cause of a call context whose own timeout ended.
var errHookTimeout = errors.New("hooks: hook timeout")

// callState is what the host functions and the tick know of one call.
// It is used only by the goroutine running the call.
type callState struct {
	hook     string
	input    []byte
	inputOff int
	output   []byte
	wrote    bool
	logs     logCapture
	fault    *fault // the first failure the host recorded

	// What the tick checks (see hostTick), which needs no other
	// goroutine to run.
	deadline       time.Time       // when the call must end
	callerDeadline bool            // deadline is the caller's, earlier than the timeout
	ctxDone        <-chan struct{} // the call's context ended
	abort          <-chan struct{} // the runtime gave up waiting for calls
	expired        bool            // the tick stopped the guest at deadline
	fuel           int64           // budget of hook_handle; 0: none
	fuelLeft       int64           // fuel not yet granted to the guest
}

// setDeadline sets the deadline the tick enforces: timeout from now, or
// ctx's deadline if that is earlier; the tick also stops the guest when
// ctx ends.
func (cs *callState) setDeadline(ctx context.Context, now time.Time, timeout time.Duration) {
	cs.ctxDone = ctx.Done()
	cs.deadline = now.Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(cs.deadline) {
		cs.deadline, cs.callerDeadline = dl, true
	}
}

// callFrom returns the call in progress; a guest reaching a host function
// outside a call is failed.
func callFrom(ctx context.Context) *callState {
	cs, ok := ctx.Value(callKey{}).(*callState)
	if !ok {
		panic(&fault{reason: ReasonABI, err: errors.New("host function called outside a call")})
	}
	return cs
}

// fail records the first failure of the call and aborts the guest.
func (cs *callState) fail(reason string, err error) {
	f := &fault{reason: reason, err: err}
	if cs.fault == nil {
		cs.fault = f
	}
	panic(f)
}

// fault is a failure the host detected, with its reason.
type fault struct {
	reason string
	err    error
}

func (f *fault) Error() string { return f.err.Error() }
func (f *fault) Unwrap() error { return f.err }

// atomicCounter is a counter for tests and statistics.
type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) add(d int64) { c.n.Add(d) }
func (c *atomicCounter) load() int64 { return c.n.Load() }

// Call runs the module registered as name on the input envelope built
// from in, within lim, and returns its decoded output. It waits for a
// concurrency slot first, as long as ctx allows.
//
// Every failure of the guest (status other than 0, trap, timeout,
// memory limit, missing, malformed or oversized output, ABI misuse) is
// returned as a *CallError, which matches ErrHookFailed; the instance
// involved is discarded. If ctx ends first, the *CallError has
// ReasonTimeout and wraps ctx's error. An unknown name fails with an
// error wrapping ErrNotFound, a closed Runtime with ErrClosed; input
// whose raw JSON fields are not valid JSON fails with a plain error.
// Call never panics because of a guest.
func (r *Runtime) Call(ctx context.Context, name string, in Input, lim Limits) (*Result, error) {
	input, err := encodeInput(name, &in)
	if err != nil {
		return nil, fmt.Errorf("hooks: call %s: %w", name, err)
	}
	return r.call(ctx, name, in.Request.ID, input, lim)
}

// call runs the module registered as name on an encoded input envelope;
// requestID names the request in the hook's log lines.
func (r *Runtime) call(ctx context.Context, name, requestID string, input []byte, lim Limits) (*Result, error) {
	e, err := r.acquire(name)
	if err != nil {
		return nil, fmt.Errorf("hooks: call %s: %w", name, err)
	}
	defer r.release(ctx, e)
	timeout := lim.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	pages := r.pages(lim.MemoryMB)

	if err := r.acquireSlot(ctx); err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, fmt.Errorf("hooks: call %s: %w", name, err)
		}
		return nil, &CallError{Hook: name, Reason: ReasonTimeout, Err: fmt.Errorf("waiting for a free slot: %w", err)}
	}
	defer r.releaseSlot()
	if r.cfg.onRun != nil {
		if done := r.cfg.onRun(ctx, name); done != nil {
			defer done()
		}
	}

	start := time.Now()
	tctx, cancel := context.WithTimeoutCause(ctx, timeout, errHookTimeout)
	defer cancel()
	cs := &callState{hook: name, input: input, abort: r.abort}
	cs.setDeadline(tctx, start, timeout)
	cctx := context.WithValue(tctx, callKey{}, cs)
	defer func() {
		emitLogs(ctx, r.cfg.logger, name, requestID, cs.logs.lines)
	}()

	inst := e.takeHealthy(ctx, pages)
	if inst == nil {
		r.threads.runFor(e, func() { inst, err = r.instantiate(cctx, e, pages, cs) })
		if err != nil {
			if inst != nil {
				inst.close(ctx)
			}
			cs.logs.finish()
			return nil, classify(tctx, cs, inst, name, timeout, err)
		}
	}
	inst.cs = cs
	var status uint32
	r.threads.runFor(e, func() { status, err = inst.run(cctx, len(input), lim.Fuel) })
	inst.cs = nil
	inst.calls++
	logs := cs.logs.finish()
	var ce *CallError
	switch {
	case err != nil:
		ce = classify(tctx, cs, inst, name, timeout, err)
	case inst.lin.exceeded:
		ce = classify(tctx, cs, inst, name, timeout, errors.New("memory limit exceeded"))
	case status != 0:
		msg := fmt.Sprintf("hook_handle returned status %d", int32(status))
		if status == 1 {
			msg += " (hook error)"
		}
		ce = &CallError{Hook: name, Reason: ReasonStatus, Err: errors.New(msg)}
	case !cs.wrote:
		ce = &CallError{Hook: name, Reason: ReasonOutput, Err: errors.New("hook_handle returned 0 without calling output_write")}
	}
	var out Output
	if ce == nil {
		if out, err = decodeOutput(cs.output); err != nil {
			ce = &CallError{Hook: name, Reason: ReasonOutput, Err: err}
		}
	}
	memBytes := inst.mem.Size()
	switch {
	case ce != nil:
		inst.close(ctx)
	case inst.worn(r.cfg.recycleAfter):
		inst.close(ctx)
		r.refill(ctx, e, inst.pages)
	default:
		e.put(ctx, inst, r.cfg.maxIdle())
	}
	if ce != nil {
		return nil, ce
	}
	return &Result{
		Output:      out,
		Raw:         cs.output,
		SHA256:      e.info.SHA256,
		Logs:        logs,
		Duration:    time.Since(start),
		MemoryBytes: memBytes,
	}, nil
}

// run calls hook_handle(inputLen) with a budget of fuel (0: none) and
// returns its status.
func (inst *instance) run(ctx context.Context, inputLen int, fuel int64) (status uint32, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("hook_handle: %v", p)
		}
	}()
	inst.ticks.Set(inst.cs.startFuel(fuel))
	inst.depth.Set(0)
	inst.stack[0] = uint64(uint32(inputLen))
	if err := inst.handle.CallWithStack(ctx, inst.stack[:]); err != nil {
		return 0, err
	}
	return uint32(inst.stack[0]), nil
}

// interrupted reports whether err says the guest was stopped from outside:
// by the tick, or by wazero when the module was closed.
func interrupted(err error) bool {
	if errors.Is(err, errInterrupted) {
		return true
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return true
		}
	}
	return false
}

// classify turns the error of a failed instantiation or hook_handle call
// into a *CallError. tctx is the call's context with its timeout.
func classify(tctx context.Context, cs *callState, inst *instance, name string, timeout time.Duration, err error) *CallError {
	ce := &CallError{Hook: name}
	var f *fault
	switch {
	case inst != nil && inst.lin.exceeded:
		ce.Reason = ReasonMemory
		ce.Err = fmt.Errorf("memory.grow beyond the limit of %d MiB", inst.pages/16)
	case cs.fault != nil:
		ce.Reason, ce.Err = cs.fault.reason, cs.fault.err
	case errors.As(err, &f):
		ce.Reason, ce.Err = f.reason, f.err
	case inst != nil && inst.depthExceeded():
		ce.Reason, ce.Err = ReasonTrap, errCallDepth
	case interrupted(err):
		ce.Reason = ReasonTimeout
		switch {
		case cs.expired && !cs.callerDeadline, tctx.Err() != nil && context.Cause(tctx) == errHookTimeout:
			ce.Err = fmt.Errorf("ran longer than its %s timeout: %w", timeout, context.DeadlineExceeded)
		case cs.expired:
			ce.Err = fmt.Errorf("stopped because its caller gave up: %w", context.DeadlineExceeded)
		case tctx.Err() != nil:
			ce.Err = fmt.Errorf("stopped because its caller gave up: %w", tctx.Err())
		default:
			ce.Reason, ce.Err = ReasonTrap, errors.New("interrupted: the runtime is closing")
		}
	default:
		ce.Reason = ReasonTrap
		var exit *sys.ExitError
		if errors.As(err, &exit) {
			ce.Err = fmt.Errorf("the module exited with code %d", exit.ExitCode())
		} else {
			ce.Err = err
		}
	}
	return ce
}
