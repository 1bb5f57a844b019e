package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/sink"
)

// series flattens metric families into one value a series, keyed by the
// name and the sorted labels: name{a="x",b="y"}. A histogram gives its
// _count and _sum; a counter or a gauge its value.
func series(fams []*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := func(suffix string) string {
				k := f.GetName() + suffix
				if len(labels) > 0 {
					k += "{" + strings.Join(labels, ",") + "}"
				}
				return k
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key("")] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key("")] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key("_count")] = float64(m.GetHistogram().GetSampleCount())
				out[key("_sum")] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// decodeFamilies reads metric families in the format of header.
func decodeFamilies(t *testing.T, r io.Reader, header http.Header) []*dto.MetricFamily {
	t.Helper()
	dec := expfmt.NewDecoder(r, expfmt.ResponseFormat(header))
	var fams []*dto.MetricFamily
	for {
		var f dto.MetricFamily
		err := dec.Decode(&f)
		if err == io.EOF {
			return fams
		}
		if err != nil {
			t.Fatalf("decode metrics: %v", err)
		}
		fams = append(fams, &f)
	}
}

// scrape reads /metrics at u.
func scrape(t *testing.T, u string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	return series(decodeFamilies(t, resp.Body, resp.Header))
}

// scrapeUntil scrapes u until ok holds of what it shows, and returns
// that: metrics follow the import's progress, taken once a second.
func scrapeUntil(t *testing.T, u string, what string, ok func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s := scrape(t, u)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %s: %v", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// isCounter reports whether a series only rises: a _total, or a
// histogram's count or sum.
func isCounter(key string) bool {
	name, _, _ := strings.Cut(key, "{")
	return strings.HasSuffix(name, "_total") || strings.HasSuffix(name, "_count") || strings.HasSuffix(name, "_sum")
}

// sumOf adds up the series of the metric name, over all labels.
func sumOf(s map[string]float64, name string) float64 {
	var n float64
	for k, v := range s {
		if k == name || strings.HasPrefix(k, name+"{") {
			n += v
		}
	}
	return n
}

// wantReportValues checks that the series s hold exactly the report's
// counts.
func wantReportValues(t *testing.T, what string, s map[string]float64, rep importer.Report) {
	t.Helper()
	want := map[string]float64{
		"backfill_rows_read_total":          float64(rep.RowsRead),
		"backfill_rows_delivered_total":     float64(rep.Delivered),
		"backfill_rows_rejected_total":      float64(rep.Rejected),
		"backfill_rows_filtered_total":      float64(rep.Filtered),
		"backfill_retries_total":            float64(rep.Retries),
		"backfill_throttled_requests_total": float64(rep.Throttled),
		"backfill_sent_bytes_total":         float64(rep.BytesSent),
		"backfill_request_rate":             rep.CurrentRate,
	}
	for reason, n := range rep.RejectedByReason {
		want[fmt.Sprintf("backfill_rejects_total{reason=%q}", reason)] = float64(n)
	}
	for k, v := range want {
		if got, ok := s[k]; !ok || got != v {
			t.Errorf("%s: %s = %v (present %t), want %v as in the report", what, k, got, ok, v)
		}
	}
	if got := sumOf(s, "backfill_rejects_total"); got != float64(rep.Rejected) {
		t.Errorf("%s: the rejects by reason add up to %v, want %d", what, got, rep.Rejected)
	}
	for _, name := range []string{"backfill_requests_total", "backfill_batch_messages_count", "backfill_batch_size_bytes_count", "backfill_request_duration_seconds_count"} {
		if got := sumOf(s, name); got != float64(rep.Requests) {
			t.Errorf("%s: %s = %v, want the report's %d requests", what, name, got, rep.Requests)
		}
	}
}

// gate is a proxy before "backfill serve" that holds the requests whose
// numbers (from 1) are in hold until the test releases each, so that the
// test sees the import stopped at a known place.
type gate struct {
	proxy   *httputil.ReverseProxy
	hold    map[int]bool
	mu      sync.Mutex
	n       int
	arrived chan int
	release chan struct{}
}

func newGate(t *testing.T, target string, hold ...int) (*gate, *httptest.Server) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{proxy: httputil.NewSingleHostReverseProxy(u), hold: map[int]bool{}, arrived: make(chan int), release: make(chan struct{})}
	for _, n := range hold {
		g.hold[n] = true
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.n++
	n := g.n
	g.mu.Unlock()
	if g.hold[n] {
		g.arrived <- n
		<-g.release
	}
	g.proxy.ServeHTTP(w, r)
}

// pushgateway stands in for a Prometheus Pushgateway: it records each push
// and answers 200, after the test releases it when hold.
type pushgateway struct {
	hold    bool
	arrived chan struct{}
	release chan struct{}

	mu     sync.Mutex
	method string
	path   string
	auth   string
	fams   []*dto.MetricFamily
	pushes int
}

func newPushgateway(t *testing.T, hold bool) (*pushgateway, *httptest.Server) {
	t.Helper()
	p := &pushgateway{hold: hold, arrived: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fams := decodeFamilies(t, r.Body, http.Header{"Content-Type": r.Header.Values("Content-Type")})
		p.mu.Lock()
		p.method, p.path, p.auth, p.fams = r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), fams
		p.pushes++
		p.mu.Unlock()
		if p.hold {
			p.arrived <- struct{}{}
			<-p.release
		}
	}))
	t.Cleanup(srv.Close)
	return p, srv
}

