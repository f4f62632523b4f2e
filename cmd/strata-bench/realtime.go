package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// The realtime run measures GET /api/events (SPEC §8) in one fresh Strata:
//
//   - latency: rtSubscribers streams of the type rtType, as the
//     administrator; creates into rtType paced at rtRate a second, each
//     document carrying the time it was sent (a field "sent", in Unix
//     microseconds of this process's clock); every subscriber's receipt of
//     every event is a sample, from the create's send to the end of the
//     event's data line;
//   - delivery throughput: the same streams, a burst of rtBurst creates in
//     batches of rtBatch as fast as rtBatchers clients send them; events
//     delivered a second = every subscriber's events ÷ the time from the
//     burst's first request to the last event the last subscriber got;
//   - creates with idle subscribers: durable creates into the bench's type
//     with no stream open, then with rtSubscribers streams open on another
//     type (rtIdleType: they are woken by every commit and receive nothing),
//     then again with none; ratio = with ÷ the mean of the two without;
//   - creates with idle subscribers and one webhook: between the idle
//     window and the second one without, the same creates with the same
//     streams open and one webhook on rtType (every action) delivering to
//     a receiver in this process (hookReceiver); ratio = that window ÷
//     the same mean of the two without. The webhook is deleted before the
//     last window, so its backlog does not slow it.
//
// The subscribers are a minimal SSE client: one connection each, lines
// split on '\n', `event:` and `data:` fields read, comments skipped.

const (
	rtType     = typeName + "_live"
	rtIdleType = typeName + "_quiet"
	rtRate     = 1000 // latency creates a second
	rtWriters  = 64   // clients sending the paced creates
	rtBatch    = 50   // creates per batch of the burst
	rtBatchers = 4    // clients sending the burst's batches

	rtLatencyTarget    = 50 * time.Millisecond
	rtThroughputTarget = 50_000.0
	rtCreateTarget     = 0.9
	// rtWait bounds the wait for every subscriber to get every event.
	rtWait = 2 * time.Minute
)

// realtimeResult is the outcome of the realtime run.
type realtimeResult struct {
	Subscribers int `json:"subscribers"`

	// The latency phase.
	Rate         int           `json:"rate"` // offered creates a second
	Duration     time.Duration `json:"duration_ns"`
	Creates      int           `json:"creates"` // answered 201
	CreateErrors int           `json:"create_errors"`
	Achieved     float64       `json:"achieved_rate"`
	Samples      int           `json:"samples"` // (subscriber, event) pairs received
	Missing      int           `json:"missing"` // pairs never received within rtWait
	P50          time.Duration `json:"p50_ns"`
	P99          time.Duration `json:"p99_ns"`
	Max          time.Duration `json:"max_ns"`

	// The throughput phase.
	Burst       int `json:"burst"` // creates written
	BurstErrors int `json:"burst_errors"`
	// BurstMissing are the burst's (subscriber, event) pairs never
	// received within rtWait.
	BurstMissing int           `json:"burst_missing"`
	BurstWrite   time.Duration `json:"burst_write_ns"` // first request to last response
	Delivered    int           `json:"delivered"`      // events received, all subscribers
	DeliverTime  time.Duration `json:"deliver_ns"`     // first request to last event received
	EventsRate   float64       `json:"events_per_second"`

	// Creates by CreateClients clients with no stream open (before and
	// after) and with idle ones.
	CreateClients int     `json:"create_clients"`
	None1         result  `json:"none_before"`
	Idle          result  `json:"idle"`
	None2         result  `json:"none_after"`
	Ratio         float64 `json:"ratio"`
	// Creates with the idle streams and one webhook on the created type,
	// between Idle and None2; HookRatio = Hook ÷ the mean of None1 and
	// None2.
	Hook      result  `json:"hook"`
	HookRatio float64 `json:"hook_ratio"`
	// HookDelivered is what the receiver got by the end of the webhook
	// window (warm-up included, as Hook.Sent is), HookLag the entries
	// committed past the webhook's position then.
	HookDelivered int64 `json:"hook_delivered"`
	HookLag       int64 `json:"hook_lag"`

	// StreamErrors are streams that ended, failed or were reset before
	// the bench closed them.
	StreamErrors int `json:"stream_errors"`
	samples      []string
}

func (r realtimeResult) latencyVerdict() string {
	if r.Samples > 0 && r.Missing == 0 && r.P99 <= rtLatencyTarget {
		return "PASS"
	}
	return "MISS"
}

