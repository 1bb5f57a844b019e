package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// readRejects returns the lines of the rejects files keyed by "file:line".
func readRejects(t *testing.T, paths ...string) map[string]map[string]any {
	t.Helper()
	got := map[string]map[string]any{}
	for _, path := range paths {
		eachJSONLine(t, path, func(m map[string]any) {
			key := fmt.Sprintf("%s:%v", filepath.Base(m["file"].(string)), m["line"])
			if _, dup := got[key]; dup {
				t.Fatalf("two rejects for %s", key)
			}
			got[key] = m
		})
	}
	return got
}

func TestBadInputIsRejectedAndTheRestArrives(t *testing.T) {
	url, out, stop := startServe(t, "bad-key")
	dir := t.TempDir()
	long := strings.Repeat("x", 300)

	// CSV: line numbers in comments are the file's own.
	csvLines := []string{
		"id,user,event,ts",                                  // 1 header
		"c-1,u1,Signed Up,2024-03-01T12:00:00Z",             // 2 good
		"c-2,u2,Signed Up",                                  // 3 too few fields
		"c-3,u3,Signed Up,2024-03-01T12:00:00Z,extra",       // 4 too many fields
		"c-4,u4,Sign\xffed Up,2024-03-01T12:00:00Z",         // 5 invalid UTF-8
		"c-5,u5," + long + ",2024-03-01T12:00:00Z",          // 6 over the line limit
		"c-6,,Signed Up,2024-03-01T12:00:00Z",               // 7 no user id
		"c-7,u7,Signed Up,yesterday",                        // 8 bad timestamp
		"c-8,u8,\"Signed\nUp\",2024-03-01T12:00:00.5+02:00", // 9-10 good, quoted newline
		"c-9,u9,Signed Up,",                                 // 11 missing timestamp
		"c-10,u10,Signed Up,2024-03-01T12:00:00Z",           // 12 good
		"c-11,u11,\"Signed Up,2024-03-01T12:00:00Z",         // 13 unterminated quote
	}
	writeFile(t, filepath.Join(dir, "events.csv"), []byte(strings.Join(csvLines, "\n")+"\n"))
	writeFile(t, filepath.Join(dir, "events.yaml"), []byte("type: track\nmessageId: id\nuserId: user\nevent: event\ntimestamp: {column: ts, format: rfc3339}\n"))

	ndLines := []string{
		`{"type":"track","messageId":"n-1","userId":"u1","event":"E","timestamp":"2024-03-01T12:00:00Z"}`,                        // 1 good
		`{"type":"track","messageId":"n-2","userId":"u2","event":"E",`,                                                           // 2 invalid JSON
		"{\"type\":\"track\",\"messageId\":\"n-3\",\"userId\":\"u\xff\",\"event\":\"E\",\"timestamp\":\"2024-03-01T12:00:00Z\"}", // 3 invalid UTF-8
		`{"type":"track","messageId":"n-4","userId":"u4","event":"` + long + `","timestamp":"2024-03-01T12:00:00Z"}`,             // 4 too long
		`{"type":"track","messageId":"n-5","event":"E","timestamp":"2024-03-01T12:00:00Z"}`,                                      // 5 no id
		`{"type":"track","messageId":"n-6","userId":"u6","event":"E","timestamp":"last tuesday"}`,                                // 6 bad timestamp
		``,                  // 7 blank: skipped
		`["not an object"]`, // 8 not an object
		`{"type":"track","messageId":"n-9","userId":"u9","event":"E","timestamp":"2024-03-01T12:00:00Z"}`, // 9 good
	}
	writeFile(t, filepath.Join(dir, "archive.ndjson"), []byte(strings.Join(ndLines, "\n")+"\n"))

	// Two imports, each with a rejects file of its own.
	var rejects []string
	for i, args := range [][]string{
		{"--mapping", filepath.Join(dir, "events.yaml"), filepath.Join(dir, "events.csv")},
		{filepath.Join(dir, "archive.ndjson")},
	} {
		rejects = append(rejects, filepath.Join(dir, fmt.Sprintf("rejects-%d.ndjson", i)))
		rejects := rejects[i]
		var stdout, stderr lockedBuffer
		full := append([]string{"import", "--endpoint", url, "--progress", "never", "--max-line-bytes", "200", "--rejects", rejects}, args...)
		if code := run(context.Background(), full, &stdout, &stderr); code != exitRejects {
			t.Fatalf("import %v exited with %d, want %d (completed with rejects): %s", args, code, exitRejects, stderr.String())
		}
	}
	stop()

	got := received(t, out)
	for _, id := range []string{"c-1", "c-8", "c-10", "n-1", "n-9"} {
		if got[id] == nil {
			t.Errorf("good row %s did not arrive", id)
		}
	}
	if got["c-8"] != nil && (got["c-8"]["event"] != "Signed\nUp" || got["c-8"]["timestamp"] != "2024-03-01T10:00:00.500Z") {
		t.Errorf("c-8 arrived as %v", got["c-8"])
	}
	if len(got) != 5 {
		t.Errorf("received %d messages, want the 5 good rows", len(got))
	}

	rej := readRejects(t, rejects...)
	want := map[string]string{
		"events.csv:3":     "csv_field_count",
		"events.csv:4":     "csv_field_count",
		"events.csv:5":     "invalid_utf8",
		"events.csv:6":     "line_too_long",
		"events.csv:7":     "missing_id",
		"events.csv:8":     "bad_timestamp",
		"events.csv:11":    "missing_timestamp",
		"events.csv:13":    "csv_bad_quote",
		"archive.ndjson:2": "invalid_json",
		"archive.ndjson:3": "invalid_utf8",
		"archive.ndjson:4": "line_too_long",
		"archive.ndjson:5": "missing_id",
		"archive.ndjson:6": "bad_timestamp",
		"archive.ndjson:8": "not_an_object",
	}
	for key, reason := range want {
		r := rej[key]
		if r == nil {
			t.Errorf("no reject for %s (want %s); rejects: %v", key, reason, keys(rej))
			continue
		}
		if r["reason"] != reason {
			t.Errorf("%s: reason %v, want %s (%v)", key, r["reason"], reason, r["error"])
		}
		file := strings.Split(key, ":")[0]
		if msg, _ := r["error"].(string); !strings.Contains(msg, file) {
			t.Errorf("%s: error %q does not name the file", key, msg)
		}
		if r["raw"] == nil && r["raw_base64"] == nil {
			t.Errorf("%s: no raw row", key)
		}
		if _, ok := r["offset"]; !ok {
			t.Errorf("%s: no offset", key)
		}
	}
	if len(rej) != len(want) {
		t.Errorf("%d rejects, want %d: %v", len(rej), len(want), keys(rej))
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
