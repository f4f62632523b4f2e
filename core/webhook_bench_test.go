package core_test

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
)

// BenchmarkWebhookDelivery measures what one webhook delivery costs: a
// durable store holds b.N created resources, then one webhook delivers
// them all to a receiver on loopback. cpu-µs/delivery is the process's
// CPU per delivery: Strata's side, and the receiver's, which a fasthttp
// server keeps small.
func BenchmarkWebhookDelivery(b *testing.B) {
	var got, want atomic.Int64
	open := make(chan struct{}) // the receiver holds the first delivery until the backlog is written
	done := make(chan struct{})
	// A fasthttp receiver: as cheap as a receiver can be, so that the
	// figure is mostly Strata's side.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	receiver := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		_ = c.PostBody()
		<-open
		c.SetStatusCode(fasthttp.StatusNoContent)
		if got.Add(1) == want.Load() {
			close(done)
		}
	}}
	go func() { _ = receiver.Serve(ln) }()
	defer func() { _ = receiver.Shutdown() }()
	url := "http://" + ln.Addr().String() + "/hook"
	env := apptest.New(b, apptest.WithCore(func(o *core.Options) {
		o.Webhooks = core.WebhookOptions{AllowPrivate: true, Timeout: time.Hour}
	}))
	m := env.Manager
	ctx := core.AsSystem(context.Background())
	if _, err := m.CreateType(ctx, core.Type{Name: "docs", Schema: []byte(`{"type":"object"}`)}); err != nil {
		b.Fatal(err)
	}
	if _, err := m.CreateWebhook(ctx, core.WebhookRequest{URL: url, Types: []string{"docs"}}); err != nil {
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
