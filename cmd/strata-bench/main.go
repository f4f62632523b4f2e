// Command strata-bench measures a Strata server against a bare Fiber
// baseline and prints the results as a Markdown table (the program behind
// `make bench`).
//
// Usage:
//
//	strata-bench [-strata bin/strata] [-duration 5s] [-concurrency 64] [-docs 100000]
//	             [-procs N] [-run REGEXP] [-skip-size] [-quick] [-json]
//
// It builds nothing: it runs the given strata binary as a child process,
// over a fresh temporary data directory on a loopback port, and itself
// again, as a second child, as the baseline: a Fiber v2 app whose one
// handler returns a fixed JSON body of the same size as Strata's response.
// Both children get the same GOMAXPROCS, and one load generator in this
// process (fasthttp, one keep-alive connection per client) drives both in
// the same run, so the ratio of their request rates is a fair measure of
// what Strata's work costs.
//
// # Scenarios
//
// Each scenario runs for -duration, after a warm-up, first against the
// baseline and then against Strata: durable creates of ~1 KiB documents,
// reads of random ids, replacing updates of random ids, and list pages of
// 20, from the start and from a random later cursor. A size run then
// creates -docs documents in a fresh Strata and reports the data
// directory's size and the server's memory.
//
// The exit status is non-zero when more than 0.1% of the requests of any
// run failed (a non-2xx status or a transport error). Missed targets are
// reported, not failed. Children and temporary files are removed on every
// exit path, Ctrl-C included.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	// minIDs is how many resources the read and update scenarios choose
	// from; the bench creates more when the create scenario made fewer.
	minIDs = 1000
	// maxCursors is how many list pages the cursor scenario starts from.
	maxCursors = 256
	// pageSize is the list scenarios' page size.
	pageSize = 20
	// rssTarget is the size run's target for the server's resident memory.
	rssTarget = 300 << 20
	// maxErrorRate is the share of failed requests above which the bench
	// fails.
	maxErrorRate = 0.001
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// realMain runs the bench, or the baseline server when args start with
// baselineCommand, until done or interrupted, and returns the exit status.
func realMain(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(args) > 0 && args[0] == baselineCommand {
		err = runBaseline(ctx, args[1:], stderr)
	} else {
		err = run(ctx, args, stdout, stderr)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 2
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "strata-bench: interrupted")
		return 130
	}
	fmt.Fprintln(stderr, "strata-bench:", err)
	return 1
}

// options are the bench's settings, from its flags.
type options struct {
	strata      string         // absolute path of the strata binary
	duration    time.Duration  // measured time of one run
	warmup      time.Duration  // unmeasured time before it
	concurrency int            // clients per run
	docs        int            // documents created by the size run
	procs       int            // GOMAXPROCS of both servers
	run         *regexp.Regexp // selects the scenarios to run
	skipSize    bool
	quick       bool
	json        bool
	// settle is the longest wait for the servers to go idle before a run.
	settle time.Duration
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("strata-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.strata, "strata", "bin/strata", "the strata binary to measure, built beforehand")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per scenario and server, after a warm-up of a fifth of it (at most 1s)")
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent clients per run, one keep-alive connection each")
	fs.IntVar(&o.docs, "docs", 100_000, "documents created by the size run")
	fs.IntVar(&o.procs, "procs", runtime.GOMAXPROCS(0), "GOMAXPROCS of both servers")
	runExpr := fs.String("run", "", "run only the scenarios whose names match this regular expression")
	fs.BoolVar(&o.skipSize, "skip-size", false, "skip the size run")
	fs.BoolVar(&o.quick, "quick", false, "smoke run: 300ms per scenario and 2000 documents, unless -duration or -docs are given")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON instead of Markdown")
	err := fs.Parse(args)
	if err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.settle = 3 * time.Second
	if o.quick {
		if !set["duration"] {
			o.duration = 300 * time.Millisecond
		}
		if !set["docs"] {
			o.docs = 2000
		}
		o.settle = 500 * time.Millisecond
	}
	o.warmup = min(o.duration/5, time.Second)
	if o.run, err = regexp.Compile(*runExpr); err != nil {
		return o, fmt.Errorf("-run: %w", err)
	}
	if o.duration <= 0 || o.concurrency < 1 || o.docs < 1 || o.procs < 1 {
		return o, errors.New("-duration, -concurrency, -docs and -procs must be positive")
	}
	abs, err := filepath.Abs(o.strata)
	if err != nil {
		return o, fmt.Errorf("strata binary %s: %w", o.strata, err)
	}
	o.strata = abs
	if _, err := os.Stat(o.strata); err != nil {
		return o, fmt.Errorf("strata binary: %w (build it with `go build -o bin/strata ./cmd/strata`, or pass -strata)", err)
	}
	return o, nil
}

// run runs the whole bench and writes the report to stdout and progress
// to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable for the baseline: %w", err)
	}
	dir, err := os.MkdirTemp("", "strata-bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	b := &bench{
		opts:  opts,
		log:   stderr,
		self:  self,
		dir:   dir,
		key:   fmt.Sprintf("bench-%016x", rand.Uint64()),
		setup: &fasthttp.Client{ReadTimeout: requestTimeout, WriteTimeout: requestTimeout, NoDefaultUserAgentHeader: true},
	}
	rep := report{Machine: machineFacts(opts), Settings: settingsOf(opts)}
	if rep.Scenarios, err = b.compare(ctx); err != nil {
		return err
	}
	if !opts.skipSize {
		size, err := b.sizeRun(ctx)
		if err != nil {
			return err
		}
		rep.Size = &size
	}
	if opts.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = writeMarkdown(stdout, rep)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return rep.checkErrors()
}