func (r realtimeResult) throughputVerdict() string {
	if r.Burst > 0 && r.BurstMissing == 0 && r.Delivered == r.Burst*r.Subscribers {
		return atLeast(r.EventsRate, rtThroughputTarget)
	}
	return "MISS"
}

// hookVerdict is the webhook row's: a webhook that delivered nothing
// measured nothing.
func (r realtimeResult) hookVerdict() string {
	if r.HookDelivered > 0 {
		return atLeast(r.HookRatio, rtCreateTarget)
	}
	return "MISS"
}

func (r realtimeResult) errors() []string {
	var bad []string
	for what, res := range map[string]result{"no subscribers (before)": r.None1, "idle subscribers": r.Idle,
		"idle subscribers and one webhook": r.Hook, "no subscribers (after)": r.None2} {
		if res.errorRate() > maxErrorRate {
			bad = append(bad, fmt.Sprintf("realtime creates with %s: %d of %d failed", what, res.Errors, res.Sent))
		}
	}
	if n := r.CreateErrors + r.BurstErrors + r.StreamErrors + r.Missing + r.BurstMissing; n > 0 {
		bad = append(bad, fmt.Sprintf("realtime run: %d failed creates, %d failed batches, %d broken streams, %d events not delivered: %s",
			r.CreateErrors, r.BurstErrors, r.StreamErrors, r.Missing+r.BurstMissing, strings.Join(r.samples, "; ")))
	}
	return bad
}

// sseClient is one subscriber: a stream it reads on its own goroutine.
type sseClient struct {
	resp      *http.Response
	connected chan struct{} // closed at the stream's opening comment

	recording atomic.Bool  // latencies are kept while set
	events    atomic.Int64 // events received
	lastAt    atomic.Int64 // when the last one was, Unix nanoseconds
	mu        sync.Mutex   // guards lat and failure
	lat       []time.Duration
	failure   string // why the stream ended early; "" while it runs
	closing   atomic.Bool
	done      chan struct{}
}

// subscribe opens n streams of types as the administrator and waits until
// each has opened.
func (b *bench) subscribe(ctx context.Context, addr, types string, n int) ([]*sseClient, func(), error) {
	tr := &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}
	hc := &http.Client{Transport: tr}
	var subs []*sseClient
	closeAll := func() {
		for _, s := range subs {
			s.closing.Store(true)
			s.resp.Body.Close()
		}
		for _, s := range subs {
			<-s.done
		}
		tr.CloseIdleConnections()
	}
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/events?types="+types, nil)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		req.Header.Set("Authorization", b.auth())
		req.Header.Set("Accept", "text/event-stream")
		resp, err := hc.Do(req)
		if err == nil && resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("subscribe to %s: %w", types, err)
		}
		s := &sseClient{resp: resp, connected: make(chan struct{}), done: make(chan struct{})}
		subs = append(subs, s)
		go s.read()
	}
	for _, s := range subs {
		select {
		case <-s.connected:
		case <-s.done:
			closeAll()
			return nil, nil, fmt.Errorf("subscribe to %s: %s", types, s.failed())
		case <-ctx.Done():
			closeAll()
			return nil, nil, ctx.Err()
		}
	}
	return subs, closeAll, nil
}

func (s *sseClient) failed() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure
}

// read parses the stream until it ends.
func (s *sseClient) read() {
	defer close(s.done)
	br := bufio.NewReaderSize(s.resp.Body, 64<<10)
	var event string
	opened := false
	fail := func(why string) {
		if s.closing.Load() {
			return
		}
		s.mu.Lock()
		s.failure = why
		s.mu.Unlock()
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it whole.
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			fail(fmt.Sprintf("stream ended: %v", err))
			return
		}
		now := time.Now()
		line = bytes.TrimSuffix(line, []byte("\n"))
		switch {
		case len(line) == 0:
			event = ""
		case line[0] == ':':
			if !opened && bytes.Equal(line, []byte(": connected")) {
				opened = true
				close(s.connected)
			}
		case bytes.HasPrefix(line, []byte("event: ")):
			event = string(line[len("event: "):])
			if event == "reset" {
				fail("reset")
			}
		case bytes.HasPrefix(line, []byte("data: ")):
			if event == "reset" {
				fail("reset: " + string(line))
				continue
			}
			s.events.Add(1)
			s.lastAt.Store(now.UnixNano())
			if s.recording.Load() {
				if sent, ok := sentAt(line); ok {
					s.mu.Lock()
					s.lat = append(s.lat, now.Sub(sent))
					s.mu.Unlock()
				}
			}
		}
	}
}

