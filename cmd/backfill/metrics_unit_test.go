package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/sink"
	"github.com/backfillhq/backfill/sink/segment"
)

// gather returns the series of a registry.
func gather(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return series(fams)
}

// fixedStats are a sink's transport counters that do not change.
type fixedStats importer.Transport

func (s fixedStats) Transport() importer.Transport { return importer.Transport(s) }

// TestImportMetricsValues checks what the metrics show from the progress,
// the sink's Stats and its requests, before and after the report: requests
// by status with "error" for none, the checkpoint's age from its last
// write, and the report's values once final.
func TestImportMetricsValues(t *testing.T) {
	stats := fixedStats{Requests: 4, Retries: 2, Throttled: 1, BytesSent: 900, CurrentRate: 25}
	m := newImportMetrics(metricsOptions{Import: "imp", Shard: "2-of-3"})
	m.stats = stats
	saved := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m.now = func() time.Time { return saved.Add(7 * time.Second) }

	s := gather(t, m.reg)
	if _, ok := s["backfill_checkpoint_age_seconds"]; ok {
		t.Errorf("a checkpoint age before any write: %v", s)
	}
	for _, q := range []segment.Request{
		{Status: 200, Messages: 100, BatchBytes: 40000, BytesSent: 300, Duration: 20 * time.Millisecond},
		{Status: 429, Messages: 100, BatchBytes: 40000, BytesSent: 300, Duration: 10 * time.Millisecond},
		{Status: 0, Messages: 100, BatchBytes: 40000, BytesSent: 300, Duration: 30 * time.Millisecond},
		{Status: 200, Messages: 3, BatchBytes: 1200, BytesSent: 0, Duration: 5 * time.Millisecond},
	} {
		m.ObserveRequest(q)
	}
	m.progress(importer.Progress{RowsRead: 310, Delivered: 203, Rejected: 2, Filtered: 1,
		RejectedByReason: map[string]int64{"invalid_json": 2}, CheckpointSaved: saved})
	s = gather(t, m.reg)
	want := map[string]float64{
		"backfill_rows_read_total":                      310,
		"backfill_rows_delivered_total":                 203,
		"backfill_rows_rejected_total":                  2,
		"backfill_rows_filtered_total":                  1,
		`backfill_rejects_total{reason="invalid_json"}`: 2,
		`backfill_requests_total{code="200"}`:           2,
		`backfill_requests_total{code="429"}`:           1,
		`backfill_requests_total{code="error"}`:         1,
		"backfill_retries_total":                        2,
		"backfill_throttled_requests_total":             1,
		"backfill_sent_bytes_total":                     900,
		"backfill_request_rate":                         25,
		"backfill_batch_messages_count":                 4,
		"backfill_batch_messages_sum":                   303,
		"backfill_batch_size_bytes_count":               4,
		"backfill_batch_size_bytes_sum":                 121200,
		"backfill_request_duration_seconds_count":       4,
		"backfill_request_duration_seconds_sum":         0.065,
		"backfill_checkpoint_age_seconds":               7,
		fmt.Sprintf(`backfill_run_info{import="imp",shard="2-of-3",version=%q}`, sink.Version): 1,
	}
	if !maps.EqualFunc(s, want, func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }) {
		t.Errorf("metrics\n got %v\nwant %v", s, want)
	}

	// Once final, the report's values, whatever progress comes after.
	m.finish(importer.Report{RowsRead: 320, Delivered: 310, Rejected: 9, Filtered: 1,
		RejectedByReason: map[string]int64{"invalid_json": 3, "missing_id": 6},
		Transport:        importer.Transport{Requests: 5, Retries: 2, Throttled: 1, BytesSent: 1000, CurrentRate: 20}})
	m.progress(importer.Progress{RowsRead: 1})
	s = gather(t, m.reg)
	for k, v := range map[string]float64{
		"backfill_rows_read_total": 320, "backfill_rows_delivered_total": 310, "backfill_rows_rejected_total": 9,
		`backfill_rejects_total{reason="invalid_json"}`: 3, `backfill_rejects_total{reason="missing_id"}`: 6,
		"backfill_sent_bytes_total": 1000, "backfill_request_rate": 20, "backfill_checkpoint_age_seconds": 7,
	} {
		if s[k] != v {
			t.Errorf("after the report: %s = %v, want %v", k, s[k], v)
		}
	}
}

