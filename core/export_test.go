package core

import "context"

// LogEvents is Events read from the log whatever the shared page of the
// feed holds: what the shared page must agree with.
func (m *Manager) LogEvents(ctx context.Context, since uint64, f EventFilter, limit int) (*EventPage, error) {
	if limit <= 0 {
		limit = 100
	}
	return m.logEvents(ctx, PrincipalFrom(ctx), since, f, limit)
}

// SetReplayChunk makes ReplayHook read the change log n entries at a time.
func SetReplayChunk(m *Manager, n uint64) { m.replayChunk = n }
