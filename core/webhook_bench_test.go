package core_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
)

// BenchmarkWebhookDelivery measures what one webhook delivery costs: a
// durable store holds b.N created resources, then one webhook delivers
// them all to a receiver on loopback. cpu-µs/delivery is the process's
// CPU (Strata's side and the receiver's) per delivery.
func BenchmarkWebhookDelivery(b *testing.B) {
	var got, want atomic.Int64
	open := make(chan struct{}) // the receiver holds the first delivery until the backlog is written
	done := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-open
		w.WriteHeader(http.StatusNoContent)
		if got.Add(1) == want.Load() {
			close(done)
		}
	}))
	defer receiver.Close()
	env := apptest.New(b, apptest.WithCore(func(o *core.Options) {
		o.Webhooks = core.WebhookOptions{AllowPrivate: true, Timeout: time.Hour}
	}))
	m := env.Manager
	ctx := core.AsSystem(context.Background())
	if _, err := m.CreateType(ctx, core.Type{Name: "docs", Schema: []byte(`{"type":"object"}`)}); err != nil {
		b.Fatal(err)
	}
	if _, err := m.CreateWebhook(ctx, core.WebhookRequest{URL: receiver.URL, Types: []string{"docs"}}); err != nil {
		b.Fatal(err)
	}
	n := b.N
	want.Store(int64(n) + 1) // the first one twice: once held, then from the backlog
	for range n + 1 {
		if _, err := m.Create(ctx, "docs", []byte(benchDoc), core.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	close(open)
	<-done
	b.StopTimer()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/delivery")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "deliveries/s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
