package readers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/backfillhq/backfill/internal/blobtest"
)

// rangeLog records the range requests of a fake store, by object key.
type rangeLog struct {
	mu   sync.Mutex
	gets map[string][]extent
}

// intercept records a GET and lets the store answer it.
func (l *rangeLog) intercept(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet || r.URL.Query().Has("list-type") {
		return false
	}
	var e extent
	if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &e.start, &e.end); err != nil {
		e = extent{-1, -1} // the whole object
	} else {
		e.end++
	}
	key := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gets == nil {
		l.gets = make(map[string][]extent)
	}
	l.gets[key] = append(l.gets[key], e)
	return false
}

// of returns the requests of key so far.
func (l *rangeLog) of(key string) []extent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]extent(nil), l.gets[key]...)
}

// readAllRows reads r to its end and returns the rows read.
func readAllRows(t *testing.T, r Reader) int {
	t.Helper()
	n := 0
	for {
		_, err := r.Next(context.Background())
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("row %d: %v", n+1, err)
		}
		n++
	}
}

// TestObjectParquetRequests: a Parquet object in a bucket is read with
// the same buffer per column as a local file, and with one range request
// per column chunk read rather than one per refill of that buffer: the
// requests are those of the footer, then one for each column chunk of
// each row group, and no byte is asked for twice but for the end of the
// object read with the footer.
func TestObjectParquetRequests(t *testing.T) {
	var log rangeLog
	s := blobtest.S3(t, "logs", blobtest.S3Options{Intercept: log.intercept})
	path := eventsFile(t, 60_000, 20_000)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Put(t, "e.parquet", data)
	srcs, err := ExpandContext(context.Background(), []string{s.URL("e.parquet")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		sel     []string
		columns int
	}{
		{"all columns", nil, 6},
		{"one column", []string{"message_id"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Select: tt.sel}
			local := openT(t, path, opts, nil).(*parquetReader)
			defer local.Close()
			if _, err := local.Next(context.Background()); err != nil {
				t.Fatal(err)
			}
			before := len(log.of("e.parquet"))
			r, err := Open(context.Background(), srcs[0], opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			pr := r.(*parquetReader)
			footer := len(log.of("e.parquet")) - before
			if footer != 2 {
				t.Errorf("%d requests to open the object, want 2: its end with the footer, and its magic", footer)
			}
			var bigger bool
			for _, g := range pr.groups {
				for _, c := range g.chunks {
					bigger = bigger || c.end-c.start > parquetBufferSize
				}
			}
			if !bigger {
				t.Fatalf("no column chunk is larger than the %d bytes of a column's buffer: the test shows nothing", parquetBufferSize)
			}
			if _, err := r.Next(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got, want := pr.props.BufferSize, local.props.BufferSize; got != want || got > parquetBufferSize {
				t.Errorf("a column's buffer: %d bytes, want %d as for the local file", got, want)
			}
			if n := 1 + readAllRows(t, r); n != 60_000 {
				t.Fatalf("read %d rows, want 60000", n)
			}
			gets := log.of("e.parquet")[before:]
			if got, want := len(gets), footer+len(pr.groups)*tt.columns; got != want {
				t.Errorf("%d range requests, want %d: %d for the footer and one for each of %d columns of %d row groups", got, want, footer, tt.columns, len(pr.groups))
			}
			var asked int64
			for _, e := range gets {
				if e.start < 0 {
					t.Fatalf("a request for the whole object")
				}
				asked += e.end - e.start
			}
			if limit := int64(len(data)) + parquetFooterRead; asked > limit {
				t.Errorf("%d bytes asked for, over the object's %d and the %d read with its footer", asked, len(data), parquetFooterRead)
			}
		})
	}
}

// TestObjectParquetFooterReadAhead: the footer of the next Parquet object
// is read while the current one is read, and its open then asks the store
// for nothing but its column chunks; the footer read ahead asks for the
// version listed, as every read does.
func TestObjectParquetFooterReadAhead(t *testing.T) {
	var log rangeLog
	s := blobtest.S3(t, "logs", blobtest.S3Options{Intercept: log.intercept})
	data, err := os.ReadFile(eventsFile(t, 30_000, 10_000))
	if err != nil {
		t.Fatal(err)
	}
	s.Put(t, "a.parquet", data)
	s.Put(t, "b.parquet", data)
	s.Put(t, "c.parquet", data)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srcs, err := ExpandContext(ctx, []string{s.URL("")}, Options{})
	if err != nil || len(srcs) != 3 {
		t.Fatalf("sources %v, %v", sourcePaths(srcs), err)
	}
	fetched := make(chan string, 2)
	footerFetched = func(name string) { fetched <- name }
	t.Cleanup(func() { footerFetched = nil })

	a, err := Open(ctx, srcs[0], Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Next(ctx); err != nil {
		t.Fatal(err)
	}
	Prefetch(ctx, Options{}, srcs[1])
	Prefetch(ctx, Options{}, srcs[1]) // once is enough
	if got := <-fetched; got != srcs[1].Path {
		t.Fatalf("footer read ahead of %s, want %s", got, srcs[1].Path)
	}
	ahead := log.of("b.parquet")
	if len(ahead) != 2 {
		t.Fatalf("%d requests of b.parquet read ahead, want 2 (its end and its magic): %v", len(ahead), ahead)
	}
	// a is not done: the footer of b came while a was being read.
	if n := 1 + readAllRows(t, a); n != 30_000 {
		t.Fatalf("a.parquet: %d rows", n)
	}

	b, err := Open(ctx, srcs[1], Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if n := readAllRows(t, b); n != 30_000 {
		t.Fatalf("b.parquet: %d rows", n)
	}
	groups := b.(*parquetReader).groups
	for _, e := range log.of("b.parquet")[len(ahead):] {
		if e.end > groups[len(groups)-1].end {
			t.Errorf("b.parquet: a request of %v after the footer was read ahead, beyond its column chunks", e)
		}
	}
	if srcs[1].obj.footer != nil {
		t.Error("the footer read ahead was not taken")
	}

	// An object replaced after it was listed: the footer read ahead asks
	// for the listed version, and the open fails, naming it.
	s.Put(t, "c.parquet", data[:len(data)-1])
	Prefetch(ctx, Options{}, srcs[2])
	<-fetched
	_, err = Open(ctx, srcs[2], Options{}, nil)
	var ce *ChangedError
	if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), srcs[2].Path+": ") {
		t.Fatalf("open of a replaced object whose footer was read ahead: %v, want a *ChangedError naming it", err)
	}
}

// TestObjectParquetChunksAskedTogether: the column chunks of a row group
// are asked for together when it starts, not each when its column is
// first read: all six requests arrive before the store answers any.
func TestObjectParquetChunksAskedTogether(t *testing.T) {
	var opened atomic.Bool
	arrived := make(chan string, 16)
	release := make(chan struct{})
	s := blobtest.S3(t, "logs", blobtest.S3Options{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/e.parquet") && opened.Load() {
			select {
			case arrived <- r.Header.Get("Range"):
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		return false
	}})
	data, err := os.ReadFile(eventsFile(t, 30_000, 10_000))
	if err != nil {
		t.Fatal(err)
	}
	s.Put(t, "e.parquet", data)
	ctx := context.Background()
	srcs, err := ExpandContext(ctx, []string{s.URL("e.parquet")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, srcs[0], Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	opened.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := r.Next(ctx)
		done <- err
	}()
	seen := map[string]bool{}
	for range 6 {
		seen[<-arrived] = true
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(seen) != 6 {
		t.Errorf("the requests of the first row group: %v, want six ranges", seen)
	}
	if n := 1 + readAllRows(t, r); n != 30_000 {
		t.Fatalf("read %d rows", n)
	}
}
