package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/sink"
	"github.com/backfillhq/backfill/sink/segment"
)

// pushJob is the Pushgateway job that --metrics-push pushes to.
const pushJob = "backfill"

// pushTimeout caps the push of the final metrics.
const pushTimeout = 30 * time.Second

// metricsOptions say where an import's metrics go and how they are labelled.
type metricsOptions struct {
	// Addr is where /metrics is served while the import runs (--metrics-addr);
	// empty: nowhere.
	Addr string
	// Push is the Pushgateway the final metrics are pushed to
	// (--metrics-push); empty: none.
	Push string
	// Import names the import: its checkpoint's name. It groups the pushed
	// metrics and labels backfill_run_info.
	Import string
	// Shard names the part of the import this process runs, as K-of-N;
	// empty when the import is not split. It groups the pushed metrics,
	// so that shards do not overwrite each other, and labels
	// backfill_run_info.
	Shard string
}

// importMetrics are the Prometheus metrics of one import, in a registry of
// their own. The counts of rows come from the importer's progress, the
// counts the bar, the report and the checkpoint show, and at the end from
// the report itself; the transport's counts from the sink's Stats; the
// requests by status and the histograms from the sink's RequestObserver,
// once per request. Nothing is counted per row. Safe for concurrent use.
type importMetrics struct {
	opts  metricsOptions
	stats importer.SinkStats // nil: none yet, or a sink without transport
	now   func() time.Time

	mu    sync.Mutex
	p     importer.Progress // the latest, or the report's counts once final
	final bool

	reg, pushReg  *prometheus.Registry
	requests      *prometheus.CounterVec
	ok            prometheus.Counter // requests answered 200
	batchBytes    prometheus.Histogram
	batchMessages prometheus.Histogram
	duration      prometheus.Histogram

	rowsRead, rowsDelivered, rowsRejected, rowsFiltered *prometheus.Desc
	rejects                                             *prometheus.Desc
	retries, throttled, bytesSent, rate                 *prometheus.Desc
	checkpointAge                                       *prometheus.Desc
	info, pushInfo                                      *prometheus.Desc
}

var _ segment.RequestObserver = (*importMetrics)(nil)

// newImportMetrics returns the metrics of an import; the import sets
// stats once its sink is made.
func newImportMetrics(opts metricsOptions) *importMetrics {
	m := &importMetrics{opts: opts, now: time.Now}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	m.rowsRead = desc("backfill_rows_read_total", "Rows read from the sources, by this import's runs so far.")
	m.rowsDelivered = desc("backfill_rows_delivered_total", "Rows settled as delivered: acknowledged by the API (written, for --output and --dry-run).")
	m.rowsRejected = desc("backfill_rows_rejected_total", "Rows settled as rejected: written to the rejects file.")
	m.rowsFiltered = desc("backfill_rows_filtered_total", "Rows settled as filtered: by a drop rule of the mapping or the time window.")
	m.rejects = desc("backfill_rejects_total", "Rows rejected, by reason (see the README's reasons table).", "reason")
	m.retries = desc("backfill_retries_total", "Attempts of a batch after its first one, by this process.")
	m.throttled = desc("backfill_throttled_requests_total", "Requests answered 429 Too Many Requests, by this process.")
	m.bytesSent = desc("backfill_sent_bytes_total", "Request body bytes sent on the wire (after compression), by this process.")
	m.rate = desc("backfill_request_rate", "The request rate in force, in requests per second: the configured --rate, or less after 429s; 0 means no limit.")
	m.checkpointAge = desc("backfill_checkpoint_age_seconds", "Seconds since the checkpoint was last written; absent without a checkpoint.")
	infoHelp := "Always 1: the version of backfill, the import (its checkpoint's name) and the shard (K-of-N, empty when the import is not split)."
	m.info = desc("backfill_run_info", infoHelp, "version", "import", "shard")
	m.pushInfo = desc("backfill_run_info", infoHelp, "version")

	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backfill_requests_total",
		Help: `HTTP requests sent, retries included, by the status of the response; code="error" for a request that got none (a network error, a timeout).`,
	}, []string{"code"})
	m.ok = m.requests.WithLabelValues("200")
	m.batchBytes = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "backfill_batch_size_bytes",
		Help:    "Request body size of each request before compression, in bytes.",
		Buckets: []float64{1e3, 1e4, 5e4, 1e5, 2e5, 3e5, 4e5, 5e5},
	})
	m.batchMessages = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "backfill_batch_messages",
		Help:    "Messages in each request.",
		Buckets: []float64{1, 10, 50, 100, 250, 500, 1000, 2500},
	})
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "backfill_request_duration_seconds",
		Help:    "Time from sending a request to the head of its response, or to its failure, in seconds.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	// Scrapes show the import and the shard as labels of run_info; a
	// push carries them in its grouping key, which the Pushgateway adds
	// to every metric, and which no pushed label may repeat.
	m.reg = prometheus.NewRegistry()
	m.reg.MustRegister(m, m.requests, m.batchBytes, m.batchMessages, m.duration)
	m.pushReg = prometheus.NewRegistry()
	m.pushReg.MustRegister(pushView{m}, m.requests, m.batchBytes, m.batchMessages, m.duration)
	return m
}

// ObserveRequest counts a request by status and records its sizes and
// duration; the sink calls it once per request.
func (m *importMetrics) ObserveRequest(q segment.Request) {
	switch q.Status {
	case http.StatusOK:
		m.ok.Inc()
	case 0:
		m.requests.WithLabelValues("error").Inc()
	default:
		m.requests.WithLabelValues(strconv.Itoa(q.Status)).Inc()
	}
	m.batchBytes.Observe(float64(q.BatchBytes))
	m.batchMessages.Observe(float64(q.Messages))
	m.duration.Observe(q.Duration.Seconds())
}

