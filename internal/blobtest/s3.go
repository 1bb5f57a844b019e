package blobtest

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3Options configure the fake S3 store. The zero value answers at once.
type S3Options struct {
	// Latency is added before every request is answered. Default: none.
	Latency time.Duration
	// Intercept, if set, sees every request first and answers it
	// itself when it returns true: faults for tests. Default: none.
	Intercept func(w http.ResponseWriter, r *http.Request) bool
}

// S3 starts a fake S3 store (gofakes3, in memory) on 127.0.0.1 holding an
// empty bucket named bucket, until the test ends. Its URLs use the
// store's endpoint and path-style addressing; the test's environment
// gets dummy AWS credentials, a region, and AWS_EC2_METADATA_DISABLED so
// that the SDK does not probe for instance metadata. Reads honour
// If-Match as S3 does (a 412 when the ETag differs).
func S3(t testing.TB, bucket string, opts S3Options) *Server {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatalf("blobtest: create bucket %s: %v", bucket, err)
	}
	requests := new(atomic.Int64)
	h := S3Handler(gofakes3.New(backend, gofakes3.WithIntegrityCheck(false)).Server())
	if opts.Intercept != nil {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !opts.Intercept(w, r) {
				inner.ServeHTTP(w, r)
			}
		})
	}
	addr := serve(t, h, opts.Latency, requests)
	s := &Server{Scheme: "s3", Bucket: bucket, Addr: addr, requests: requests}
	s.reach(t)
	s.open(t)
	return s
}

// S3Handler returns h, a fake S3 store's handler, made to answer reads as
// S3 does: a GET whose If-Match names another ETag than the object's is
// answered 412 PreconditionFailed (gofakes3 honours If-Match only on
// writes), and a range read carries no checksum of the whole object (which
// the SDK would check against the range).
func S3Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := r.Header.Get("If-Match")
		if r.Method != http.MethodGet || (want == "" && r.Header.Get("Range") == "") {
			h.ServeHTTP(w, r)
			return
		}
		r.Header.Del("If-Match")
		h.ServeHTTP(&ifMatchWriter{ResponseWriter: w, want: want, ranged: r.Header.Get("Range") != ""}, r)
	})
}

// ifMatchWriter turns a successful answer into 412 when the ETag it
// carries is not the one asked for.
type ifMatchWriter struct {
	http.ResponseWriter
	want    string // "": no If-Match
	ranged  bool
	wrote   bool
	refused bool
}

func (w *ifMatchWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if w.ranged {
		for k := range w.Header() {
			if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") {
				w.Header().Del(k)
			}
		}
	}
	etag := w.Header().Get("ETag")
	if code/100 == 2 && w.want != "" && etag != "" && strings.Trim(etag, `"`) != strings.Trim(w.want, `"`) {
		w.refused = true
		h := w.Header()
		for k := range h {
			delete(h, k)
		}
		h.Set("Content-Type", "application/xml")
		w.ResponseWriter.WriteHeader(http.StatusPreconditionFailed)
		w.ResponseWriter.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>`))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *ifMatchWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.refused {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *ifMatchWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.refused {
		f.Flush()
	}
}
