// Command strata-bench measures a Strata server against a bare Fiber
// baseline and prints the results as a Markdown table (the program behind
// `make bench`).
//
// Usage:
//
//	strata-bench [-strata bin/strata] [-duration 5s] [-concurrency 64] [-docs 100000]
//	             [-procs N] [-run REGEXP] [-skip-size] [-skip-hooks] [-skip-hooked-load]
//	             [-skip-search] [-search-docs 100000] [-skip-realtime]
//	             [-skip-postgres] [-postgres URL] [-hooks-dir examples/wasm-hooks/build] [-pocketbase PATH] [-quick] [-json]
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
// 20, from the start and from a random later cursor (-run selects among
// these).
//
// The hook overhead run then measures what a validate hook costs durable
// creates. In one fresh Strata it registers the example hook
// (examples/wasm-hooks, `make hooks`) in each of its five languages from
// -hooks-dir, defines a type per language with the creates' schema and the
// module bound to the validate stage, checks that a create records the
// module's approval in revision.hooks, and then measures creates into each
// language's type, each right next to a run of plain creates (no hook) in
// the same process, alternating which goes first. A missing module is an
// error; -skip-hooks skips the run.
//
// The search run then creates -search-docs articles (~1 KiB: title,
// 100-word body with Zipf-distributed words, tags, status, numbers, a
// date-time) with -concurrency clients in a fresh Strata whose type
// declares title and body as search fields, and reports the indexing
// throughput (first create until a strong count returns them all); the
// index lag (1,000 creates/s for 10 s, every 10th followed from its 201
// until a consistency=eventual list returns it); four query scenarios
// (keyword filter, range with sort, two-word q, q with a date filter;
// pages of 20, strong consistency) against the baseline; and the index's
// size against the raw JSON and the bolt file. -skip-search skips it.
//
// The realtime run then measures the event feed (GET /api/events) in a
// fresh Strata: the latency from a create's send to each of 100
// subscribers' receipt of its event while creates run at 1,000 a second,
// the events delivered a second to 100 subscribers during a burst of
// batched creates, and durable creates with 100 idle subscribers against
// creates with none (realtime.go). -skip-realtime skips it.
//
// The operations run then uploads and downloads blobs of 1 MiB and
// 100 MiB against a plain copy of the same files on the same disk, and
// compares the server CPU per read with request metrics on and off
// (opsrun.go). -skip-ops skips it.
//
// The PostgreSQL run then measures durable creates (into a type with
// search fields), reads by id, list pages and search pages on a bbolt
// node, on one node over a fresh PostgreSQL database and on two nodes
// sharing another, all three up at once and measured in turn, and
// reports each as a ratio to the bolt node, with targets for the one-node
// ratios (pgrun.go). It creates its databases through -postgres and drops
// them at the end; an unreachable server skips it with a line in the
// report, except when the environment variable CI is set, where the bench
// fails. -skip-postgres skips it.
//
// A size run then creates -docs documents in a fresh Strata and reports
// the data directory's size and the server's memory.
//
// With -pocketbase PATH (a PocketBase binary, e.g. built from its
// examples/base; nothing of PocketBase is part of this repository), a
// PocketBase run follows the comparison: PocketBase over a fresh
// directory (`superuser upsert`, then `serve --dev=false`), signed in as
// a superuser, with a base collection holding the create documents'
// fields, beside a fresh Strata with a type of the same schema whose title
// and body are search fields, its index built by a first search. The same
// creates, with -concurrency clients for -duration, go first to PocketBase
// then to Strata, fresh, and again once both are filled to -docs records;
// the report gives both rates, their ratio against the 2.5× target, and
// each server's CPU time per create.
//
// The exit status is non-zero when more than 0.1% of the requests of any
// run failed (a non-2xx status or a transport error). Missed targets are
// reported, not failed, as are a hook overhead run's; a create that does
// not record its hook's approval fails the bench. Children and temporary files are removed on every
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
	skipHooks   bool
	skipSearch  bool
	skipAuth    bool
	// skipRealtime skips the realtime run (realtime.go).
	skipRealtime bool
	// skipHookedLoad skips the hooked-load run (hookload.go).
	skipHookedLoad bool
	searchDocs     int           // articles created by the search run
	lagDuration    time.Duration // of the search run's steady creates
	hooksDir       string        // absolute path of the built example hook modules
	pocketbase     string        // absolute path of a PocketBase binary; empty: no PocketBase run
	quick          bool
	json           bool
	// settle is the longest wait for the servers to go idle before a run.
	settle time.Duration

	// skipOps skips the blob and metrics run (opsrun.go).
	skipOps bool
	// skipPostgres skips the PostgreSQL run (pgrun.go); postgres is the
	// administrative URL it creates its databases through.
	skipPostgres bool
	postgres     string
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
	fs.BoolVar(&o.skipHooks, "skip-hooks", false, "skip the hook overhead run")
	fs.BoolVar(&o.skipSearch, "skip-search", false, "skip the search run")
	fs.BoolVar(&o.skipAuth, "skip-auth", false, "skip the authentication overhead run")
	fs.BoolVar(&o.skipRealtime, "skip-realtime", false, "skip the realtime run (event feed latency, delivery and creates beside idle subscribers)")
	fs.BoolVar(&o.skipHookedLoad, "skip-hooked-load", false, "skip the hooked-load run (unhooked creates beside a 50 ms hook)")
	fs.BoolVar(&o.skipOps, "skip-ops", false, "skip the blob throughput and metrics overhead run")
	fs.BoolVar(&o.skipPostgres, "skip-postgres", false, "skip the PostgreSQL run (bolt, one node and two nodes over PostgreSQL)")
	fs.StringVar(&o.postgres, "postgres", defaultPostgres, "administrative URL of the PostgreSQL server the PostgreSQL run creates (and drops) its databases on; unreachable: the run is skipped, or fails when CI is set")
	fs.IntVar(&o.searchDocs, "search-docs", 100_000, "articles created and queried by the search run")
	fs.StringVar(&o.hooksDir, "hooks-dir", "examples/wasm-hooks/build", "where the hook overhead run finds the example hook modules, <language>.wasm (`make hooks` builds them)")
	fs.StringVar(&o.pocketbase, "pocketbase", "", "a PocketBase binary: measure its creates beside Strata's durable creates into a searched type, fresh and at -docs records (skipped when empty)")
	fs.BoolVar(&o.quick, "quick", false, "smoke run: 300ms per scenario, 2000 documents, 3000 articles and 2s of steady creates, unless -duration, -docs or -search-docs are given")
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
	o.lagDuration = 10 * time.Second
	if o.quick {
		if !set["search-docs"] {
			o.searchDocs = 3000
		}
		o.lagDuration = 2 * time.Second
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
	if o.duration <= 0 || o.concurrency < 1 || o.docs < 1 || o.searchDocs < 1 || o.procs < 1 {
		return o, errors.New("-duration, -concurrency, -docs, -search-docs and -procs must be positive")
	}
	abs, err := filepath.Abs(o.strata)
	if err != nil {
		return o, fmt.Errorf("strata binary %s: %w", o.strata, err)
	}
	o.strata = abs
	if _, err := os.Stat(o.strata); err != nil {
		return o, fmt.Errorf("strata binary: %w (build it with `go build -o bin/strata ./cmd/strata`, or pass -strata)", err)
	}
	if o.pocketbase != "" {
		if o.pocketbase, err = filepath.Abs(o.pocketbase); err == nil {
			_, err = os.Stat(o.pocketbase)
		}
		if err != nil {
			return o, fmt.Errorf("-pocketbase: %w", err)
		}
	}
	if o.skipHooks {
		return o, nil
	}
	if o.hooksDir, err = filepath.Abs(o.hooksDir); err != nil {
		return o, fmt.Errorf("-hooks-dir: %w", err)
	}
	for _, l := range hookLanguages {
		if _, err := os.Stat(l.file(o.hooksDir)); err != nil {
			return o, fmt.Errorf("hook module: %w (build them with `make hooks`, pass -hooks-dir, or -skip-hooks)", err)
		}
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
		vocab: newVocabulary(1.0),
	}
	rep := report{Machine: machineFacts(opts), Settings: settingsOf(opts)}
	if rep.Scenarios, err = b.compare(ctx); err != nil {
		return err
	}
	if opts.pocketbase != "" {
		pb, err := b.pocketbaseRun(ctx)
		if err != nil {
			return fmt.Errorf("pocketbase run: %w", err)
		}
		rep.PocketBase = &pb
	}
	if !opts.skipHooks {
		if rep.Hooks, err = b.hookRun(ctx); err != nil {
			return fmt.Errorf("hook overhead: %w", err)
		}
	}
	if !opts.skipHookedLoad {
		for _, s := range hookedSettings {
			h, err := b.hookedLoadRun(ctx, s.name, s.env)
			if err != nil {
				return fmt.Errorf("hooked load (%s): %w", s.name, err)
			}
			rep.HookedLoad = append(rep.HookedLoad, h)
		}
	}
	if !opts.skipAuth {
		if rep.Auth, err = b.authRun(ctx); err != nil {
			return fmt.Errorf("auth overhead: %w", err)
		}
	}
	if !opts.skipSearch {
		search, err := b.searchRun(ctx)
		if err != nil {
			return fmt.Errorf("search run: %w", err)
		}
		rep.Search = &search
	}
	if !opts.skipRealtime {
		rt, err := b.realtimeRun(ctx)
		if err != nil {
			return fmt.Errorf("realtime run: %w", err)
		}
		rep.Realtime = &rt
	}
	if !opts.skipOps {
		ops, err := b.opsRun(ctx)
		if err != nil {
			return fmt.Errorf("operations run: %w", err)
		}
		rep.Ops = &ops
	}
	if !opts.skipPostgres {
		pg, err := b.postgresRun(ctx)
		if err != nil {
			return fmt.Errorf("postgres run: %w", err)
		}
		rep.Postgres = &pg
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

	vocab        *vocabulary  // words of the search run's articles
	articleBytes atomic.Int64 // sum of the article bodies sent
	articles     atomic.Int64 // articles built so far
	writers      []string     // ids of the writers articles reference
	// middle is the Unix nanoseconds at which half of the search run's
	// bulk articles had been sent: the as_of of the time-travel query.
	middle atomic.Int64
}

func (b *bench) auth() string { return "Bearer " + b.key }

// childEnv is the environment of both servers: the bench's own, minus any
// STRATA_* settings, with the same GOMAXPROCS and an admin key (so the
// bench keeps working once the API requires authentication). Strata's
// rate limits and connection cap are off: the bench's clients are one
// address and one principal, far over a public server's limits.
func (b *bench) childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	return append(env, "GOMAXPROCS="+strconv.Itoa(b.opts.procs), "STRATA_ADMIN_KEY="+b.key,
		"STRATA_RATE_LIMIT_IP=-1", "STRATA_RATE_LIMIT_PRINCIPAL=-1", "STRATA_MAX_CONNS_PER_IP=0")
}