// TestMetricsPushGroupsByShard checks that the push of a shard's metrics
// carries the shard in its grouping key, and that no pushed metric repeats
// a label of the grouping key.
func TestMetricsPushGroupsByShard(t *testing.T) {
	pg, srv := newPushgateway(t, false)
	m := newImportMetrics(metricsOptions{Push: srv.URL + "/", Import: "imp", Shard: "2-of-3"})
	m.finish(importer.Report{RowsRead: 5, Delivered: 5})
	if err := m.push(context.Background()); err != nil {
		t.Fatal(err)
	}
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if want := map[string]string{"job": "backfill", "import": "imp", "shard": "2-of-3"}; pg.method != http.MethodPut || !maps.Equal(grouping(t, pg.path), want) {
		t.Errorf("%s %s, want a PUT grouped by %v", pg.method, pg.path, want)
	}
	pushed := series(pg.fams)
	if pushed["backfill_rows_delivered_total"] != 5 || pushed[fmt.Sprintf("backfill_run_info{version=%q}", sink.Version)] != 1 {
		t.Errorf("pushed %v", slices.Sorted(maps.Keys(pushed)))
	}
}

// TestMetricsFlagsRefused checks the errors of wrong --metrics-addr,
// --metrics-push and --log-format values: usage errors that name the flag,
// never quote a password, and say what works.
func TestMetricsFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-addr", "9464"}, `--metrics-addr "9464": want HOST:PORT, such as 127.0.0.1:9464 or :9464 (port 0 picks a free port)`},
		{[]string{"--metrics-addr", ""}, "--metrics-addr is empty; give a value or leave the flag out"},
		{[]string{"--metrics-push", "ftp://ops:s3cret@pg:9091"}, `--metrics-push "ftp://***@pg:9091": want the http(s) URL of a Pushgateway, such as http://pushgateway:9091`},
		{[]string{"--metrics-push", "http://pg:9091/?x=1"}, `--metrics-push "http://pg:9091/?x=1": want the http(s) URL of a Pushgateway`},
		{[]string{"--log-format", "JSON"}, `--log-format "JSON": want text or json`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append(append([]string{"import", "--stub"}, tc.args...), "in.ndjson"), &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), exitUsage, tc.want)
			}
			if strings.Contains(stderr.String(), "s3cret") {
				t.Errorf("the error quotes the password: %s", stderr.String())
			}
		})
	}
}

// TestImportHelpShowsTheMetricsFlags checks that "import --help" documents
// --metrics-addr, --metrics-push and --log-format.
func TestImportHelpShowsTheMetricsFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"import", "--help"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{
		"--metrics-addr HOST:PORT serve Prometheus metrics at http://HOST:PORT/metrics while the import runs",
		"--metrics-push URL when the import ends, push its final metrics to the Prometheus Pushgateway at URL, as job backfill grouped by import (and shard); a failed push is a warning",
		`--log-format FORMAT FORMAT of what the import logs on stderr (warnings, errors, progress lines, the final summary): text, or json for log collectors, one JSON object a line (default "text")`,
	} {
		// The columns' width depends on the longest flag: compare words.
		if !strings.Contains(strings.Join(strings.Fields(stdout.String()), " "), want) {
			t.Errorf("import --help does not show %q:\n%s", want, stdout.String())
		}
	}
}

// TestImportName: the name an import goes by in its metrics is its
// checkpoint's name, the same for every shard, and the query of a
// checkpoint kept in a bucket is no part of it.
func TestImportName(t *testing.T) {
	for _, c := range []struct{ checkpoint, want string }{
		{".backfill/events.json", "events"},
		{".backfill/events.shard-1-of-3.json", "events"},
		{"s3://bucket/ckpt/events.json", "events"},
		{"s3://bucket/ckpt/events.shard-2-of-3.json?endpoint=http://127.0.0.1:9000/s3&region=us-east-1", "events"},
		{"gs://bucket/events.json?x=a/b.c", "events"},
	} {
		if got := importName(c.checkpoint, nil, "", ""); got != c.want {
			t.Errorf("importName(%q) = %q, want %q", c.checkpoint, got, c.want)
		}
	}
}