// grouping returns the grouping key of a push path /metrics/job/J/L/V....
func grouping(t *testing.T, path string) map[string]string {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(path, "/metrics/"), "/")
	if len(parts)%2 != 0 {
		t.Fatalf("push path %q: want /metrics/job/NAME/LABEL/VALUE...", path)
	}
	g := map[string]string{}
	for i := 0; i < len(parts); i += 2 {
		v, err := url.PathUnescape(parts[i+1])
		if err != nil {
			t.Fatal(err)
		}
		g[parts[i]] = v
	}
	return g
}

// metricsInput writes good rows, then bad ones, one NDJSON file.
func metricsInput(t *testing.T, dir string, good, bad int) string {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= good; i++ {
		fmt.Fprintf(&b, `{"type":"track","messageId":"m-%d","userId":"u-%d","event":"E","timestamp":"2024-03-01T12:00:00Z"}`+"\n", i, i)
	}
	for range bad {
		b.WriteString(`{"type":"track"` + "\n")
	}
	p := filepath.Join(dir, "events.ndjson")
	writeFile(t, p, []byte(b.String()))
	return p
}

// metricsURLPattern finds the URL of /metrics in the import's log.
var metricsURLPattern = regexp.MustCompile(`serving metrics at (http://\S+/metrics)`)

