// Package blobtest starts object stores for tests, on 127.0.0.1 only: a
// fake S3 (gofakes3 with its in-memory backend), a fake Google Cloud
// Storage (fake-gcs-server) and Azurite, Azure's emulator. Each is reached
// through the URL forms a user gives (s3://, gs://, azblob://), with the
// dummy credentials and settings the SDKs need set in the test's
// environment, so that no SDK reaches out of the machine.
//
// A Server's Env lists the same settings for a child process (the built
// binary). Tests that use a Server cannot run in parallel with others: it
// sets environment variables.
package blobtest

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob"
	// The drivers of the three stores.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
)

// Server is an object store serving one bucket (an Azure container) on
// 127.0.0.1 for the life of a test.
type Server struct {
	// Scheme is "s3", "gs" or "azblob".
	Scheme string
	// Bucket is the bucket's (the container's) name.
	Bucket string
	// Addr is the host:port the store listens on.
	Addr string

	query    string // the bucket URL's query, without "?"
	env      []string
	bucket   *blob.Bucket
	requests *atomic.Int64
}

// URL returns the source URL of key or prefix p in the bucket, with the
// query the driver needs to reach the store:
// "s3://bucket/p?endpoint=http://127.0.0.1:PORT&…".
func (s *Server) URL(p string) string {
	u := s.Scheme + "://" + s.Bucket
	if p != "" {
		u += "/" + strings.TrimPrefix(p, "/")
	}
	if s.query != "" {
		u += "?" + s.query
	}
	return u
}

// Name returns how the sources name the object at key: the URL without
// its query, "s3://bucket/key".
func (s *Server) Name(key string) string { return s.Scheme + "://" + s.Bucket + "/" + key }

// BucketURL returns the URL that opens the bucket with blob.OpenBucket.
func (s *Server) BucketURL() string { return s.URL("") }

// Env returns the environment variables, as "KEY=value", that the test's
// own environment holds for the store: dummy credentials and the settings
// that keep each SDK on 127.0.0.1. A child process needs them too.
func (s *Server) Env() []string { return append([]string(nil), s.env...) }

// Blob returns the bucket, open for the test's own reads and writes.
func (s *Server) Blob() *blob.Bucket { return s.bucket }

// Requests returns how many HTTP requests the store has answered (S3 and
// GCS; 0 for Azurite).
func (s *Server) Requests() int64 {
	if s.requests == nil {
		return 0
	}
	return s.requests.Load()
}

// Put writes the object key with body, failing the test on error.
func (s *Server) Put(t testing.TB, key string, body []byte) {
	t.Helper()
	if err := s.bucket.WriteAll(context.Background(), key, body, nil); err != nil {
		t.Fatalf("blobtest: put %s: %v", s.Name(key), err)
	}
}

// Delete removes the object key, failing the test on error.
func (s *Server) Delete(t testing.TB, key string) {
	t.Helper()
	if err := s.bucket.Delete(context.Background(), key); err != nil {
		t.Fatalf("blobtest: delete %s: %v", s.Name(key), err)
	}
}

// setEnv sets the environment variables kv ("KEY=value") for the test and
// records them for Env.
func (s *Server) setEnv(t testing.TB, kv ...string) {
	for _, e := range kv {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
		s.env = append(s.env, e)
	}
}

// reach sets the query of the URLs of s and the test's environment so
// that the SDK of s.Scheme goes to s.Addr, and nowhere else, with dummy
// credentials: for S3, the endpoint, path-style addressing and a region,
// and the environment cleared of any profile or endpoint of the user's;
// for Google Cloud Storage, STORAGE_EMULATOR_HOST; for Azure, Azurite's
// development account.
func (s *Server) reach(t testing.TB) {
	t.Helper()
	q := url.Values{}
	switch s.Scheme {
	case "s3":
		q.Set("endpoint", "http://"+s.Addr)
		q.Set("use_path_style", "true")
		q.Set("region", "us-east-1")
		s.setEnv(t,
			"AWS_ACCESS_KEY_ID=blobtest",
			"AWS_SECRET_ACCESS_KEY=blobtest",
			"AWS_SESSION_TOKEN=",
			"AWS_REGION=us-east-1",
			"AWS_EC2_METADATA_DISABLED=true",
			"AWS_CONFIG_FILE=/dev/null",
			"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
			"AWS_PROFILE=",
			"AWS_ENDPOINT_URL=",
		)
	case "gs":
		s.setEnv(t,
			"STORAGE_EMULATOR_HOST="+s.Addr,
			"GOOGLE_APPLICATION_CREDENTIALS=",
		)
	case "azblob":
		q.Set("protocol", "http")
		q.Set("domain", s.Addr)
		q.Set("localemu", "true")
		s.setEnv(t,
			"AZURE_STORAGE_ACCOUNT="+azuriteAccount,
			"AZURE_STORAGE_KEY="+azuriteKey,
			"AZURE_STORAGE_CONNECTION_STRING=",
			"AZURE_STORAGE_SAS_TOKEN=",
		)
	default:
		t.Fatalf("blobtest: no store %q", s.Scheme)
	}
	s.query = q.Encode()
}

// open opens the bucket of s for Blob and Put, and closes it when the test
// ends.
func (s *Server) open(t testing.TB) {
	t.Helper()
	b, err := blob.OpenBucket(context.Background(), s.BucketURL())
	if err != nil {
		t.Fatalf("blobtest: open %s: %v", s.BucketURL(), err)
	}
	s.bucket = b
	t.Cleanup(func() { b.Close() })
}

// serve serves h on a new listener on 127.0.0.1 until the test ends,
// counting requests and delaying each by latency.
func serve(t testing.TB, h http.Handler, latency time.Duration, requests *atomic.Int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("blobtest: listen: %v", err)
	}
	srv := &http.Server{Handler: Counting(Latency(h, latency), requests), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// Latency returns h with d added before every request is handled (none
// if d is 0): a store far away, for benchmarks.
func Latency(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Counting returns h counting its requests in n (nil: not counted).
func Counting(h http.Handler, n *atomic.Int64) http.Handler {
	if n == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	})
}

// waitListening waits until addr accepts connections, for at most d.
func waitListening(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort returns a port on 127.0.0.1 that was free a moment ago, for a
// server that cannot be given a listener.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
