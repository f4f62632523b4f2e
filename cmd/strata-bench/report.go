package main

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"time"
)

// report is everything one bench run measured.
type report struct {
	Machine   machine   `json:"machine"`
	Settings  settings  `json:"settings"`
	Scenarios []row     `json:"scenarios"`
	Hooks     []hookRow `json:"hooks,omitempty"` // nil with -skip-hooks
	Auth      []authRow `json:"auth,omitempty"`  // nil with -skip-auth
	// HookedLoad is nil with -skip-hooked-load.
	HookedLoad []hookedLoad  `json:"hooked_load,omitempty"`
	Search     *searchResult `json:"search,omitempty"` // nil with -skip-search
	// Realtime is nil with -skip-realtime.
	Realtime *realtimeResult `json:"realtime,omitempty"`
	Size     *sizeResult     `json:"size,omitempty"` // nil with -skip-size
	// Ops is nil with -skip-ops.
	Ops *opsResult `json:"ops,omitempty"`
	// Postgres is nil with -skip-postgres.
	Postgres *pgResult `json:"postgres,omitempty"`
	// PocketBase is nil without -pocketbase.
	PocketBase *pbResult `json:"pocketbase,omitempty"`
}

// machine describes where the bench ran.
type machine struct {
	CPU      string `json:"cpu"`
	CPUs     int    `json:"cpus"`
	OS       string `json:"os"`
	Go       string `json:"go"`        // of the bench and its load generator
	StrataGo string `json:"strata_go"` // of the strata binary
	// ServerProcs is the GOMAXPROCS of each server, LoadProcs the load
	// generator's.
	ServerProcs int `json:"server_gomaxprocs"`
	LoadProcs   int `json:"load_gomaxprocs"`
}

// settings are the parameters of the runs.
type settings struct {
	Strata      string        `json:"strata"`
	Duration    time.Duration `json:"duration_ns"`
	Warmup      time.Duration `json:"warmup_ns"`
	Concurrency int           `json:"concurrency"`
	DocBytes    int           `json:"doc_bytes"` // mean size of a written document
}

// row is one scenario's outcome.
type row struct {
	Name          string  `json:"name"`
	Clients       int     `json:"clients"`
	ResponseBytes int     `json:"response_bytes"` // of Strata's probe response, served by the baseline too
	Baseline      result  `json:"baseline"`
	Strata        result  `json:"strata"`
	Ratio         float64 `json:"ratio"`            // Strata req/s ÷ baseline req/s
	Target        float64 `json:"target,omitempty"` // least acceptable ratio; 0 for none
}

// verdict is PASS or MISS against the target, or a dash without one.
func (r row) verdict() string { return verdict(r.Ratio, r.Target) }

// hookRow is one language's outcome in the hook overhead run.
type hookRow struct {
	Language    string  `json:"language"`
	Module      string  `json:"module"` // the name it is registered under
	SHA256      string  `json:"sha256"`
	ModuleBytes int     `json:"module_bytes"`
	Clients     int     `json:"clients"`
	Plain       result  `json:"plain"` // creates into a type without hooks
	Hook        result  `json:"hook"`  // creates into a type with the module bound to validate
	Ratio       float64 `json:"ratio"` // hook req/s ÷ plain req/s
	Target      float64 `json:"target"`
}

// verdict is PASS or MISS against the target.
func (r hookRow) verdict() string { return verdict(r.Ratio, r.Target) }

// verdict is PASS or MISS for ratio against target, or a dash when target
// is 0.
func verdict(ratio, target float64) string {
	switch {
	case target == 0:
		return "—"
	case ratio >= target:
		return "PASS"
	}
	return "MISS"
}

// sizeResult is the outcome of the size run.
type sizeResult struct {
	Docs          int     `json:"docs"`
	Clients       int     `json:"clients"`
	Result        result  `json:"result"`
	DataBytes     int64   `json:"data_bytes"`     // sum of file sizes
	DataAllocated int64   `json:"data_allocated"` // disk blocks, as du counts
	Memory        *memory `json:"memory,omitempty"`
}

// verdict is PASS or MISS against rssTarget, or a question mark when the
// memory could not be read.
func (s sizeResult) verdict() string {
	switch {
	case s.Memory == nil:
		return "?"
	case s.Memory.RSS <= rssTarget:
		return "PASS"
	}
	return "MISS"
}