// TestMetricsScrapedDuringImport scrapes --metrics-addr of an import into
// serve while a proxy holds its 4th and 8th requests (one batch in flight
// at a time, so exactly 3 and 7 batches are acknowledged), then while the
// push of the final values is held: counters only rise from one scrape to
// the next and stay at or below the report's values, and the last scrape
// equals the report.
func TestMetricsScrapedDuringImport(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	serveURL, _, _ := serveProcess(t, bin, dir)
	g, proxy := newGate(t, serveURL, 4, 8)
	pg, pushSrv := newPushgateway(t, true)
	src := metricsInput(t, dir, 1000, 3)
	report := filepath.Join(dir, "report.json")
	ckpt := filepath.Join(dir, "ckpt", "events.json")

	cmd := exec.Command(bin, "import", "--endpoint", proxy.URL, "--concurrency", "1", "--max-batch-messages", "100",
		"--checkpoint", ckpt, "--checkpoint-interval", "0", "--progress", "never", "--report", report,
		"--metrics-addr", "127.0.0.1:0", "--metrics-push", pushSrv.URL, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SEGMENT_WRITE_KEY=crash-key")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	found := make(chan string, 1)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := metricsURLPattern.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var metricsURL string
	select {
	case metricsURL = <-found:
	case n := <-g.arrived:
		t.Fatalf("request %d arrived before the metrics URL was logged", n)
	}

	var scrapes []map[string]float64
	for _, want := range []struct{ request, delivered int }{{4, 300}, {8, 700}} {
		if n := <-g.arrived; n != want.request {
			t.Fatalf("request %d held, want %d", n, want.request)
		}
		s := scrapeUntil(t, metricsURL, fmt.Sprintf("%d rows delivered", want.delivered), func(s map[string]float64) bool {
			return s["backfill_rows_delivered_total"] == float64(want.delivered)
		})
		if got := s["backfill_requests_total{code=\"200\"}"]; got != float64(want.request-1) {
			t.Errorf("with request %d held: %v requests answered 200, want %d", want.request, got, want.request-1)
		}
		if _, ok := s["backfill_checkpoint_age_seconds"]; !ok {
			t.Errorf("no backfill_checkpoint_age_seconds while the import keeps a checkpoint")
		}
		scrapes = append(scrapes, s)
		g.release <- struct{}{}
	}
	// The push of the final values waits: the metrics still show.
	<-pg.arrived
	scrapes = append(scrapes, scrape(t, metricsURL))
	pg.release <- struct{}{}
	<-logDone
	code := exitCodeOf(t, cmd.Wait(), log.String())
	if code != exitRejects {
		t.Fatalf("exit %d, want %d: %s", code, exitRejects, log.String())
	}
	rep := readReport(t, report)
	if rep.RowsRead != 1003 || rep.Delivered != 1000 || rep.Rejected != 3 || rep.Requests != 10 {
		t.Fatalf("report: %d read, %d delivered, %d rejected, %d requests; want 1003, 1000, 3, 10", rep.RowsRead, rep.Delivered, rep.Rejected, rep.Requests)
	}

	final := scrapes[len(scrapes)-1]
	wantReportValues(t, "the last scrape", final, rep)
	for i := 1; i < len(scrapes); i++ {
		for k, v := range scrapes[i-1] {
			if isCounter(k) && scrapes[i][k] < v {
				t.Errorf("%s fell from %v (scrape %d) to %v (scrape %d)", k, v, i, scrapes[i][k], i+1)
			}
		}
	}
	for i, s := range scrapes {
		for k, v := range s {
			if isCounter(k) && v > final[k] {
				t.Errorf("scrape %d: %s = %v, above the final %v", i+1, k, v, final[k])
			}
		}
	}
	info := fmt.Sprintf("backfill_run_info{import=%q,shard=\"\",version=%q}", "events", sink.Version)
	if final[info] != 1 {
		t.Errorf("no %s in %v", info, slices.Sorted(maps.Keys(final)))
	}
}

// TestMetricsPushedWhenTheImportEnds checks that --metrics-push puts the
// final values to the Pushgateway, grouped by job and import, and that they
// equal the report's; and that a Pushgateway that cannot be reached makes a
// warning, not a failed import.
func TestMetricsPushedWhenTheImportEnds(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	serveURL, _, _ := serveProcess(t, bin, dir)
	pg, pushSrv := newPushgateway(t, false)
	src := metricsInput(t, dir, 450, 2)
	report := filepath.Join(dir, "report.json")
	ckpt := filepath.Join(dir, "events.json")
	pushURL := strings.Replace(pushSrv.URL, "http://", "http://ops:s3cret@", 1)
	code, stderr := runProcess(t, bin, []string{"import", "--endpoint", serveURL, "--max-batch-messages", "100",
		"--checkpoint", ckpt, "--progress", "never", "--report", report, "--metrics-push", pushURL, src}, dir)
	if code != exitRejects {
		t.Fatalf("exit %d, want %d: %s", code, exitRejects, stderr)
	}
	rep := readReport(t, report)
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.pushes != 1 || pg.method != http.MethodPut {
		t.Fatalf("%d pushes, the last with %s; want one PUT", pg.pushes, pg.method)
	}
	if want := map[string]string{"job": "backfill", "import": "events"}; !maps.Equal(grouping(t, pg.path), want) {
		t.Errorf("grouping key %v (path %s), want %v", grouping(t, pg.path), pg.path, want)
	}
	if user, pass, ok := (&http.Request{Header: http.Header{"Authorization": {pg.auth}}}).BasicAuth(); !ok || user != "ops" || pass != "s3cret" {
		t.Errorf("push auth %q, want Basic auth from the URL", pg.auth)
	}
	pushed := series(pg.fams)
	wantReportValues(t, "the push", pushed, rep)
	if info := fmt.Sprintf("backfill_run_info{version=%q}", sink.Version); pushed[info] != 1 {
		t.Errorf("no %s pushed (the grouping key carries the import and the shard): %v", info, slices.Sorted(maps.Keys(pushed)))
	}
	if strings.Contains(stderr, "s3cret") {
		t.Errorf("the log shows the push password: %s", stderr)
	}

	// A Pushgateway that refuses the push: a warning, the same exit code.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "push refused", http.StatusBadGateway)
	}))
	defer down.Close()
	code, stderr = runProcess(t, bin, []string{"import", "--endpoint", serveURL, "--restart", "--max-batch-messages", "100",
		"--checkpoint", ckpt, "--progress", "never", "--metrics-push", strings.Replace(down.URL, "http://", "http://ops:s3cret@", 1), src}, dir)
	if code != exitRejects {
		t.Errorf("with a failed push: exit %d, want %d (as without it): %s", code, exitRejects, stderr)
	}
	if !strings.Contains(stderr, "backfill import: warning: --metrics-push: unexpected status code 502") || !strings.Contains(stderr, "the import itself is not affected") {
		t.Errorf("no warning of the failed push: %s", stderr)
	}
	if strings.Contains(stderr, "s3cret") {
		t.Errorf("the warning shows the push password: %s", stderr)
	}
}

