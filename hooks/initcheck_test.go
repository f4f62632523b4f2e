package hooks

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// withInitTimeout sets the time limit of the instantiation Register
// makes.
func withInitTimeout(d time.Duration) Option {
	return func(c *config) { c.initTimeout = d }
}

// TestRegisterInstantiates checks that Register refuses, naming the
// problem, a module no call could ever run because no instance can be
// made of it, and that a refused module leaves the one registered under
// its name in place.
func TestRegisterInstantiates(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, withInitTimeout(200*time.Millisecond))
	cases := []struct {
		module string
		detail string
	}{
		{"data_oob", "cannot be instantiated (trap): data[0]: out of bounds memory access"},
		{"elem_oob", "cannot be instantiated: element segment 0 does not fit in table 0: 1 entries at offset 5, past its 1 entries"},
		{"start_trap", "cannot be instantiated (trap)"},
		{"init_trap", "cannot be instantiated (trap): module[] function[_initialize] failed: wasm error: unreachable"},
		{"init_exit", "cannot be instantiated (trap): _initialize exited with code 0"},
		{"init_loop", "cannot be instantiated (timeout): ran longer than its 200ms timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.module, func(t *testing.T) {
			t.Parallel()
			name := "inst_" + tc.module
			before := register(t, r, name, module(t, "allow"))
			_, err := r.Register(t.Context(), name, hostile(t, tc.module))
			if !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("Register: %v, want ErrInvalidModule", err)
			}
			if !strings.Contains(err.Error(), tc.detail) || !strings.Contains(err.Error(), `"`+name+`"`) {
				t.Errorf("Register: %q does not name the module and say %q", err, tc.detail)
			}
			if info, ok := r.Module(name); !ok || info.SHA256 != before.SHA256 {
				t.Errorf("after the refusal, %s is %+v (registered: %v), want the module before", name, info, ok)
			}
			callAllow(t, r, name)
		})
	}
}