// memory is a process's memory use in bytes, from /proc/PID/status.
type memory struct {
	RSS  int64 `json:"vm_rss"`
	HWM  int64 `json:"vm_hwm"` // peak RSS
	Anon int64 `json:"rss_anon"`
	File int64 `json:"rss_file"` // file-backed pages, e.g. a memory-mapped database
}

func machineFacts(o options) machine {
	m := machine{
		CPU:         cpuModel(),
		CPUs:        runtime.NumCPU(),
		OS:          kernel(),
		Go:          runtime.Version(),
		StrataGo:    "unknown",
		ServerProcs: o.procs,
		LoadProcs:   runtime.GOMAXPROCS(0),
	}
	if info, err := buildinfo.ReadFile(o.strata); err == nil {
		m.StrataGo = info.GoVersion
	}
	return m
}

func settingsOf(o options) settings {
	rng := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	total := 0
	const samples = 1000
	for i := range samples {
		buf = appendDoc(buf[:0], rng, uint64(i))
		total += len(buf)
	}
	return settings{Strata: o.strata, Duration: o.duration, Warmup: o.warmup,
		Concurrency: o.concurrency, DocBytes: total / samples}
}

// checkErrors fails when more than maxErrorRate of the requests of any run
// failed.
func (r report) checkErrors() error {
	var bad []string
	note := func(what string, res result) {
		if res.errorRate() > maxErrorRate {
			bad = append(bad, fmt.Sprintf("%s: %d of %d requests failed", what, res.Errors, res.Sent))
		}
	}
	for _, s := range r.Scenarios {
		note(s.Name+" on the baseline", s.Baseline)
		note(s.Name+" on strata", s.Strata)
	}
	for _, h := range r.Hooks {
		note("plain creates paired with "+h.Language, h.Plain)
		note("creates with the "+h.Language+" hook", h.Hook)
	}
	for _, h := range r.HookedLoad {
		note("unhooked creates, solo ("+h.Settings+")", h.Solo)
		note("unhooked creates beside the hooked load ("+h.Settings+")", h.Loaded)
		note("hooked creates ("+h.Settings+")", h.Hooked)
		note("hooked batches ("+h.Settings+")", h.Batches)
	}
	if o := r.Ops; o != nil && o.Metrics != nil {
		note("reads with metrics off", o.Metrics.Off)
		note("reads with metrics on", o.Metrics.On)
	}
	for _, a := range r.Auth {
		note(a.Name+" without a token", a.Open)
		note(a.Name+" with an API key", a.Guarded)
	}
	if z := r.Search; z != nil {
		note("search run creates", z.Create)
		if z.Lag.Errors > 0 && float64(z.Lag.Errors)/float64(z.Lag.Creates+z.Lag.Polls+z.Lag.Errors) > maxErrorRate {
			bad = append(bad, fmt.Sprintf("search lag run: %d requests failed", z.Lag.Errors))
		}
		for _, q := range z.Queries {
			note("search query "+q.Name+" on the baseline", q.Baseline)
			note("search query "+q.Name+" on strata", q.Strata)
		}
	}
	if r.Realtime != nil {
		bad = append(bad, r.Realtime.errors()...)
	}
	if r.Size != nil {
		note("size run", r.Size.Result)
	}
	if r.PocketBase != nil {
		bad = append(bad, r.PocketBase.errors()...)
	}
	if r.Postgres != nil {
		bad = append(bad, r.Postgres.errors()...)
	}
	if len(bad) > 0 {
		return errors.New("too many errors (over 0.1%): " + strings.Join(bad, "; "))
	}
	return nil
}

