package core

import (
	"context"
	"log/slog"
	"time"
)

// The Manager's periodic jobs (trimming the change log, pruning
// revisions, collecting blobs) run on one mechanism: every interval,
// until the Manager closes, as System. A failure is logged and tried
// again at the next tick; Close waits for a job in progress, which may be
// in a transaction (the store closes after Close). Over a shared store,
// only the node holding a job's lease runs it (cluster.go).

// every runs job every interval until the Manager closes. title names the
// job in the log.
func (m *Manager) every(title string, interval time.Duration, job func(ctx context.Context) error) {
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
			}
			ctx := AsSystem(m.bg)
			// Over a shared store one node runs each job.
			held, err := m.holdLease(ctx, leaseName(title))
			if err == nil && held {
				err = job(ctx)
			}
			if err != nil {
				if m.closed.Load() {
					return
				}
				m.log.ErrorContext(ctx, title+": failed; trying again later", slog.Any("err", err))
			}
		}
	}()
}
