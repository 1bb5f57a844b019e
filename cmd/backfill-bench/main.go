// Command backfill-bench measures end-to-end import throughput on generated
// files: through the stub sink (everything but the network) and through the
// HTTP sink into a local receiver on 127.0.0.1.
//
//	go run ./cmd/backfill-bench [-rows N] [-dir DIR]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/sink"
)

func main() {
	rows := flag.Int("rows", 200_000, "rows in each generated file")
	dir := flag.String("dir", "", "folder for the generated files (default: a temporary folder, removed after)")
	genOnly := flag.Bool("generate", false, "only write the input files into -dir, for profiling")
	flag.Parse()
	if *genOnly {
		if *dir == "" {
			fmt.Fprintln(os.Stderr, "backfill-bench: -generate needs -dir")
			os.Exit(2)
		}
		if err := generate(filepath.Join(*dir, "events.csv"), filepath.Join(*dir, "events.ndjson"), *rows); err != nil {
			fmt.Fprintln(os.Stderr, "backfill-bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := bench(*rows, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "backfill-bench:", err)
		os.Exit(1)
	}
}

const csvMapping = `type: track
messageId: id
userId: user_id
event: event
timestamp: {column: ts, format: rfc3339}
columns: {amount: float, quantity: int, active: bool}
`

func bench(rows int, dir string) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "backfill-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	csvPath := filepath.Join(dir, "events.csv")
	ndPath := filepath.Join(dir, "events.ndjson")
	if err := generate(csvPath, ndPath, rows); err != nil {
		return err
	}
	spec, err := mappings.ParseSpec([]byte(csvMapping), "bench.yaml")
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sink.NewReceiver(sink.ReceiverConfig{Out: io.Discard})}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String()

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "input\tsink\trows\tseconds\tevents/s\t\n")
	for _, in := range []struct {
		name string
		path string
		spec *mappings.Spec
	}{
		{"ndjson passthrough", ndPath, nil},
		{"csv mapped", csvPath, spec},
	} {
		for _, out := range []string{"stub", "http"} {
			cfg := importer.Config{
				Sources:     []string{in.path},
				Spec:        in.spec,
				RejectsPath: filepath.Join(dir, "bench.rejects.ndjson"),
			}
			if out == "stub" {
				cfg.Sink = sink.NewStubSink()
			} else {
				s, _, err := sink.NewSegmentSink(sink.SegmentConfig{WriteKey: "bench", Endpoint: url, Rate: -1, EventsRate: -1})
				if err != nil {
					return err
				}
				cfg.Sink = s
			}
			start := time.Now()
			rep, err := importer.Run(context.Background(), cfg)
			if err != nil {
				return fmt.Errorf("%s into %s: %w", in.name, out, err)
			}
			d := time.Since(start)
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.0f\t\n", in.name, out, rep.Delivered, d.Seconds(), float64(rep.Delivered)/d.Seconds())
		}
	}
	return tw.Flush()
}

// generate writes rows events as a mapped CSV and as NDJSON Segment messages.
func generate(csvPath, ndPath string, rows int) error {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cf, err := os.Create(csvPath)
	if err != nil {
		return err
	}
	defer cf.Close()
	nf, err := os.Create(ndPath)
	if err != nil {
		return err
	}
	defer nf.Close()
	cw, nw := bufio.NewWriter(cf), bufio.NewWriter(nf)
	fmt.Fprintln(cw, "id,user_id,event,ts,amount,quantity,active,plan,country,browser,campaign,referrer,sku")
	for i := range rows {
		ts := base.Add(time.Duration(i) * 1537 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		fmt.Fprintf(cw, "e-%d,user-%d,Order Completed,%s,%d.%02d,%d,%t,pro,DE,Firefox,spring-%d,https://example.com/p/%d,SKU-%d\n",
			i, i%10007, ts, i%300, i%100, i%9, i%2 == 0, i%40, i%1000, i%5000)
		fmt.Fprintf(nw, `{"type":"track","messageId":"e-%d","userId":"user-%d","event":"Order Completed","timestamp":"%s","sentAt":"%s","context":{"ip":"203.0.113.7","library":{"name":"legacy","version":"1"}},"properties":{"amount":%d.%02d,"quantity":%d,"active":%t,"plan":"pro","country":"DE","browser":"Firefox","campaign":"spring-%d","referrer":"https://example.com/p/%d","sku":"SKU-%d"}}`+"\n",
			i, i%10007, ts, ts, i%300, i%100, i%9, i%2 == 0, i%40, i%1000, i%5000)
	}
	if err := cw.Flush(); err != nil {
		return err
	}
	return nw.Flush()
}
