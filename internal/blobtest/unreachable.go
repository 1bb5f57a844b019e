package blobtest

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
)

// At returns the URL of the object key in the bucket "logs" of a store of
// scheme ("s3", "gs" or "azblob") that would be served at addr, a
// host:port on 127.0.0.1, with the test's environment set as that
// store's SDK needs to go there, and nowhere else, with dummy
// credentials: for tests of stores that fail (see ClosedPort and
// Unavailable).
func At(t testing.TB, scheme, addr, key string) string {
	t.Helper()
	s := &Server{Scheme: scheme, Bucket: "logs", Addr: addr}
	s.reach(t)
	return s.URL(key)
}

// ClosedPort returns a host:port on 127.0.0.1 that nothing listens on:
// connections to it are refused.
func ClosedPort(t testing.TB) string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("blobtest: %v", err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// Unavailable starts a server on 127.0.0.1 until the test ends that
// answers every request with 503 Service Unavailable, and returns its
// host:port and the count of the requests it answered.
func Unavailable(t testing.TB) (addr string, requests *atomic.Int64) {
	t.Helper()
	requests = new(atomic.Int64)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	})
	return serve(t, h, 0, requests), requests
}
