package server

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/strata-dev/strata/core"
)

// Metrics is Strata's Prometheus registry (SPEC §9): the HTTP request
// counters the Server keeps, the hook calls core reports (it is a
// core.Observer), the change log, index and consumer positions read at
// scrape time, storage and Go runtime metrics. Build it with NewMetrics,
// give it to core.Options.Metrics and Options.Metrics, then Watch the
// Manager. It is safe for concurrent use.
type Metrics struct {
	// series caches the request counter and histogram of each route,
	// status and matched state (a routeKey), so a request costs a map
	// load, not the hashing of its label values.
	series       sync.Map
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	hookCalls    *prometheus.CounterVec
	hookDuration *prometheus.HistogramVec
}

// NewMetrics returns a registry holding the request and hook metrics and
// the Go runtime and process collectors.
func NewMetrics() *Metrics {
	mx := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		hookCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_hook_calls_total",
			Help: "Hook module calls, by module, stage and outcome (ok, rejected, timeout, error).",
		}, []string{"hook", "stage", "outcome"}),
		hookDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_hook_duration_seconds",
			Help:    "Time of a hook module call, by module and stage.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"hook", "stage"}),
	}
	mx.reg.MustRegister(mx.requests, mx.duration, mx.hookCalls, mx.hookDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return mx
}

// Registry is the registry, for an embedding program to add its own
// metrics to.
func (mx *Metrics) Registry() *prometheus.Registry { return mx.reg }

// HookCall counts one hook call (core.Observer).
func (mx *Metrics) HookCall(module, stage, outcome string, d time.Duration) {
	mx.hookCalls.WithLabelValues(module, stage, outcome).Inc()
	mx.hookDuration.WithLabelValues(module, stage).Observe(d.Seconds())
}

// Watched is what the metrics read at scrape time besides the Manager.
type Watched struct {
	// IndexLag returns, by indexed type, how many change-log entries the
	// search index has still to apply. Nil: no index.
	IndexLag func() map[string]uint64
	// StorageSize returns the size of the store on disk, false when it is
	// not known (a store of another kind). Nil: not reported.
	StorageSize func() (int64, bool)
}

// Watch registers the gauges read from m at scrape time: the change-log
// position, every consumer's lag, the index lag and the storage size.
func (mx *Metrics) Watch(m *core.Manager, w Watched) {
	mx.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "strata_changelog_seq",
		Help: "Sequence number of the newest committed change.",
	}, func() float64 { return float64(m.LastSeq()) }))
	mx.reg.MustRegister(&managerCollector{m: m, w: w})
}

var (
	consumerLagDesc = prometheus.NewDesc("strata_consumer_lag_changes",
		"Change-log entries committed past a consumer's position, by consumer (search-index, after-hooks, webhooks…).",
		[]string{"consumer"}, nil)
	consumerFailingDesc = prometheus.NewDesc("strata_consumer_failing",
		"1 while a consumer is retrying a failure, else 0.", []string{"consumer"}, nil)
	indexLagDesc = prometheus.NewDesc("strata_index_lag_changes",
		"Change-log entries the search index has still to apply, by indexed type.", []string{"type"}, nil)
	storageSizeDesc = prometheus.NewDesc("strata_storage_size_bytes",
		"Size of the store's file on disk.", nil, nil)
)

// managerCollector reads the Manager's consumers, the index and the
// storage at each scrape.
type managerCollector struct {
	m *core.Manager
	w Watched
}

func (c *managerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- consumerLagDesc
	ch <- consumerFailingDesc
	ch <- indexLagDesc
	ch <- storageSizeDesc
}

func (c *managerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.m.Consumers() {
		ch <- prometheus.MustNewConstMetric(consumerLagDesc, prometheus.GaugeValue, float64(st.Lag), st.Name)
		failing := 0.0
		if st.Err != nil {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(consumerFailingDesc, prometheus.GaugeValue, failing, st.Name)
	}
	if c.w.IndexLag != nil {
		for typ, lag := range c.w.IndexLag() {
			ch <- prometheus.MustNewConstMetric(indexLagDesc, prometheus.GaugeValue, float64(lag), typ)
		}
	}
	if c.w.StorageSize != nil {
		if n, ok := c.w.StorageSize(); ok {
			ch <- prometheus.MustNewConstMetric(storageSizeDesc, prometheus.GaugeValue, float64(n))
		}
	}
}

// routeKey names the series of a request: its route (a route is one
// method and path), its status, and whether no route took it.
type routeKey struct {
	route     *fiber.Route
	status    int
	unmatched bool
}

type routeSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// metricsPath is where the registry is served.
const metricsPath = "/metrics"

// mountMetrics counts every request under r by its route template and
// serves /metrics. Without Options.Metrics it does nothing.
func (s *Server) mountMetrics(r fiber.Router) {
	mx := s.opts.Metrics
	if mx == nil {
		return
	}
	r.Use(func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		status := c.Response().StatusCode()
		if err != nil {
			// An error no wrapped handler rendered: the app's handler
			// will; count the status it is likely to get.
			status = fiber.StatusInternalServerError
			if fe, ok := err.(*fiber.Error); ok {
				status = fe.Code
			}
		}
		// The route template, never the raw path: /api/:type/:id is one
		// series however many ids are asked for. A request no route took
		// is counted under "unmatched".
		rt := c.Route()
		key := routeKey{route: rt, status: status, unmatched: rt.Path == "/" && c.Path() != "/" || rt.Path == ""}
		if len(rt.Handlers) == 0 {
			// Fiber's stand-in for no route: its path is the raw one.
			key = routeKey{status: status, unmatched: true}
		}
		v, ok := mx.series.Load(key)
		if !ok {
			path := rt.Path
			if key.unmatched {
				path = "unmatched"
			}
			method := strings.Clone(c.Method())
			v, _ = mx.series.LoadOrStore(key, routeSeries{
				requests: mx.requests.WithLabelValues(path, method, strconv.Itoa(status)),
				duration: mx.duration.WithLabelValues(path, method),
			})
		}
		rs := v.(routeSeries)
		rs.requests.Inc()
		rs.duration.Observe(time.Since(start).Seconds())
		return err
	})
	r.Get(metricsPath, s.wrap(s.metrics))
}

// metrics serves the registry in the Prometheus text format, to
// administrators and the holder of the metrics token.
func (s *Server) metrics(c *fiber.Ctx) error {
	if err := core.RequireMetricsReader(c.UserContext()); err != nil {
		return err
	}
	families, err := s.opts.Metrics.reg.Gather()
	if err != nil && len(families) == 0 {
		return err
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	c.Set(fiber.HeaderContentType, string(format))
	enc := expfmt.NewEncoder(c.Response().BodyWriter(), format)
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}