// sentAt finds the "sent" field of an event's document: Unix microseconds
// (nanoseconds would not be held exactly by the double a JSON number is).
func sentAt(data []byte) (time.Time, bool) {
	const key = `"sent":`
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return time.Time{}, false
	}
	rest := data[i+len(key):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMicro(n), true
}

// appendTimedDoc appends a document of the bench's kind with a "sent" field
// of now.
func appendTimedDoc(dst []byte, rng *rand.Rand, seq uint64) []byte {
	dst = appendDoc(dst, rng, seq)
	dst = dst[:len(dst)-1] // its closing brace
	dst = append(dst, `,"sent":`...)
	dst = strconv.AppendInt(dst, time.Now().UnixMicro(), 10)
	return append(dst, '}')
}

// waitEvents waits until every subscriber has received want events in all,
// or rtWait has passed, and returns how many are missing.
func waitEvents(ctx context.Context, subs []*sseClient, want int64) int {
	deadline := time.Now().Add(rtWait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		missing := int64(0)
		ended := false
		for _, s := range subs {
			if n := s.events.Load(); n < want {
				missing += want - n
			}
			select {
			case <-s.done:
				ended = true
			default:
			}
		}
		if missing == 0 || ended || time.Now().After(deadline) || ctx.Err() != nil {
			return int(missing)
		}
		<-tick.C
	}
}

// realtimeRun runs the realtime measures in a fresh Strata.
func (b *bench) realtimeRun(ctx context.Context) (r realtimeResult, err error) {
	receiver, err := startHookReceiver()
	if err != nil {
		return r, err
	}
	defer receiver.close()
	// The receiver is on loopback, which Strata refuses to deliver to
	// unless told otherwise.
	strata, _, err := b.startStrata(ctx, "realtime", "STRATA_WEBHOOK_ALLOW_PRIVATE=true")
	if err != nil {
		return r, err
	}
	defer stopChild(strata, &err)
	for _, typ := range []string{rtType, rtIdleType} {
		if err := b.defineType(strata.addr, typ, ""); err != nil {
			return r, err
		}
	}
	n, dur, burst := 100, 10*time.Second, 3000
	if b.opts.quick {
		n, dur, burst = 20, time.Second, 500
	}
	r = realtimeResult{Subscribers: n, Rate: rtRate, Duration: dur, CreateClients: b.opts.concurrency}
	fmt.Fprintf(b.log, "strata-bench: realtime run: %d subscribers, %d creates/s for %v\n", n, rtRate, dur)
	subs, closeSubs, err := b.subscribe(ctx, strata.addr, rtType, n)
	if err != nil {
		return r, err
	}
	defer func() {
		if closeSubs != nil {
			closeSubs()
		}
	}()
	counted := map[*sseClient]bool{}
	failed := func(phase string) {
		for _, s := range subs {
			if why := s.failed(); why != "" && !counted[s] {
				counted[s] = true
				r.StreamErrors++
				if len(r.samples) < maxErrorSamples {
					r.samples = append(r.samples, phase+": "+why)
				}
			}
		}
	}

	// Latency.
	for _, s := range subs {
		s.recording.Store(true)
	}
	if err := b.pacedCreates(ctx, strata.addr, &r); err != nil {
		return r, err
	}
	r.Missing = waitEvents(ctx, subs, int64(r.Creates))
	var all []time.Duration
	for _, s := range subs {
		s.recording.Store(false)
		s.mu.Lock()
		all = append(all, s.lat...)
		s.lat = nil
		s.mu.Unlock()
	}
	slices.Sort(all)
	r.Samples = len(all)
	r.P50, r.P99 = percentile(all, 50), percentile(all, 99)
	if len(all) > 0 {
		r.Max = all[len(all)-1]
	}
	failed("latency")
	fmt.Fprintf(b.log, "strata-bench: realtime latency: %d creates (%.0f/s), %d samples, p50 %s, p99 %s, max %s, %d missing\n",
		r.Creates, r.Achieved, r.Samples, fmtLatency(r.P50), fmtLatency(r.P99), fmtLatency(r.Max), r.Missing)

	// Throughput.
	if r.StreamErrors == 0 && r.Missing == 0 {
		b.settle(ctx, strata)
		base := int64(r.Creates)
		start := time.Now()
		if err := b.burst(ctx, strata.addr, burst, &r); err != nil {
			return r, err
		}
		r.BurstWrite = time.Since(start)
		r.BurstMissing = waitEvents(ctx, subs, base+int64(r.Burst))
		var last int64
		for _, s := range subs {
			r.Delivered += int(s.events.Load() - base)
			last = max(last, s.lastAt.Load())
		}
		r.DeliverTime = time.Unix(0, last).Sub(start)
		if r.DeliverTime > 0 {
			r.EventsRate = float64(r.Delivered) / r.DeliverTime.Seconds()
		}
		failed("throughput")
		fmt.Fprintf(b.log, "strata-bench: realtime throughput: %d creates written in %s, %d events delivered in %s: %.0f events/s\n",
			r.Burst, fmtSeconds(r.BurstWrite), r.Delivered, fmtSeconds(r.DeliverTime), r.EventsRate)
	}
	closeSubs()
	closeSubs = nil

	// Creates with and without idle subscribers.
	creates := load{auth: b.auth(), clients: b.opts.concurrency, warmup: b.opts.warmup, duration: b.opts.duration,
		build: func(w *worker, req *fasthttp.Request) { b.fillCreate(w, req, rtType) }}
	b.settle(ctx, strata)
	if r.None1, err = measure(ctx, strata, creates); err != nil {
		return r, err
	}
	idle, closeIdle, err := b.subscribe(ctx, strata.addr, rtIdleType, n)
	if err != nil {
		return r, err
	}
	subs = idle
	b.settle(ctx, strata)
	r.Idle, err = measure(ctx, strata, creates)
	failed("idle")
	if err == nil {
		err = b.hookWindow(ctx, strata, creates, receiver, &r)
		failed("webhook")
	}
	closeIdle()
	if err != nil {
		return r, err
	}
	b.settle(ctx, strata)
	if r.None2, err = measure(ctx, strata, creates); err != nil {
		return r, err
	}
	if none := (r.None1.RPS + r.None2.RPS) / 2; none > 0 {
		r.Ratio = r.Idle.RPS / none
		r.HookRatio = r.Hook.RPS / none
	}
	fmt.Fprintf(b.log, "strata-bench: realtime creates: none %.0f/s, %d idle subscribers %.0f/s, with one webhook %.0f/s, none %.0f/s: ratios %.3f, %.3f\n",
		r.None1.RPS, n, r.Idle.RPS, r.Hook.RPS, r.None2.RPS, r.Ratio, r.HookRatio)
	for what, res := range map[string]result{"no subscribers": r.None1, "idle subscribers": r.Idle, "idle subscribers and one webhook": r.Hook} {
		b.logFailures("strata", "creates with "+what, res)
	}
	return r, nil
}

