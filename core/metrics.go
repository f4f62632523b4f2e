package core

import (
	"context"
	"errors"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Observer is told what core does that operators count (SPEC §9
// metrics): the server's metrics registry implements it. Its methods are
// called on the hot path and must not block.
type Observer interface {
	// HookCall reports one call of a hook module: its outcome is "ok",
	// "rejected" (the hook answered allow: false), "timeout" or "error".
	HookCall(module, stage, outcome string, d time.Duration)
}

type noObserver struct{}

func (noObserver) HookCall(string, string, string, time.Duration) {}

// observeHook reports a hook call that started at start to the Observer.
func (m *Manager) observeHook(b HookBinding, start time.Time, res *HookResult, err error) {
	outcome := "ok"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		outcome = "timeout"
	case err != nil:
		outcome = "error"
	case res != nil && !res.Allow:
		outcome = "rejected"
	}
	m.observe.HookCall(b.Module, b.Stage, outcome, time.Since(start))
}

// RoleMetrics is the role that may read /metrics: the principal the
// metrics token stands for (auth.Config.MetricsToken) holds it and no
// other right, and an API key or token given the role holds it too.
const RoleMetrics = "metrics"

// RequireMetricsReader refuses anyone but an administrator or a holder of
// RoleMetrics acting in ctx: who may read /metrics.
func RequireMetricsReader(ctx context.Context) error {
	p := PrincipalFrom(ctx)
	if p.HasRole(RoleMetrics) {
		return nil
	}
	return requireAdmin(p)
}

// blobFormat checks the shape of a "format": "blob" value; whether the
// blob is stored is checked in the write transaction (linkBlobs).
var blobFormat = &jsonschema.Format{Name: FormatBlob, Validate: func(v any) error {
	s, ok := v.(string)
	if !ok || ValidBlobHash(s) {
		return nil
	}
	return errors.New("must be a blob hash, sha256:<64 lowercase hex digits>")
}}