// startBaseline runs this executable as the baseline server.
func (b *bench) startBaseline(ctx context.Context) (*child, error) {
	cmd := exec.Command(b.self, baselineCommand, "-addr", "127.0.0.1:0")
	cmd.Env = b.childEnv()
	return startChild(ctx, "baseline", cmd)
}

// startStrata runs strata over a fresh data directory under b.dir, named
// name, and defines the bench's type. It returns the data directory.
// startStrata starts strata serve over a fresh data directory, with env
// added to its environment (STRATA_ settings), and defines the bench's
// type in it.
func (b *bench) startStrata(ctx context.Context, name string, env ...string) (*child, string, error) {
	home := filepath.Join(b.dir, name)
	data := filepath.Join(home, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, "", fmt.Errorf("strata data dir: %w", err)
	}
	cmd := exec.Command(b.opts.strata, "serve", "--addr", "127.0.0.1:0", "--data", data)
	cmd.Dir = home // away from any strata.yaml in the caller's directory
	cmd.Env = append(b.childEnv(), env...)
	c, err := startChild(ctx, "strata", cmd)
	if err != nil {
		return nil, "", err
	}
	if err := b.defineType(c.addr, typeName, ""); err != nil {
		_ = c.stop()
		return nil, "", err
	}
	return c, data, nil
}