// hookWindow registers one webhook on rtType delivering to receiver,
// measures creates with it in place, notes how far it got, and deletes it.
func (b *bench) hookWindow(ctx context.Context, strata *child, creates load, receiver *hookReceiver, r *realtimeResult) error {
	body, err := json.Marshal(map[string]any{"url": receiver.url, "types": []string{rtType}})
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	status, resp, err := b.call(strata.addr, fasthttp.MethodPost, "/api/webhooks", body)
	if err == nil && status != fasthttp.StatusCreated {
		err = fmt.Errorf("status %d: %s", status, resp)
	}
	var hook struct {
		ID string `json:"id"`
	}
	if err == nil {
		err = json.Unmarshal(resp, &hook)
	}
	if err != nil {
		return fmt.Errorf("register webhook: %w", err)
	}
	b.settle(ctx, strata)
	before := receiver.count.Load()
	r.Hook, err = measure(ctx, strata, creates)
	r.HookDelivered = receiver.count.Load() - before
	if err != nil {
		return err
	}
	status, resp, err = b.call(strata.addr, fasthttp.MethodGet, "/api/webhooks/"+hook.ID, nil)
	if err == nil && status != fasthttp.StatusOK {
		err = fmt.Errorf("status %d: %s", status, resp)
	}
	var state struct {
		Lag int64 `json:"lag"`
	}
	if err == nil {
		err = json.Unmarshal(resp, &state)
	}
	if err != nil {
		return fmt.Errorf("webhook state: %w", err)
	}
	r.HookLag = state.Lag
	fmt.Fprintf(b.log, "strata-bench: realtime webhook: %d creates sent, %d delivered by the window's end, lag %d\n",
		r.Hook.Sent, r.HookDelivered, r.HookLag)
	// Deleted, not drained: its backlog would otherwise be delivered
	// during the next window without a webhook.
	status, resp, err = b.call(strata.addr, fasthttp.MethodDelete, "/api/webhooks/"+hook.ID, nil)
	if err == nil && status/100 != 2 {
		err = fmt.Errorf("status %d: %s", status, resp)
	}
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	return nil
}

