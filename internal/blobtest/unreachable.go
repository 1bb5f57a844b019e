package blobtest

import (
	"net/http"
	"net/url"
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
	switch scheme {
	case "s3":
		t.Setenv("AWS_ACCESS_KEY_ID", "test")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
		t.Setenv("AWS_CONFIG_FILE", "/dev/null")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		return "s3://logs/" + key + "?endpoint=http://" + addr + "&use_path_style=true&region=us-east-1"
	case "gs":
		t.Setenv("STORAGE_EMULATOR_HOST", addr)
		t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
		return "gs://logs/" + key
	case "azblob":
		t.Setenv("AZURE_STORAGE_ACCOUNT", azuriteAccount)
		t.Setenv("AZURE_STORAGE_KEY", azuriteKey)
		t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
		t.Setenv("AZURE_STORAGE_SAS_TOKEN", "")
		q := url.Values{"protocol": {"http"}, "domain": {addr}, "localemu": {"true"}}
		return "azblob://logs/" + key + "?" + q.Encode()
	}
	t.Fatalf("blobtest: no store %q", scheme)
	return ""
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
