package blobtest

import (
	"context"
	"io"
	"testing"

	"gocloud.dev/blob"
)

// TestStores puts two objects in each store, lists them and reads one
// back whole and by range, through the URL a user would give.
func TestStores(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) *Server
	}{
		{"s3", func(t *testing.T) *Server { return S3(t, "logs", S3Options{}) }},
		{"gcs", func(t *testing.T) *Server { return GCS(t, "logs") }},
		{"azure", func(t *testing.T) *Server { return Azure(t, "logs") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.start(t)
			s.Put(t, "a/1.ndjson", []byte("{\"n\":1}\n"))
			s.Put(t, "a/2.ndjson", []byte("{\"n\":2}\n"))
			ctx := context.Background()
			b, err := blob.OpenBucket(ctx, s.BucketURL())
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			var keys []string
			it := b.List(&blob.ListOptions{Prefix: "a/"})
			for {
				o, err := it.Next(ctx)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, o.Key)
			}
			if len(keys) != 2 || keys[0] != "a/1.ndjson" || keys[1] != "a/2.ndjson" {
				t.Fatalf("listed %q, want [a/1.ndjson a/2.ndjson]", keys)
			}
			got, err := b.ReadAll(ctx, "a/2.ndjson")
			if err != nil || string(got) != "{\"n\":2}\n" {
				t.Fatalf("read %q, %v", got, err)
			}
			r, err := b.NewRangeReader(ctx, "a/1.ndjson", 1, 5, nil)
			if err != nil {
				t.Fatal(err)
			}
			part, err := io.ReadAll(r)
			r.Close()
			if err != nil || string(part) != "\"n\":1" {
				t.Fatalf("range read %q, %v", part, err)
			}
		})
	}
}
