package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// requestTimeout bounds one request; a request that takes longer is an error.
const requestTimeout = 30 * time.Second

// maxErrorSamples is how many failed requests a run describes.
const maxErrorSamples = 3

// A load is one run of the load generator against one server: clients
// workers, each with one keep-alive connection, send requests built by
// build back to back. A run ends when duration has passed after warmup or,
// when count is positive, once count requests have been sent; and early
// when its context is done.
type load struct {
	addr string // host:port of the server
	// addrs, when set, replaces addr: several nodes of one cluster, the
	// clients spread over them in turn (client i on addrs[i%len]), as a
	// balancer spreads connections.
	addrs    []string
	auth     string // Authorization header value, sent with every request
	clients  int
	warmup   time.Duration
	duration time.Duration
	count    int
	// build fills in a reset request: method, URL (via worker.url), body.
	build func(w *worker, req *fasthttp.Request)
	// uri, when set, replaces every request's URI after build: the
	// baseline answers the same requests at its own path.
	uri string
	// check, when set, is called with every 2xx response.
	check func(w *worker, resp *fasthttp.Response)
}

// result is what one run measured. Requests, rates, latencies and sizes
// cover the measured phase; Sent and Errors cover the warm-up too.
type result struct {
	Requests int           `json:"requests"`
	Sent     int           `json:"sent"`
	Errors   int           `json:"errors"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	RPS      float64       `json:"rps"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
	// RespBytes is the mean size of a response body.
	RespBytes int `json:"response_bytes"`
	// ServerCPU is the server's CPU time (user and system) per request
	// sent, warm-up included; zero when unknown.
	ServerCPU time.Duration `json:"server_cpu_per_request_ns"`

	samples []string // descriptions of the first failures
	ids     []string // what check collected, from every worker
}

// errorRate is the share of requests that failed.
func (r result) errorRate() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.Sent)
}

// worker is one client of a load. Only its own goroutine touches it.
type worker struct {
	rng  *rand.Rand
	base string // "http://host:port"
	uri  []byte // scratch for the request URI
	body []byte // scratch for the request body; valid until the next request
	hc   *fasthttp.HostClient

	// Collected by the measured phase, except sent and errors.
	latencies []time.Duration
	requests  int
	sent      int
	errors    int
	respBytes int64
	samples   []string
	ids       []string // for check to fill
}

func newWorker(addr string, seed uint64) *worker {
	return &worker{
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		base: "http://" + addr,
		hc: &fasthttp.HostClient{
			Addr:                      addr,
			MaxConns:                  1, // one keep-alive connection per worker
			ReadTimeout:               requestTimeout,
			WriteTimeout:              requestTimeout,
			MaxIdleConnDuration:       time.Minute,
			MaxIdemponentCallAttempts: 1, // no silent retries: every failure counts
			NoDefaultUserAgentHeader:  true,
			DisablePathNormalizing:    true,
			MaxResponseBodySize:       64 << 20,
		},
	}
}

// url returns the worker's base URL followed by parts, in its scratch
// buffer; the result is valid until the next call.
func (w *worker) url(parts ...string) []byte {
	w.uri = append(w.uri[:0], w.base...)
	for _, p := range parts {
		w.uri = append(w.uri, p...)
	}
	return w.uri
}

// runLoad runs l and reports what it measured. It returns an error only
// when ctx is done; failed requests are counted in the result.
func runLoad(ctx context.Context, l load) (result, error) {
	workers := make([]*worker, l.clients)
	for i := range workers {
		addr := l.addr
		if len(l.addrs) > 0 {
			addr = l.addrs[i%len(l.addrs)]
		}
		workers[i] = newWorker(addr, rand.Uint64())
	}
	defer func() {
		for _, w := range workers {
			w.hc.CloseIdleConnections()
		}
	}()
	if l.warmup > 0 {
		runPhase(ctx, l, workers, time.Now().Add(l.warmup), 0, false)
	}
	deadline := time.Time{}
	if l.count <= 0 {
		deadline = time.Now().Add(l.duration)
	}
	start := time.Now()
	runPhase(ctx, l, workers, deadline, l.count, true)
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	return summarize(workers, elapsed), nil
}

