package readers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/backfillhq/backfill/internal/jsontext"
)

const benchRows = 1_000_000

// benchCSV is a typical event export: ten columns, some quoted.
func benchCSV() []byte {
	var b bytes.Buffer
	b.WriteString("message_id,timestamp,user_id,anonymous_id,event,plan,amount,currency,page,note\n")
	for i := range benchRows {
		fmt.Fprintf(&b, "m-%08d,2024-03-%02dT12:%02d:%02dZ,user-%d,anon-%x,Order Completed,pro,%d.%02d,USD,/checkout/%d,\"said \"\"hi\"\", twice\"\n",
			i, i%28+1, i%60, i%60, i%5000, i*7919, i%1000, i%100, i%50)
	}
	return b.Bytes()
}

// benchNDJSON is the same events as JSON lines with a nested object.
func benchNDJSON() []byte {
	var b bytes.Buffer
	for i := range benchRows {
		fmt.Fprintf(&b, `{"messageId":"m-%08d","timestamp":"2024-03-%02dT12:%02d:%02dZ","userId":"user-%d","anonymousId":"anon-%x","event":"Order Completed","properties":{"plan":"pro","amount":%d.%02d,"currency":"USD","items":[1,2,3]},"context":{"page":{"path":"/checkout/%d"}},"big":9007199254740993}`+"\n",
			i, i%28+1, i%60, i%60, i%5000, i*7919, i%1000, i%100, i%50)
	}
	return b.Bytes()
}

// benchmarkRead reads data stored under name in each compression. With
// digestEvery, it asks for the digest of the prefix after the header and
// then after the first row at or past each digestEvery bytes, as an import
// that keeps a checkpoint does.
func benchmarkRead(b *testing.B, name string, data []byte, digestEvery int64) {
	for _, c := range compressions {
		b.Run(c.name, func(b *testing.B) {
			path := writeFile(b, b.TempDir(), name+c.ext, c.pack(b, data))
			ctx := context.Background()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r, err := Open(ctx, Source{Path: path}, Options{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				var ph PrefixHasher
				var next int64
				if digestEvery > 0 {
					ph = r.(PrefixHasher)
					d, _ := ph.PrefixDigest()
					next = d.Offset + digestEvery
				}
				for {
					row, err := r.Next(ctx)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
					if ph != nil && row.Pos.Offset >= next {
						d, ok := ph.PrefixDigest()
						if !ok {
							b.Fatal("no digest")
						}
						next = d.Offset + digestEvery
					}
				}
				if ph != nil {
					if d, ok := ph.PrefixDigest(); !ok || d.Offset != int64(len(data)) {
						b.Fatalf("digest of %d bytes (%v), want the whole %d", d.Offset, ok, len(data))
					}
				}
				r.Close()
				if n != benchRows {
					b.Fatalf("read %d rows, want %d", n, benchRows)
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func BenchmarkCSV(b *testing.B) { benchmarkRead(b, "events.csv", benchCSV(), 0) }

func BenchmarkNDJSON(b *testing.B) { benchmarkRead(b, "events.ndjson", benchNDJSON(), 0) }

// BenchmarkCSVPrefixHash and BenchmarkNDJSONPrefixHash read as an import
// that keeps a checkpoint does: hashing the bytes read, with a digest
// every 16 KiB.
func BenchmarkCSVPrefixHash(b *testing.B) { benchmarkRead(b, "events.csv", benchCSV(), 16<<10) }

func BenchmarkNDJSONPrefixHash(b *testing.B) {
	benchmarkRead(b, "events.ndjson", benchNDJSON(), 16<<10)
}

// BenchmarkScanObject measures the JSON scanner splitting objects into
// members, next to encoding/json validating and decoding the same lines.
func BenchmarkScanObject(b *testing.B) {
	lines := bytes.Split(bytes.TrimSpace(benchNDJSON()), []byte("\n"))[:1000]
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	run := func(name string, fn func(line []byte) error) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				for _, l := range lines {
					if err := fn(l); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
	run("ObjectMembers", func(l []byte) error {
		return jsontext.ObjectMembers(l, func(string, json.RawMessage) bool { return true })
	})
	run("Valid", jsontext.Valid)
	run("encoding-json-Valid", func(l []byte) error {
		if !json.Valid(l) {
			return fmt.Errorf("invalid line %s", l)
		}
		return nil
	})
	run("encoding-json-Unmarshal", func(l []byte) error {
		var m map[string]json.RawMessage
		return json.Unmarshal(l, &m)
	})
}

// BenchmarkParquet reads a generated Parquet file of benchRows events in
// row groups of 50,000 rows: every column, and the three a mapping might
// select. MB/s counts the bytes of the file.
func BenchmarkParquet(b *testing.B) {
	path := filepath.Join(b.TempDir(), "events.parquet")
	writeEventsParquet(b, path, benchRows, 131_072)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		sel  []string
	}{
		{"all", nil},
		{"select3", []string{"message_id", "timestamp", "event"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.SetBytes(fi.Size())
			b.ReportAllocs()
			for b.Loop() {
				r, err := Open(ctx, Source{Path: path}, Options{Select: c.sel}, nil)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					_, err := r.Next(ctx)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				r.Close()
				if n != benchRows {
					b.Fatalf("read %d rows, want %d", n, benchRows)
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