// progress takes the counts of the importer's progress callback.
func (m *importMetrics) progress(p importer.Progress) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.final {
		m.p = p
	}
}

// finish takes the report's counts as the final values: those a scrape
// shows from now on and a push sends.
func (m *importMetrics) finish(rep importer.Report) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.final = true
	m.p.RowsRead, m.p.Delivered, m.p.Rejected, m.p.Filtered = rep.RowsRead, rep.Delivered, rep.Rejected, rep.Filtered
	m.p.RejectedByReason = rep.RejectedByReason
	m.p.Transport = rep.Transport
}

// Describe sends the descriptions of the metrics that Collect makes.
func (m *importMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.rowsRead, m.rowsDelivered, m.rowsRejected, m.rowsFiltered, m.rejects,
		m.retries, m.throttled, m.bytesSent, m.rate, m.checkpointAge, m.info} {
		ch <- d
	}
}

// Collect sends the metrics taken from the progress and the sink's Stats.
func (m *importMetrics) Collect(ch chan<- prometheus.Metric) { m.collect(ch, true) }

// collect sends the metrics taken from the progress and the sink's Stats;
// identity says whether backfill_run_info names the import and the shard.
func (m *importMetrics) collect(ch chan<- prometheus.Metric, identity bool) {
	m.mu.Lock()
	p, final := m.p, m.final
	m.mu.Unlock()
	t := p.Transport
	if !final && m.stats != nil {
		t = m.stats.Transport()
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(m.rowsRead, p.RowsRead)
	counter(m.rowsDelivered, p.Delivered)
	counter(m.rowsRejected, p.Rejected)
	counter(m.rowsFiltered, p.Filtered)
	for reason, n := range p.RejectedByReason {
		counter(m.rejects, n, reason)
	}
	counter(m.retries, t.Retries)
	counter(m.throttled, t.Throttled)
	counter(m.bytesSent, t.BytesSent)
	ch <- prometheus.MustNewConstMetric(m.rate, prometheus.GaugeValue, t.CurrentRate)
	if !p.CheckpointSaved.IsZero() {
		age := max(m.now().Sub(p.CheckpointSaved), 0)
		ch <- prometheus.MustNewConstMetric(m.checkpointAge, prometheus.GaugeValue, age.Seconds())
	}
	if identity {
		ch <- prometheus.MustNewConstMetric(m.info, prometheus.GaugeValue, 1, sink.Version, m.opts.Import, m.opts.Shard)
	} else {
		ch <- prometheus.MustNewConstMetric(m.pushInfo, prometheus.GaugeValue, 1, sink.Version)
	}
}

// pushView is the importer's metrics as pushed: backfill_run_info without
// the labels that the grouping key carries.
type pushView struct{ m *importMetrics }

// Describe sends nothing: the view is an unchecked collector.
func (pushView) Describe(chan<- *prometheus.Desc) {}

// Collect sends the metrics as they are pushed.
func (v pushView) Collect(ch chan<- prometheus.Metric) { v.m.collect(ch, false) }

// serve serves /metrics on the options' address until stop is called, and
// returns the URL of /metrics.
func (m *importMetrics) serve() (metricsURL string, stop func(), err error) {
	ln, err := net.Listen("tcp", m.opts.Addr)
	if err != nil {
		return "", nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns once Shutdown is called
	}()
	return "http://" + ln.Addr().String() + "/metrics", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	}, nil
}

// push sends the metrics to the Pushgateway at the options' Push URL,
// replacing those of the same job, import and shard. The URL's user and
// password, if any, are sent as Basic auth and appear in no error.
func (m *importMetrics) push(ctx context.Context) error {
	u, err := url.Parse(m.opts.Push)
	if err != nil {
		return fmt.Errorf("--metrics-push: %w", err)
	}
	user := u.User
	u.User = nil
	p := push.New(strings.TrimRight(u.String(), "/"), pushJob).Gatherer(m.pushReg).Grouping("import", m.opts.Import).
		Client(&http.Client{Timeout: pushTimeout})
	if user != nil {
		pass, _ := user.Password()
		p.BasicAuth(user.Username(), pass)
	}
	if m.opts.Shard != "" {
		p.Grouping("shard", m.opts.Shard)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	if err := p.PushContext(ctx); err != nil {
		return fmt.Errorf("--metrics-push: %w", err)
	}
	return nil
}

// importName is the name an import goes by in its metrics: the name of its
// checkpoint, without .json; an import that keeps none goes by the name
// its default checkpoint would have; every shard of an import, by the
// import's name, without .shard-K-of-N.
func importName(checkpoint string, sources []string, mapping, destination string) string {
	if checkpoint == "" {
		checkpoint = importer.DefaultCheckpointPath(sources, mapping, destination)
	}
	if base, _, ok := importer.ParseShardCheckpointPath(checkpoint); ok {
		checkpoint = base // the shards of one import are one import
	}
	return strings.TrimSuffix(path.Base(filepath.ToSlash(importer.WithoutQuery(checkpoint))), ".json")
}

// validatePushURL checks a --metrics-push URL: http or https, with a host,
// and no query or fragment.
func validatePushURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("want the http(s) URL of a Pushgateway, such as http://pushgateway:9091")
	}
	return nil
}
