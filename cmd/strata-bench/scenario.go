package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// scenario is one row of the comparison: a kind of request, sent to both
// servers.
type scenario struct {
	name   string
	target float64 // least Strata/baseline ratio of requests per second; 0 for none
	// minRPS, when set, is the search run's absolute target instead: the
	// least Strata req/s.
	minRPS float64
	// versus, when set, names the search run's row this one is judged
	// against: its time per request at most maxCost times that row's.
	versus  string
	maxCost float64
	// prepare, when set, readies Strata for the scenario.
	prepare func(ctx context.Context, addr string) error
	// build fills in one request for Strata; the baseline gets the same
	// method and body at its own URI.
	build func(w *worker, req *fasthttp.Request)
	// check, when set, sees Strata's 2xx responses.
	check func(w *worker, resp *fasthttp.Response)
}

// scenarios are the comparison's rows, in the order they run.
func (b *bench) scenarios() []scenario {
	return []scenario{
		{name: "create (durable)", target: 0.25, build: b.buildCreate, check: collectID},
		{name: "get by id", target: 0.6, prepare: b.ensureIDs, build: b.buildGet},
		{name: "update (PUT)", prepare: b.ensureIDs, build: b.buildUpdate},
		{name: "list page of 20", target: 0.3, prepare: b.ensureIDs, build: b.buildList},
		{name: "list page of 20 at a cursor", target: 0.3, prepare: b.collectCursors, build: b.buildListCursor},
	}
}

func (b *bench) buildCreate(w *worker, req *fasthttp.Request) {
	b.fillCreate(w, req, typeName)
}

// fillCreate fills in the durable create of a new appendDoc document of
// type typ.
func (b *bench) fillCreate(w *worker, req *fasthttp.Request, typ string) {
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(w.url("/api/", typ))
	req.Header.SetContentType("application/json")
	w.body = appendDoc(w.body[:0], w.rng, b.seq.Add(1))
	req.SetBodyRaw(w.body)
}

func (b *bench) buildGet(w *worker, req *fasthttp.Request) {
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURIBytes(w.url("/api/", typeName, "/", b.ids[w.rng.IntN(len(b.ids))]))
}

func (b *bench) buildUpdate(w *worker, req *fasthttp.Request) {
	req.Header.SetMethod(fasthttp.MethodPut)
	req.SetRequestURIBytes(w.url("/api/", typeName, "/", b.ids[w.rng.IntN(len(b.ids))]))
	req.Header.SetContentType("application/json")
	w.body = appendDoc(w.body[:0], w.rng, b.seq.Add(1))
	req.SetBodyRaw(w.body)
}

func (b *bench) buildList(w *worker, req *fasthttp.Request) {
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURIBytes(w.url("/api/", typeName, "?limit=", strconv.Itoa(pageSize)))
}

func (b *bench) buildListCursor(w *worker, req *fasthttp.Request) {
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURIBytes(w.url("/api/", typeName, "?limit=", strconv.Itoa(pageSize),
		"&cursor=", b.cursors[w.rng.IntN(len(b.cursors))]))
}

// collectID keeps the id of a created resource.
func collectID(w *worker, resp *fasthttp.Response) {
	if id, ok := envelopeID(resp.Body()); ok {
		w.ids = append(w.ids, id)
	}
}

// ensureIDs creates resources until there are minIDs to choose from.
func (b *bench) ensureIDs(ctx context.Context, addr string) error {
	missing := minIDs - len(b.ids)
	if missing <= 0 {
		return nil
	}
	fmt.Fprintf(b.log, "strata-bench: creating %d more resources to read and update\n", missing)
	res, err := runLoad(ctx, load{addr: addr, auth: b.auth(), clients: b.opts.concurrency, count: missing,
		build: b.buildCreate, check: collectID})
	if err != nil {
		return err
	}
	if res.Errors > 0 {
		return fmt.Errorf("create resources: %d of %d failed: %s", res.Errors, res.Sent, strings.Join(res.samples, "; "))
	}
	b.ids = append(b.ids, res.ids...)
	return nil
}

// collectCursors walks the first list pages, after making sure there are
// minIDs resources, and keeps their next cursors.
func (b *bench) collectCursors(ctx context.Context, addr string) error {
	if err := b.ensureIDs(ctx, addr); err != nil {
		return err
	}
	cursor := ""
	for len(b.cursors) < maxCursors {
		path := fmt.Sprintf("/api/%s?limit=%d", typeName, pageSize)
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		status, body, err := b.call(addr, fasthttp.MethodGet, path, nil)
		if err == nil && status != fasthttp.StatusOK {
			err = fmt.Errorf("status %d: %s", status, body)
		}
		if err != nil {
			return fmt.Errorf("walk list pages: %w", err)
		}
		var page struct {
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("walk list pages: %w", err)
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			break
		}
		cursor = *page.NextCursor
		b.cursors = append(b.cursors, url.QueryEscape(cursor))
	}
	if len(b.cursors) == 0 {
		return errors.New("walk list pages: only one page")
	}
	return nil
}