// defineType defines a type named name with typeSchema and, unless module
// is empty, module bound to its validate stage.
func (b *bench) defineType(addr, name, module string) error {
	status, body, err := b.call(addr, fasthttp.MethodPost, "/api/types", typeDefinition(name, module))
	if err == nil && status != fasthttp.StatusCreated {
		err = fmt.Errorf("status %d: %s", status, body)
	}
	if err != nil {
		return fmt.Errorf("define type %s: %w", name, err)
	}
	return nil
}

// stopChild stops c and, if the run went well so far, reports an unclean
// exit through *err.
func stopChild(c *child, err *error) {
	if stopErr := c.stop(); stopErr != nil && *err == nil {
		*err = stopErr
	}
}

// call sends one setup request, with a JSON body unless body is nil, and
// returns the status and a copy of the response body.
func (b *bench) call(addr, method, path string, body []byte) (int, []byte, error) {
	return b.callAs(addr, method, path, "application/json", body)
}

// callAs is call with a body of the given content type.
func (b *bench) callAs(addr, method, path, contentType string, body []byte) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + addr + path)
	req.Header.Set(fasthttp.HeaderAuthorization, b.auth())
	if body != nil {
		req.Header.SetContentType(contentType)
		req.SetBody(body)
	}
	if err := b.setup.DoTimeout(req, resp, requestTimeout); err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
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
