package readers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestPeakHeapIndependentOfRows reads 100,000 and 1,000,000 rows of
// Parquet, NDJSON and CSV and checks that the heap the reader holds (live
// after a collection, sampled every 50,000 rows) and the heap in use
// (sampled every 5,000 rows, garbage included) do not grow with the
// number of rows. A size assertion, not a timed one.
func TestPeakHeapIndependentOfRows(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("reads 2.2 million rows; skipped with -short and -race")
	}
	dir := t.TempDir()
	for _, format := range []struct {
		name  string
		write func(t *testing.T, path string, rows int)
	}{
		{"parquet", func(t *testing.T, path string, rows int) { writeEventsParquet(t, path, rows, 64*1024) }},
		{"ndjson", writeEventsNDJSON},
		{"csv", writeEventsCSV},
	} {
		t.Run(format.name, func(t *testing.T) {
			var live, inuse [2]uint64
			for k, rows := range []int{100_000, 1_000_000} {
				path := filepath.Join(dir, fmt.Sprintf("events-%d.%s", rows, format.name))
				format.write(t, path, rows)
				live[k], inuse[k] = peakHeap(t, path, rows)
				os.Remove(path)
				t.Logf("%d rows: live heap %.1f MiB, heap in use %.1f MiB at most", rows, mib(live[k]), mib(inuse[k]))
			}
			const slack = 4 << 20
			if live[1] > live[0]*3/2+slack {
				t.Errorf("live heap %.1f MiB after 1,000,000 rows, %.1f MiB after 100,000", mib(live[1]), mib(live[0]))
			}
			if inuse[1] > inuse[0]*3/2+2*slack {
				t.Errorf("heap in use %.1f MiB reading 1,000,000 rows, %.1f MiB reading 100,000", mib(inuse[1]), mib(inuse[0]))
			}
		})
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// peakHeap reads the file to the end and returns the largest live heap
// and heap in use it saw.
func peakHeap(t *testing.T, path string, rows int) (live, inuse uint64) {
	t.Helper()
	ctx := context.Background()
	runtime.GC()
	r, err := Open(ctx, Source{Path: path}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ms runtime.MemStats
	n := 0
	for {
		_, err := r.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n%5_000 == 0 {
			if n%50_000 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				live = max(live, ms.HeapAlloc)
			}
			runtime.ReadMemStats(&ms)
			inuse = max(inuse, ms.HeapInuse)
		}
	}
	if n != rows {
		t.Fatalf("read %d rows, want %d", n, rows)
	}
	return live, inuse
}

// writeEventsNDJSON writes rows events as JSON lines.
func writeEventsNDJSON(t *testing.T, path string, rows int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range rows {
		fmt.Fprintf(w, `{"messageId":"m-%08d","timestamp":"2024-03-01T12:%02d:%02dZ","userId":"user-%d","event":%q,"properties":{"plan":"pro","amount":%d.25}}`+"\n",
			i, i/60%60, i%60, i%5000, fixEvents[i%3], i%1000)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeEventsCSV writes rows events as CSV with a header, some fields
// quoted.
func writeEventsCSV(t *testing.T, path string, rows int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "message_id,timestamp,user_id,event,plan,amount,note")
	for i := range rows {
		fmt.Fprintf(w, "m-%08d,2024-03-01T12:%02d:%02dZ,user-%d,%s,pro,%d.25,\"said \"\"hi\"\", twice\"\n",
			i, i/60%60, i%60, i%5000, fixEvents[i%3], i%1000)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