// runPhase runs every worker until deadline (when not zero) or until count
// requests have been sent (when positive), and waits for them. When record
// is set, each worker sends at least one request.
func runPhase(ctx context.Context, l load, workers []*worker, deadline time.Time, count int, record bool) {
	var sent atomic.Int64
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			// A measured phase has every worker send at least one request
			// whatever the clock says: on a loaded machine a worker may
			// first run after the deadline, and a run that measured nothing
			// has no ids for the runs that read them.
			for first := record; ctx.Err() == nil; first = false {
				if count > 0 && sent.Add(1) > int64(count) {
					return
				}
				if !first && !deadline.IsZero() && !time.Now().Before(deadline) {
					return
				}
				w.do(l, req, resp, record)
			}
		})
	}
	wg.Wait()
}

// do sends one request and records its outcome. Errors are always
// counted; latencies, sizes and checks only when record is set.
func (w *worker) do(l load, req *fasthttp.Request, resp *fasthttp.Response, record bool) {
	req.Reset()
	resp.Reset()
	l.build(w, req)
	if l.uri != "" {
		req.SetRequestURI(l.uri)
	}
	if l.auth != "" {
		req.Header.Set(fasthttp.HeaderAuthorization, l.auth)
	}
	start := time.Now()
	err := w.hc.Do(req, resp)
	took := time.Since(start)
	w.sent++
	ok := err == nil && resp.StatusCode() >= 200 && resp.StatusCode() < 300
	if !ok {
		w.errors++
		if len(w.samples) < maxErrorSamples {
			w.samples = append(w.samples, describeFailure(req, resp, err))
		}
	}
	if !record {
		return
	}
	w.requests++
	w.latencies = append(w.latencies, took)
	w.respBytes += int64(len(resp.Body()))
	if ok && l.check != nil {
		l.check(w, resp)
	}
}

func describeFailure(req *fasthttp.Request, resp *fasthttp.Response, err error) string {
	what := fmt.Sprintf("%s %s", req.Header.Method(), req.URI().PathOriginal())
	if err != nil {
		return fmt.Sprintf("%s: %v", what, err)
	}
	body := resp.Body()
	if len(body) > 300 {
		body = body[:300]
	}
	return fmt.Sprintf("%s: %d %s", what, resp.StatusCode(), body)
}

// summarize merges the workers' records into one result.
func summarize(workers []*worker, elapsed time.Duration) result {
	r := result{Elapsed: elapsed}
	var all []time.Duration
	var bytes int64
	for _, w := range workers {
		r.Requests += w.requests
		r.Sent += w.sent
		r.Errors += w.errors
		bytes += w.respBytes
		all = append(all, w.latencies...)
		r.ids = append(r.ids, w.ids...)
		for _, s := range w.samples {
			if len(r.samples) < maxErrorSamples {
				r.samples = append(r.samples, s)
			}
		}
	}
	if elapsed > 0 {
		r.RPS = float64(r.Requests) / elapsed.Seconds()
	}
	if r.Requests > 0 {
		r.RespBytes = int(bytes / int64(r.Requests))
	}
	slices.Sort(all)
	r.P50, r.P99 = percentile(all, 50), percentile(all, 99)
	if len(all) > 0 {
		r.Max = all[len(all)-1]
	}
	return r
}

// percentile returns the p-th percentile of sorted by the nearest-rank
// method; zero for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// pace hands total jobs to jobs at rate a second, job(i) the i-th: every
// millisecond it sends those due by then. It closes jobs when all are
// sent or ctx ends.
func pace[T any](ctx context.Context, jobs chan<- T, total int, rate float64, job func(i int) T) {
	defer close(jobs)
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for sent := 0; sent < total; {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := min(total, int(time.Since(start).Seconds()*rate))
		for ; sent < due; sent++ {
			select {
			case jobs <- job(sent):
			case <-ctx.Done():
				return
			}
		}
	}
}
