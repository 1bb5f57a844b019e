package blobtest

import (
	"sync/atomic"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// GCS starts a fake Google Cloud Storage (fake-gcs-server) on 127.0.0.1
// holding an empty bucket named bucket, until the test ends. The test's
// environment gets STORAGE_EMULATOR_HOST, which points the Go client at
// it without credentials.
func GCS(t testing.TB, bucket string) *Server {
	t.Helper()
	fs, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		NoListener: true,
		Scheme:     "http",
		// Objects are served under any port of this host: without it,
		// reads answer NotFound.
		PublicHost: "127.0.0.1",
	})
	if err != nil {
		t.Fatalf("blobtest: fake GCS: %v", err)
	}
	t.Cleanup(fs.Stop)
	fs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	requests := new(atomic.Int64)
	addr := serve(t, fs.HTTPHandler(), 0, requests)
	s := &Server{Scheme: "gs", Bucket: bucket, Addr: addr, requests: requests}
	s.reach(t)
	s.open(t)
	return s
}