// writeMarkdown writes the report as Markdown, ready to paste into a note.
func writeMarkdown(w io.Writer, r report) error {
	var b strings.Builder
	m, s := r.Machine, r.Settings
	fmt.Fprintf(&b, "## Strata benchmark\n\n")
	fmt.Fprintf(&b, "- **Machine:** %s, %d logical CPUs, %s\n", m.CPU, m.CPUs, m.OS)
	fmt.Fprintf(&b, "- **GOMAXPROCS:** %d for each server (Strata and the Fiber baseline), %d for the load generator; all on this machine\n", m.ServerProcs, m.LoadProcs)
	fmt.Fprintf(&b, "- **Go:** %s (strata binary), %s (bench)\n", m.StrataGo, m.Go)
	fmt.Fprintf(&b, "- **Load:** fasthttp, %d clients with one keep-alive connection each; %v per run after a %v warm-up; baseline first, then Strata\n",
		s.Concurrency, s.Duration, s.Warmup)
	fmt.Fprintf(&b, "- **Documents:** JSON of %d bytes on average (6-word title, 14-word summary, %d-word body, 3 tags, numbers, a date); writes are durable before the 2xx\n\n",
		s.DocBytes, bodyWords)

	if len(r.Scenarios) > 0 { // none with a -run that matches no scenario
		writeScenarios(&b, r.Scenarios)
	}

	if r.PocketBase != nil {
		writePocketBase(&b, *r.PocketBase)
	}
	if len(r.Hooks) > 0 {
		writeHooks(&b, r.Hooks)
	}
	if len(r.HookedLoad) > 0 {
		writeHookedLoad(&b, r.HookedLoad)
	}
	if len(r.Auth) > 0 {
		writeAuth(&b, r.Auth)
	}

	if r.Search != nil {
		writeSearch(&b, *r.Search)
	}

	if r.Realtime != nil {
		writeRealtime(&b, *r.Realtime)
	}

	if r.Ops != nil {
		writeOps(&b, *r.Ops)
	}

	if r.Postgres != nil {
		writePostgres(&b, *r.Postgres)
	}

	if z := r.Size; z != nil {
		fmt.Fprintf(&b, "\n### Size run\n\n")
		rss, hwm := "?", "?"
		if z.Memory != nil {
			rss, hwm = fmtBytes(z.Memory.RSS), fmtBytes(z.Memory.HWM)
		}
		writeTable(&b, "rrrrrrrrrrrlr", [][]string{
			{"Documents", "Clients", "Creates/s", "p50", "p99", "Server CPU/req", "Errors", "Data (files)", "Data (on disk)", "VmRSS", "VmHWM", "Target", "Result"},
			{fmtCount(float64(z.Docs)), fmt.Sprint(z.Clients), fmtCount(z.Result.RPS), fmtLatency(z.Result.P50), fmtLatency(z.Result.P99),
				fmtLatency(z.Result.ServerCPU),
				fmt.Sprint(z.Result.Errors), fmtBytes(z.DataBytes), fmtBytes(z.DataAllocated), rss, hwm, "VmRSS ≤ " + fmtBytes(rssTarget), z.verdict()},
		})
		fmt.Fprintf(&b, "\nA fresh Strata; memory read from /proc/PID/status right after the creates")
		if z.Memory != nil {
			fmt.Fprintf(&b, " (anonymous %s, file-backed %s)", fmtBytes(z.Memory.Anon), fmtBytes(z.Memory.File))
		}
		fmt.Fprintf(&b, "; %s of data per document.\n", fmtBytes(z.DataBytes/int64(max(z.Docs, 1))))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeSearch writes the search section: indexing, lag and size, then the
// query rows against the baseline.
func writeSearch(b *strings.Builder, z searchResult) {
	fmt.Fprintf(b, "\n### Search: indexing, lag, queries and size\n\n")
	c, l := z.Create, z.Lag
	lost := ""
	if l.Lost > 0 {
		lost = fmt.Sprintf(", %d not listed within %v (counted as %v)", l.Lost, lagGiveUp, lagGiveUp)
	}
	writeTable(b, "lrllrl", [][]string{
		{"Search measure", "Value", "Target", "Result", "Errors", "Details"},
		{"indexing throughput", fmtCount(z.IndexRate) + " docs/s", "≥ " + fmtCount(indexRateTarget) + " docs/s", z.indexVerdict(), fmt.Sprint(c.Errors),
			fmt.Sprintf("%s articles created by %d clients at %s creates/s (p50 %s, p99 %s, server CPU %s/create), all counted by a strong count %s after the first create and %s after the last",
				fmtCount(float64(z.Docs)), z.Clients, fmtCount(c.RPS), fmtLatency(c.P50), fmtLatency(c.P99), fmtLatency(c.ServerCPU),
				fmtSeconds(z.IndexElapsed), fmtSeconds(z.CatchUp))},
		{"index lag p50", fmtLatency(l.P50), "—", "—", fmt.Sprint(l.Errors),
			fmt.Sprintf("%d samples; max %s", l.Samples, fmtLatency(l.Max))},
		{"index lag p99", fmtLatency(l.P99), "< " + lagTarget.String(), z.lagVerdict(), fmt.Sprint(l.Errors),
			fmt.Sprintf("%s creates/s offered for %v by %d workers, %s made (%s/s, p50 %s, p99 %s); every %dth followed from its 201 until a consistency=eventual list by id returned it, one poller every %v (%s polls)%s",
				fmtCount(float64(l.Rate)), l.Duration, lagClients, fmtCount(float64(l.Creates)), fmtCount(l.Achieved),
				fmtLatency(l.CreateP50), fmtLatency(l.CreateP99), lagSampleEvery, lagPollEvery, fmtCount(float64(l.Polls)), lost)},
		{"index size", fmtBytes(z.IndexBytes), fmt.Sprintf("≤ %.0f× raw", indexSizeTarget), z.sizeVerdict(), "—",
			fmt.Sprintf("%.2f× the raw JSON (%s sent), %.2f× the bolt file (%s); %s on disk",
				float64(z.IndexBytes)/float64(max(z.RawBytes, 1)), fmtBytes(z.RawBytes),
				float64(z.IndexBytes)/float64(max(z.BoltBytes, 1)), fmtBytes(z.BoltBytes), fmtBytes(z.IndexAllocated))},
	})
	fmt.Fprintf(b, "\nA fresh Strata with an %q type whose title and body are search fields. Indexing throughput = articles ÷ time from the first create "+
		"until GET /api/%s/count?filter=views>=0 (strong consistency) counted them all; it cannot exceed the create rate. "+
		"Index size: <data>/index once the queries below ran, against the sum of the JSON bodies created (bulk and lag runs) and <data>/strata.db.\n\n",
		searchType, searchType)

	rows := [][]string{{"Search query", "Clients", "Response", "Baseline req/s", "Strata req/s", "Ratio", "Target", "Result",
		"Strata p50", "Strata p99", "Baseline p50", "Baseline p99", "Server CPU/req B/S", "Errors B/S"}}
	targets, verdicts := searchVerdicts(z.Queries, (&bench{}).searchScenarios())
	for _, x := range z.Queries {
		rows = append(rows, []string{x.Name, fmt.Sprint(x.Clients), fmtBytes(int64(x.ResponseBytes)),
			fmtCount(x.Baseline.RPS), fmtCount(x.Strata.RPS), fmt.Sprintf("%.3f×", x.Ratio),
			targets[x.Name], verdicts[x.Name],
			fmtLatency(x.Strata.P50), fmtLatency(x.Strata.P99), fmtLatency(x.Baseline.P50), fmtLatency(x.Baseline.P99),
			fmtLatency(x.Baseline.ServerCPU) + " / " + fmtLatency(x.Strata.ServerCPU),
			fmt.Sprintf("%d/%d", x.Baseline.Errors, x.Strata.Errors)})
	}
	writeTable(b, "lrrrrrllrrrrrr", rows)
	fmt.Fprintf(b, "\nThe queries ran on the index at rest, in %d segment files (Strata compacts an index a few seconds after its last write; "+
		"the bench waited %s for it). ", z.Segments, fmtSeconds(z.CompactWait))
	fmt.Fprintf(b, "Pages of %d from the %s articles (plus the lag run's), strong consistency (no writes run meanwhile, so the wait "+
		"for the index only checks that it is current). Per request: a random tag of %d; a random views window of 1%% sorted by -views; "+
		"two random words of vocabulary ranks %d–%d (each in roughly 1–10%% of the articles); the same with a random "+
		"published lower bound. The baseline answers with a body of the size of Strata's first response.\n",
		pageSize, fmtCount(float64(z.Docs)), len(tags), queryRankLow, queryRankHigh)
	fmt.Fprintf(b, "\nThe read side's rows: a plain page; q and body ~ for %q, planted in about 1 in %d bodies, and body ~ for %q, planted in %d; "+
		"sort by the long body; facets on category (%d values) and on the tags array, and expand of the writer reference (one of %d %s), each "+
		"judged against the same list without them; a list as_of the instant half of the bulk articles had been sent. "+
		"PocketBase v0.39 on this machine, for comparison (measured when these targets were set): ~3,700 req/s for a plain page, "+
		"~400 for q or ~ on a word in 1%% of 100k records, ~12 for ~ on a word in 10 of them.\n",
		commonWord, commonWordEvery, rareWord, rareWordArticles, len(categories), writerCount, writerType)
}

// fmtSeconds formats d in seconds.
func fmtSeconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// writeHooks writes the hook overhead section.
func writeHooks(b *strings.Builder, hooks []hookRow) {
	fmt.Fprintf(b, "\n### Hook overhead: durable creates with a validate hook\n\n")
	rows := [][]string{{"Language", "Module size", "Clients", "Hook req/s", "Plain req/s", "Ratio", "Target", "Result",
		"Hook p50", "Hook p99", "Plain p50", "Plain p99", "Server CPU/req P/H", "Extra CPU/req", "Errors P/H"}}
	for _, h := range hooks {
		rows = append(rows, []string{h.Language, fmtBytes(int64(h.ModuleBytes)), fmt.Sprint(h.Clients),
			fmtCount(h.Hook.RPS), fmtCount(h.Plain.RPS), fmt.Sprintf("%.3f×", h.Ratio), fmt.Sprintf("≥ %.2f×", h.Target), h.verdict(),
			fmtLatency(h.Hook.P50), fmtLatency(h.Hook.P99), fmtLatency(h.Plain.P50), fmtLatency(h.Plain.P99),
			fmtLatency(h.Plain.ServerCPU) + " / " + fmtLatency(h.Hook.ServerCPU), fmtCPUDelta(h.Hook.ServerCPU - h.Plain.ServerCPU),
			fmt.Sprintf("%d/%d", h.Plain.Errors, h.Hook.Errors)})
	}
	writeTable(b, "lrrrrrllrrrrrrr", rows)
	fmt.Fprintf(b, "\nOne Strata process: each language's example hook (examples/wasm-hooks) is registered and bound to the validate stage "+
		"(timeout_ms %d) of its own type, with the same schema and documents as the plain creates; a create in each type recorded "+
		"the module in revision.hooks. Each hook run is paired with a plain run (a type without hooks) right next to it, "+
		"alternating which goes first. Ratio = hook req/s ÷ plain req/s; P/H = plain / hook; "+
		"Extra CPU/req = the server's CPU time per request with the hook minus without.\n", hookTimeoutMS)
}

// fmtCPUDelta formats a difference of CPU times with its sign.
func fmtCPUDelta(d time.Duration) string {
	if d < 0 {
		return "−" + fmtLatency(-d)
	}
	return "+" + fmtLatency(d)
}

// writeTable writes a Markdown table; rows[0] is the header and align has
// an 'l' or 'r' per column.
func writeTable(b *strings.Builder, align string, rows [][]string) {
	line := func(cells []string) {
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	line(rows[0])
	seps := make([]string, len(rows[0]))
	for i := range seps {
		seps[i] = "---"
		if i < len(align) && align[i] == 'r' {
			seps[i] = "--:"
		}
	}
	line(seps)
	for _, r := range rows[1:] {
		line(r)
	}
}

// fmtCount formats n rounded, with thousands separators: 12,345.
func fmtCount(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// fmtLatency formats d in µs below a millisecond, in ms above.
func fmtLatency(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// fmtBytes formats n in B, KiB or MiB.
func fmtBytes(n int64) string {
	switch {
	case n < 10<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// writeScenarios writes the comparison against the baseline.
func writeScenarios(b *strings.Builder, scenarios []row) {
	fmt.Fprintf(b, "### Strata against a bare Fiber handler\n\n")
	rows := [][]string{{"Scenario", "Clients", "Response", "Baseline req/s", "Strata req/s", "Ratio", "Target", "Result",
		"Strata p50", "Strata p99", "Baseline p50", "Baseline p99", "Server CPU/req B/S", "Errors B/S"}}
	for _, x := range scenarios {
		target := "—"
		if x.Target > 0 {
			target = fmt.Sprintf("≥ %.2f×", x.Target)
		}
		rows = append(rows, []string{x.Name, fmt.Sprint(x.Clients), fmtBytes(int64(x.ResponseBytes)),
			fmtCount(x.Baseline.RPS), fmtCount(x.Strata.RPS), fmt.Sprintf("%.3f×", x.Ratio), target, x.verdict(),
			fmtLatency(x.Strata.P50), fmtLatency(x.Strata.P99), fmtLatency(x.Baseline.P50), fmtLatency(x.Baseline.P99),
			fmtLatency(x.Baseline.ServerCPU) + " / " + fmtLatency(x.Strata.ServerCPU),
			fmt.Sprintf("%d/%d", x.Baseline.Errors, x.Strata.Errors)})
	}
	writeTable(b, "lrrrrrllrrrrrr", rows)
	fmt.Fprintf(b, "\nRatio = Strata req/s ÷ baseline req/s; the baseline answers every request with a fixed JSON body of the size of Strata's response. "+
		"Server CPU/req: the server process's user+system CPU time per request (baseline / Strata), "+
		"which does not depend on how much CPU the load generator takes from the servers. "+
		"Errors: non-2xx responses and transport errors, warm-up included (baseline/Strata).\n")
}