// bench is the state of one run of the benchmark. Its methods run on one
// goroutine; the build functions read ids and cursors concurrently, so
// those change only between loads.
type bench struct {
	opts  options
	log   io.Writer // progress
	self  string    // this executable, run again as the baseline
	dir   string    // temporary directory, removed by run
	key   string    // STRATA_ADMIN_KEY of the servers, sent as a bearer token
	setup *fasthttp.Client

	seq     atomic.Uint64 // numbers documents, so every one is distinct
	ids     []string      // resources created so far
	cursors []string      // next_cursor values of the first list pages, query-escaped
}

func (b *bench) auth() string { return "Bearer " + b.key }

// childEnv is the environment of both servers: the bench's own, minus any
// STRATA_* settings, with the same GOMAXPROCS and an admin key (so the
// bench keeps working once the API requires authentication).
func (b *bench) childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	return append(env, "GOMAXPROCS="+strconv.Itoa(b.opts.procs), "STRATA_ADMIN_KEY="+b.key)
}

// startBaseline runs this executable as the baseline server.
func (b *bench) startBaseline(ctx context.Context) (*child, error) {
	cmd := exec.Command(b.self, baselineCommand, "-addr", "127.0.0.1:0")
	cmd.Env = b.childEnv()
	return startChild(ctx, "baseline", cmd)
}

// startStrata runs strata over a fresh data directory under b.dir, named
// name, and defines the bench's type. It returns the data directory.
func (b *bench) startStrata(ctx context.Context, name string) (*child, string, error) {
	home := filepath.Join(b.dir, name)
	data := filepath.Join(home, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, "", fmt.Errorf("strata data dir: %w", err)
	}
	cmd := exec.Command(b.opts.strata, "serve", "--addr", "127.0.0.1:0", "--data", data)
	cmd.Dir = home // away from any strata.yaml in the caller's directory
	cmd.Env = b.childEnv()
	c, err := startChild(ctx, "strata", cmd)
	if err != nil {
		return nil, "", err
	}
	status, body, err := b.call(c.addr, fasthttp.MethodPost, "/api/types", []byte(typeDefinition))
	if err == nil && status != fasthttp.StatusCreated {
		err = fmt.Errorf("status %d: %s", status, body)
	}
	if err != nil {
		_ = c.stop()
		return nil, "", fmt.Errorf("define type %s: %w", typeName, err)
	}
	return c, data, nil
}

// stopChild stops c and, if the run went well so far, reports an unclean
// exit through *err.
func stopChild(c *child, err *error) {
	if stopErr := c.stop(); stopErr != nil && *err == nil {
		*err = stopErr
	}
}

// call sends one setup request and returns the status and a copy of the
// body.
func (b *bench) call(addr, method, path string, body []byte) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + addr + path)
	req.Header.Set(fasthttp.HeaderAuthorization, b.auth())
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}
	if err := b.setup.DoTimeout(req, resp, requestTimeout); err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

// scenario is one row of the comparison: a kind of request, sent to both
// servers.
type scenario struct {
	name   string
	target float64 // least Strata/baseline ratio of requests per second; 0 for none
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
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(w.url("/api/", typeName))
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

// compare runs every scenario, the baseline and Strata side by side.
func (b *bench) compare(ctx context.Context) (rows []row, err error) {
	base, err := b.startBaseline(ctx)
	if err != nil {
		return nil, err
	}
	defer stopChild(base, &err)
	strata, _, err := b.startStrata(ctx, "compare")
	if err != nil {
		return nil, err
	}
	defer stopChild(strata, &err)
	for _, sc := range b.scenarios() {
		if !b.opts.run.MatchString(sc.name) {
			continue
		}
		r, err := b.runScenario(ctx, sc, base, strata)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc.name, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
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

// sizeRun creates opts.docs documents in a fresh Strata and measures the
// data directory and the server's memory.
func (b *bench) sizeRun(ctx context.Context) (s sizeResult, err error) {
	strata, data, err := b.startStrata(ctx, "size")
	if err != nil {
		return s, err
	}
	defer stopChild(strata, &err)
	fmt.Fprintf(b.log, "strata-bench: size run: creating %d documents with %d clients\n", b.opts.docs, b.opts.concurrency)
	s = sizeResult{Docs: b.opts.docs, Clients: b.opts.concurrency}
	s.Result, err = measure(ctx, strata, load{auth: b.auth(), clients: b.opts.concurrency,
		count: b.opts.docs, build: b.buildCreate})
	if err != nil {
		return s, err
	}
	b.logFailures("strata", "size run", s.Result)
	if mem, err := procMemory(strata.pid()); err != nil {
		fmt.Fprintf(b.log, "strata-bench: size run: no memory figures: %v\n", err)
	} else {
		s.Memory = &mem
	}
	if s.DataBytes, s.DataAllocated, err = dirSize(data); err != nil {
		return s, err
	}
	fmt.Fprintf(b.log, "strata-bench: size run: %.0f creates/s, %d bytes of data\n", s.Result.RPS, s.DataBytes)
	return s, nil
}

// dirSize sums the sizes of the regular files under dir, as ls and as du
// count them.
func dirSize(dir string) (apparent, allocated int64, err error) {
	err = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		apparent += info.Size()
		allocated += allocatedBytes(info)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return apparent, allocated, nil
}