// TestLogFormatJSON checks that with --log-format json every line the
// import writes on stderr is a JSON record (the metrics URL, a warning, a
// retry, the progress) and that the summary on stdout is one record holding
// the report; and that the write key shows in none.
func TestLogFormatJSON(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	var mu sync.Mutex
	requests := 0
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		requests++
		n := requests
		mu.Unlock()
		if n == 1 {
			http.Error(w, "upstream broke", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"success":true}`)
	}))
	defer api.Close()
	src := metricsInput(t, dir, 250, 1)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	const key = "json-log-key"
	cmd := exec.Command(bin, "import", "--endpoint", api.URL, "--max-batch-messages", "100", "--log-format", "json",
		"--metrics-addr", "127.0.0.1:0", "-")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SEGMENT_WRITE_KEY="+key)
	cmd.Stdin = in
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := exitCodeOf(t, cmd.Run(), stderr.String())
	if code != exitRejects {
		t.Fatalf("exit %d, want %d: %s", code, exitRejects, stderr.String())
	}
	type record struct {
		Time   time.Time       `json:"time"`
		Level  string          `json:"level"`
		Msg    string          `json:"msg"`
		Report importer.Report `json:"report"`
		Final  *bool           `json:"final"`
	}
	parse := func(name, text string) []record {
		var out []record
		for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			var r record
			if err := json.Unmarshal([]byte(line), &r); err != nil || r.Time.IsZero() || r.Level == "" || r.Msg == "" {
				t.Errorf("%s: line %q is not a JSON log record with time, level and msg (%v)", name, line, err)
				continue
			}
			if strings.Contains(line, key) {
				t.Errorf("%s: the write key shows in %s", name, line)
			}
			out = append(out, r)
		}
		return out
	}
	seen := map[string]bool{}
	for _, r := range parse("stderr", stderr.String()) {
		switch {
		case r.Level == "INFO" && metricsURLPattern.MatchString(r.Msg):
			seen["metrics url"] = true
		case r.Level == "WARN" && strings.HasPrefix(r.Msg, "standard input cannot be read again, so this import keeps no checkpoint"):
			seen["warning"] = true
		case r.Level == "DEBUG" && r.Msg == "sink: retrying a batch":
			seen["retry"] = true
		case r.Level == "INFO" && r.Msg == "progress" && r.Final != nil && *r.Final:
			seen["final progress"] = true
		}
	}
	for _, want := range []string{"metrics url", "warning", "retry", "final progress"} {
		if !seen[want] {
			t.Errorf("no %s record on stderr: %s", want, stderr.String())
		}
	}
	out := parse("stdout", stdout.String())
	if len(out) != 1 {
		t.Fatalf("stdout holds %d records, want the summary alone: %s", len(out), stdout.String())
	}
	rep := out[0].Report
	if out[0].Level != "INFO" || out[0].Msg != "import complete" || rep.RowsRead != 251 || rep.Delivered != 250 || rep.Rejected != 1 ||
		rep.RejectedByReason["invalid_json"] != 1 || rep.Retries != 1 || !rep.Complete {
		t.Errorf("summary record %s, want import complete with 251 rows read, 250 delivered, 1 rejected (invalid_json), 1 retry", stdout.String())
	}

	// The text format stays as it was: no record on stdout.
	code, text := runProcess(t, bin, []string{"import", "--stub", "--log-format", "xml", src}, dir)
	if code != exitUsage || !strings.Contains(text, `--log-format "xml": want text or json`) {
		t.Errorf("--log-format xml: exit %d, %q; want %d and the values that work", code, text, exitUsage)
	}
}

// TestLogFormatJSONInterrupted checks an import interrupted after its 2nd
// acknowledged batch with --log-format json: every line on stderr is a JSON
// record, the error and the advice to resume among them; the summary is one
// "import stopped" record; and the final metrics are pushed all the same,
// equal to the report.
func TestLogFormatJSONInterrupted(t *testing.T) {
	bin := crashBinary(t)
	dir := t.TempDir()
	src := metricsInput(t, dir, 1000, 0)
	pg, pushSrv := newPushgateway(t, false)
	cmd := exec.Command(bin, "import", "--stub", "--concurrency", "1", "--max-batch-messages", "100", "--checkpoint", filepath.Join(dir, "ck.json"),
		"--progress", "never", "--log-format", "json", "--metrics-push", pushSrv.URL, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BACKFILL_CRASH_AT=batch-acked:2:interrupt")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if code := exitCodeOf(t, cmd.Run(), stderr.String()); code != exitInterrupted {
		t.Fatalf("exit %d, want %d: %s", code, exitInterrupted, stderr.String())
	}
	type record struct {
		Time   time.Time       `json:"time"`
		Level  string          `json:"level"`
		Msg    string          `json:"msg"`
		Report importer.Report `json:"report"`
	}
	var errs []string
	for _, line := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
		var r record
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Time.IsZero() || r.Level == "" || r.Msg == "" {
			t.Errorf("stderr line %q is not a JSON log record (%v)", line, err)
			continue
		}
		if r.Level == "ERROR" {
			errs = append(errs, r.Msg)
		}
	}
	if len(errs) != 2 || !strings.HasPrefix(errs[0], "interrupted") || !strings.Contains(errs[1], "to resume, run the same command again") {
		t.Errorf("error records %q, want the interruption and how to resume", errs)
	}
	var sum record
	if err := json.Unmarshal([]byte(stdout.String()), &sum); err != nil || sum.Level != "ERROR" || sum.Msg != "import stopped" || sum.Report.Complete {
		t.Fatalf("summary %q (%v), want one import stopped record", stdout.String(), err)
	}
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.pushes != 1 {
		t.Fatalf("%d pushes after the interruption, want 1", pg.pushes)
	}
	wantReportValues(t, "the push", series(pg.fams), sum.Report)
}

// TestMetricsNotPushedByARunLockedOut checks that an import that finds its
// checkpoint held by another run pushes no metrics, so that the other
// run's push stands.
func TestMetricsNotPushedByARunLockedOut(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	src := metricsInput(t, dir, 10, 0)
	checkpoint := filepath.Join(dir, "checkpoint.json")
	lock := flock.New(importer.LockPath(checkpoint))
	if ok, err := lock.TryLock(); err != nil || !ok {
		t.Fatalf("lock: %v, %v", ok, err)
	}
	defer lock.Unlock()
	pg, pushSrv := newPushgateway(t, false)
	code, stderr := runProcess(t, bin, []string{"import", "--stub", "--progress", "never", "--checkpoint", checkpoint,
		"--metrics-push", pushSrv.URL, src}, dir)
	if code != exitFailed || !strings.Contains(stderr, "is in use by another run") {
		t.Fatalf("exit %d, want %d for a checkpoint in use: %s", code, exitFailed, stderr)
	}
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.pushes != 0 {
		t.Errorf("%d pushes by a run that imported nothing, want none", pg.pushes)
	}
}