// runScenario measures Strata's response size for sc, then runs sc
// against the baseline answering with that size, then against Strata.
func (b *bench) runScenario(ctx context.Context, sc scenario, base, strata *child) (row, error) {
	if sc.prepare != nil {
		if err := sc.prepare(ctx, strata.addr); err != nil {
			return row{}, err
		}
	}
	size, err := b.probe(strata.addr, sc)
	if err != nil {
		return row{}, err
	}
	r := row{Name: sc.name, Clients: b.opts.concurrency, Target: sc.target, ResponseBytes: size}
	l := load{auth: b.auth(), clients: b.opts.concurrency, warmup: b.opts.warmup, duration: b.opts.duration, build: sc.build}

	b.settle(ctx, base, strata)
	l.uri = fmt.Sprintf("http://%s/baseline/%d", base.addr, size)
	if r.Baseline, err = measure(ctx, base, l); err != nil {
		return row{}, err
	}
	b.settle(ctx, base, strata)
	l.uri, l.check = "", sc.check
	if r.Strata, err = measure(ctx, strata, l); err != nil {
		return row{}, err
	}
	b.ids = append(b.ids, r.Strata.ids...)
	if r.Baseline.RPS > 0 {
		r.Ratio = r.Strata.RPS / r.Baseline.RPS
	}
	fmt.Fprintf(b.log, "strata-bench: %-28s baseline %8.0f req/s, strata %8.0f req/s, ratio %.3f\n",
		sc.name, r.Baseline.RPS, r.Strata.RPS, r.Ratio)
	b.logFailures("baseline", sc.name, r.Baseline)
	b.logFailures("strata", sc.name, r.Strata)
	return r, nil
}

// measure runs l against server c and adds the CPU time c spent on it.
func measure(ctx context.Context, c *child, l load) (result, error) {
	l.addr = c.addr
	before, errBefore := cpuTime(c.pid())
	res, err := runLoad(ctx, l)
	after, errAfter := cpuTime(c.pid())
	if err == nil && errBefore == nil && errAfter == nil && res.Sent > 0 {
		res.ServerCPU = (after - before) / time.Duration(res.Sent)
	}
	return res, err
}

// measurePair measures loads x and y on c back to back, so that the
// database growing over a long run weighs on both alike, x first unless
// swap; each run starts once c has settled.
func (b *bench) measurePair(ctx context.Context, c *child, x, y load, swap bool) (rx, ry result, err error) {
	runs := []struct {
		l   load
		res *result
	}{{x, &rx}, {y, &ry}}
	if swap {
		runs[0], runs[1] = runs[1], runs[0]
	}
	for _, run := range runs {
		b.settle(ctx, c)
		if *run.res, err = measure(ctx, c, run.l); err != nil {
			return rx, ry, err
		}
	}
	return rx, ry, nil
}

// probe sends one request of sc to Strata and returns the response size.
func (b *bench) probe(addr string, sc scenario) (int, error) {
	w := newWorker(addr, 1)
	defer w.hc.CloseIdleConnections()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	sc.build(w, req)
	req.Header.Set(fasthttp.HeaderAuthorization, b.auth())
	err := w.hc.Do(req, resp)
	if err != nil || resp.StatusCode()/100 != 2 {
		return 0, fmt.Errorf("probe: %s", describeFailure(req, resp, err))
	}
	if sc.check != nil {
		sc.check(w, resp)
		b.ids = append(b.ids, w.ids...)
	}
	return len(resp.Body()), nil
}

func (b *bench) logFailures(server, scenario string, r result) {
	for _, s := range r.samples {
		fmt.Fprintf(b.log, "strata-bench: %s: %s failed: %s\n", scenario, server, s)
	}
}

// settle waits, up to opts.settle, until none of cs uses more than 5% of a
// CPU, so that one server's leftover work (GC, background commits) does
// not slow the next run against the other.
func (b *bench) settle(ctx context.Context, cs ...*child) {
	const window, idle = 200 * time.Millisecond, 10 * time.Millisecond
	used := func() (time.Duration, error) {
		var sum time.Duration
		for _, c := range cs {
			t, err := cpuTime(c.pid())
			if err != nil {
				return 0, err
			}
			sum += t
		}
		return sum, nil
	}
	prev, err := used()
	if err != nil {
		return // not measurable here: don't wait
	}
	tick := time.NewTicker(window)
	defer tick.Stop()
	for deadline := time.Now().Add(b.opts.settle); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cur, err := used()
		if err != nil || cur-prev <= idle {
			return
		}
		prev = cur
	}
}