// hookReceiver is the webhook's receiver: it answers 204 to every POST
// and counts them.
type hookReceiver struct {
	url   string
	srv   *fasthttp.Server
	count atomic.Int64
}

func startHookReceiver() (*hookReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	h := &hookReceiver{url: "http://" + ln.Addr().String() + "/hook"}
	// The receiver stands for a service on another machine, yet here it
	// shares the two cores with the server it measures: it is a fasthttp
	// server, like the load generator, so that it takes as little of them
	// as a receiver can. It reads each body whole, as a receiver verifying
	// the signature would.
	h.srv = &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		if !c.IsPost() {
			c.SetStatusCode(fasthttp.StatusMethodNotAllowed)
			return
		}
		_ = c.PostBody()
		h.count.Add(1)
		c.SetStatusCode(fasthttp.StatusNoContent)
	}}
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

func (h *hookReceiver) close() { _ = h.srv.Shutdown() }

// pacedCreates sends creates into rtType at rtRate a second for
// r.Duration, each document carrying its send time.
func (b *bench) pacedCreates(ctx context.Context, addr string, r *realtimeResult) error {
	total := int(r.Duration.Seconds() * rtRate)
	jobs := make(chan struct{}, rtRate)
	var mu sync.Mutex
	var workers sync.WaitGroup
	for range rtWriters {
		workers.Go(func() {
			w := newWorker(addr, rand.Uint64())
			defer w.hc.CloseIdleConnections()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for range jobs {
				req.Reset()
				resp.Reset()
				req.Header.SetMethod(fasthttp.MethodPost)
				req.SetRequestURIBytes(w.url("/api/", rtType))
				req.Header.SetContentType("application/json")
				req.Header.Set(fasthttp.HeaderAuthorization, b.auth())
				w.body = appendTimedDoc(w.body[:0], w.rng, b.seq.Add(1))
				req.SetBodyRaw(w.body)
				err := w.hc.Do(req, resp)
				mu.Lock()
				if err != nil || resp.StatusCode() != fasthttp.StatusCreated {
					r.CreateErrors++
					if len(r.samples) < maxErrorSamples {
						r.samples = append(r.samples, describeFailure(req, resp, err))
					}
				} else {
					r.Creates++
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	pace(ctx, jobs, total, rtRate, func(int) struct{} { return struct{}{} })
	workers.Wait()
	r.Achieved = float64(r.Creates) / time.Since(start).Seconds()
	return ctx.Err()
}

// burst writes total creates into rtType in batches of rtBatch, as fast as
// rtBatchers clients can.
func (b *bench) burst(ctx context.Context, addr string, total int, r *realtimeResult) error {
	batches := make(chan int, total/rtBatch+1)
	for left := total; left > 0; left -= rtBatch {
		batches <- min(left, rtBatch)
	}
	close(batches)
	var mu sync.Mutex
	var workers sync.WaitGroup
	for range rtBatchers {
		workers.Go(func() {
			w := newWorker(addr, rand.Uint64())
			defer w.hc.CloseIdleConnections()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for size := range batches {
				if ctx.Err() != nil {
					return
				}
				req.Reset()
				resp.Reset()
				req.Header.SetMethod(fasthttp.MethodPost)
				req.SetRequestURIBytes(w.url("/api/batch"))
				req.Header.SetContentType("application/json")
				req.Header.Set(fasthttp.HeaderAuthorization, b.auth())
				w.body = append(w.body[:0], `{"requests":[`...)
				for i := range size {
					if i > 0 {
						w.body = append(w.body, ',')
					}
					w.body = append(w.body, `{"method":"POST","url":"/api/`+rtType+`","body":`...)
					w.body = appendTimedDoc(w.body, w.rng, b.seq.Add(1))
					w.body = append(w.body, '}')
				}
				w.body = append(w.body, "]}"...)
				req.SetBodyRaw(w.body)
				err := w.hc.Do(req, resp)
				mu.Lock()
				if err != nil || resp.StatusCode()/100 != 2 {
					r.BurstErrors++
					if len(r.samples) < maxErrorSamples {
						r.samples = append(r.samples, describeFailure(req, resp, err))
					}
				} else {
					r.Burst += size
				}
				mu.Unlock()
			}
		})
	}
	workers.Wait()
	return ctx.Err()
}

// writeRealtime writes the realtime section.
func writeRealtime(b *strings.Builder, r realtimeResult) {
	fmt.Fprintf(b, "\n### Realtime: the event feed (GET /api/events)\n\n")
	lat := fmt.Sprintf("%d subscribers; %s creates/s offered for %v by %d clients, %s made (%s/s); %s (subscriber, event) samples, %d missing",
		r.Subscribers, fmtCount(float64(r.Rate)), r.Duration, rtWriters, fmtCount(float64(r.Creates)), fmtCount(r.Achieved),
		fmtCount(float64(r.Samples)), r.Missing)
	latErrors := fmt.Sprint(r.CreateErrors + r.Missing)
	thr := fmt.Sprintf("%d subscribers; %s creates in batches of %d by %d clients, written in %s; %s events delivered %s after the first batch was sent",
		r.Subscribers, fmtCount(float64(r.Burst)), rtBatch, rtBatchers, fmtSeconds(r.BurstWrite), fmtCount(float64(r.Delivered)), fmtSeconds(r.DeliverTime))
	idle := fmt.Sprintf("%d clients: %s creates/s with no stream open, %s/s with %d streams open on another type, %s/s with none again (p99 %s / %s / %s)",
		r.CreateClients, fmtCount(r.None1.RPS), fmtCount(r.Idle.RPS), r.Subscribers, fmtCount(r.None2.RPS),
		fmtLatency(r.None1.P99), fmtLatency(r.Idle.P99), fmtLatency(r.None2.P99))
	hook := fmt.Sprintf("%d clients: %s creates/s with the %d idle streams and one webhook on the created type (every action) "+
		"delivering to a receiver in the bench, against the same windows with none (%s/s, %s/s; p99 %s); "+
		"the receiver got %s deliveries of %s creates sent by the window's end, %s entries behind (lag)",
		r.CreateClients, fmtCount(r.Hook.RPS), r.Subscribers, fmtCount(r.None1.RPS), fmtCount(r.None2.RPS), fmtLatency(r.Hook.P99),
		fmtCount(float64(r.HookDelivered)), fmtCount(float64(r.Hook.Sent)), fmtCount(float64(r.HookLag)))
	writeTable(b, "lrllrl", [][]string{
		{"Realtime measure", "Value", "Target", "Result", "Errors", "Details"},
		{"write → event latency p50", fmtLatency(r.P50), "—", "—", latErrors, lat},
		{"write → event latency p99", fmtLatency(r.P99), "≤ " + fmtLatency(rtLatencyTarget), r.latencyVerdict(), latErrors,
			"max " + fmtLatency(r.Max) + "; " + lat},
		{"events delivered/s", fmtCount(r.EventsRate) + " events/s", "≥ " + fmtCount(rtThroughputTarget) + " events/s", r.throughputVerdict(),
			fmt.Sprint(r.BurstErrors + r.BurstMissing), thr},
		{"creates with idle subscribers", fmt.Sprintf("%.3f×", r.Ratio), fmt.Sprintf("≥ %.2f×", rtCreateTarget), atLeast(r.Ratio, rtCreateTarget),
			fmt.Sprint(r.None1.Errors + r.Idle.Errors + r.None2.Errors), idle},
		{"creates with idle subscribers and one webhook", fmt.Sprintf("%.3f×", r.HookRatio), fmt.Sprintf("≥ %.2f×", rtCreateTarget), r.hookVerdict(),
			fmt.Sprint(r.None1.Errors + r.Hook.Errors + r.None2.Errors), hook},
	})
	fmt.Fprintf(b, "\nA fresh Strata; every subscriber is a stream of its own (one connection, a minimal SSE parser in the bench) "+
		"subscribed as the administrator. Latency: from just before a create is sent (its document carries the time) "+
		"to the end of the event's data line at each subscriber, over every (subscriber, event) pair; the bench, its %d streams and "+
		"the server share the machine. Idle subscribers are open streams on a type nobody writes: every commit wakes them, none gets an event. "+
		"The webhook window comes after the idle one, with the same streams open; the webhook is deleted after it, before the last window without. "+
		"Broken streams: %d.\n", r.Subscribers, r.StreamErrors)
}
