package main

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
)

// TestImportParquetByteArrays imports Parquet strings written as Impala
// writes them (BYTE_ARRAY without a logical type) into "serve": ids,
// event names and properties arrive as text, the column declared bytes
// as base64, and the rows with text that is not UTF-8 are rejected as
// invalid_utf8 with their raw rows.
func TestImportParquetByteArrays(t *testing.T) {
	url, out, stop := startServe(t, "pq-key")
	dir := t.TempDir()
	cases := filepath.Join(pkgDir, "..", "..", "testdata", "mappings", "parquet_plain_byte_arrays")
	src := filepath.Join(cases, "input.parquet")
	rejects := filepath.Join(dir, "rejects.ndjson")
	args := []string{"import", "--endpoint", url, "--progress", "never", "--no-checkpoint", "--rejects", rejects,
		"--mapping", filepath.Join(cases, "mapping.yaml"), src}
	var stdout, stderr lockedBuffer
	if code := run(context.Background(), args, &stdout, &stderr); code != exitRejects {
		t.Fatalf("import exited with %d, want %d: %s", code, exitRejects, stderr.String())
	}
	stop()
	got := received(t, out)
	if len(got) != 2 {
		t.Fatalf("received %v, want b1 and b2", got)
	}
	b1, b2 := got["b1"], got["b2"]
	wantProps := map[string]any{"plan": "pro", "sig": "AP8Q", "code": "US", "tags": []any{"a", "\u00fc"}, "item": map[string]any{"name": "n1"}}
	if b1["userId"] != "user-1" || b1["event"] != "Order Completed" || !reflect.DeepEqual(b1["properties"], wantProps) {
		t.Errorf("b1 = %v, want userId user-1, event Order Completed, properties %v", b1, wantProps)
	}
	wantTraits := map[string]any{"plan": "free", "sig": "czI=", "code": "DE", "tags": []any{}, "item": map[string]any{"name": "n2"}}
	if b2["type"] != "identify" || b2["userId"] != "user-2" || !reflect.DeepEqual(b2["traits"], wantTraits) {
		t.Errorf("b2 = %v, want an identify of user-2 with traits %v", b2, wantTraits)
	}
	const hint = ": a byte array without a logical type is read as text; if the column holds binary data, declare it bytes (it is then sent as base64)"
	want := []map[string]any{
		{"file": src, "row": "3", "offset": "0", "reason": "invalid_utf8", "format": "parquet",
			"error": src + `: row 3: invalid_utf8: column "plan": invalid UTF-8 at byte 0` + hint,
			"raw":   "{\"kind\":\"track\",\"id\":\"b3\",\"uid\":\"user-3\",\"action\":\"Signed Up\",\"ts\":\"2023-11-14T22:13:22Z\",\"plan\":\"\uFFFDpro\",\"sig\":\"czM=\",\"code\":\"FR\",\"tags\":[],\"item\":{\"name\":\"n3\"}}"},
		{"file": src, "row": "4", "offset": "0", "reason": "invalid_utf8", "format": "parquet",
			"error": src + `: row 4: invalid_utf8: column "tags": invalid UTF-8 at byte 0` + hint,
			"raw":   "{\"kind\":\"track\",\"id\":\"b4\",\"uid\":\"user-4\",\"action\":\"Signed Up\",\"ts\":\"2023-11-14T22:13:23Z\",\"plan\":\"team\",\"sig\":\"/g==\",\"code\":\"IT\",\"tags\":\"\uFFFD\",\"item\":{\"name\":\"n4\"}}"},
	}
	var rej []map[string]any
	eachJSONLine(t, rejects, func(m map[string]any) {
		if m["run"] == nil || m["time"] == nil {
			t.Errorf("reject without the run's id or the time: %v", m)
		}
		delete(m, "run") // the run's id and the time differ every time
		delete(m, "time")
		for k, v := range m {
			if n, ok := v.(interface{ String() string }); ok {
				m[k] = n.String() // json.Number
			}
		}
		rej = append(rej, m)
	})
	if !reflect.DeepEqual(rej, want) {
		t.Errorf("rejects\n %v\nwant\n %v", rej, want)
	}
}
