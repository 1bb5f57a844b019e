package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
	"github.com/klauspost/compress/gzip"
)

// TestResumeInAnEncodedFileSendsWhatAnUninterruptedRunSends imports
// UTF-16 and Windows-1252 files once without a stop and once stopped by a
// failing destination and resumed from the checkpoint: both deliver the
// same messages, each once, and write the same rejects, whose offsets are
// the rows' bytes in the file.
func TestResumeInAnEncodedFileSendsWhatAnUninterruptedRunSends(t *testing.T) {
	const rows = 1000
	var text strings.Builder
	var lineStart []int // byte offset of each line in text, by line - 1
	for i := 1; i <= rows; i++ {
		lineStart = append(lineStart, text.Len())
		switch i {
		case 250:
			text.WriteString(`{"type":"track","name":"Zürich €"` + "\n")
		case 700:
			text.WriteString(`{"type":"track","name":"ÿ"}` + "\n") // made undecodable below
		default:
			fmt.Fprintf(&text, `{"type":"track","messageId":"m-%d","userId":"Müller-%d","event":"Bestellt €","timestamp":"2024-03-01T12:00:00Z","properties":{"i":%d,"city":"Köln"}}`+"\n", i, i, i)
		}
	}
	utf16LE := func(s string) []byte {
		out := []byte{0xff, 0xfe}
		for _, u := range utf16.Encode([]rune(s)) {
			out = append(out, byte(u), byte(u>>8))
		}
		return out
	}
	cp1252 := func(s string) []byte {
		var out []byte
		for _, r := range s {
			switch {
			case r == '€':
				out = append(out, 0x80)
			case r == 'ÿ':
				out = append(out, 0x81) // undefined in windows-1252
			default:
				out = append(out, byte(r))
			}
		}
		return out
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name, file, encoding string
		data                 []byte
		// offset is the source offset of a line of text.
		offset func(line int) int64
		// wantRejects is the reason and raw text of lines 250 and 700.
		wantRejects [][3]string
	}{
		{
			name: "utf-16le", file: "e.ndjson", data: utf16LE(text.String()),
			offset: func(line int) int64 {
				return 2 + 2*int64(len(utf16.Encode([]rune(text.String()[:lineStart[line-1]]))))
			},
			wantRejects: [][3]string{
				{readers.ReasonInvalidJSON, `{"type":"track","name":"Zürich €"`, ""},
				{sink.ReasonMissingTimestamp, `{"type":"track","name":"ÿ"}`, ""},
			},
		},
		{
			name: "windows-1252 gzip", file: "e.ndjson.gz", encoding: "latin1", data: gz(cp1252(text.String())),
			offset: func(line int) int64 {
				return int64(len([]rune(text.String()[:lineStart[line-1]])))
			},
			wantRejects: [][3]string{
				{readers.ReasonInvalidJSON, `{"type":"track","name":"Zürich €"`, ""},
				{readers.ReasonInvalidEncoding, "", `{"type":"track","name":"` + "\x81" + `"}`},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(dir string, s *fakeSink) (Report, error) {
				src := filepath.Join(dir, tc.file)
				if _, err := os.Stat(src); err != nil {
					if err := os.WriteFile(src, tc.data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				cfg := checkpointConfig(dir, []string{src}, s)
				cfg.Reader.Encoding = tc.encoding
				return Run(context.Background(), cfg)
			}
			whole := &fakeSink{send: accept}
			wholeDir := t.TempDir()
			if _, err := run(wholeDir, whole); err != nil {
				t.Fatal(err)
			}
			first, second := &fakeSink{send: failAfter(4)}, &fakeSink{send: accept}
			dir := t.TempDir()
			if rep, err := run(dir, first); err == nil || rep.Complete {
				t.Fatalf("first run: err %v, report %+v; want it stopped", err, rep)
			}
			rep, err := run(dir, second)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Resumed || len(second.messages) >= len(whole.messages) || len(second.messages) == 0 {
				t.Fatalf("resumed report %+v, %d messages sent, want a resume part way", rep, len(second.messages))
			}
			index := func(ms []map[string]any) map[string]string {
				out := map[string]string{}
				for _, m := range ms {
					b, _ := json.Marshal(m)
					id := m["messageId"].(string)
					if _, dup := out[id]; dup {
						t.Fatalf("%s delivered twice", id)
					}
					out[id] = string(b)
				}
				return out
			}
			want := index(whole.messages)
			got := index(append(first.messages, second.messages...))
			if len(want) != rows-2 || len(got) != len(want) {
				t.Fatalf("%d messages resumed, %d uninterrupted, want %d", len(got), len(want), rows-2)
			}
			for id, m := range want {
				if got[id] != m {
					t.Fatalf("%s: resumed %s\nwant %s", id, got[id], m)
				}
			}
			if m := want["m-3"]; !strings.Contains(m, `"userId":"Müller-3"`) || !strings.Contains(m, `"event":"Bestellt €"`) || !strings.Contains(m, `"city":"Köln"`) {
				t.Fatalf("message m-3 is not decoded: %s", m)
			}
			wantRejects := readRejectsFile(t, filepath.Join(wholeDir, "rejects.ndjson"))
			gotRejects := readRejectsFile(t, filepath.Join(dir, "rejects.ndjson"))
			if len(wantRejects) != len(tc.wantRejects) || len(gotRejects) != len(wantRejects) {
				t.Fatalf("rejects: %d resumed, %d uninterrupted, want %d", len(gotRejects), len(wantRejects), len(tc.wantRejects))
			}
			for i, w := range tc.wantRejects {
				line := []int{250, 700}[i]
				r := gotRejects[i]
				if r.Line != int64(line) || r.Offset != tc.offset(line) || r.Reason != w[0] || r.Raw != w[1] || string(r.RawBase64) != w[2] {
					t.Errorf("reject %d: %+v\nwant line %d, offset %d, reason %s, raw %q, raw_base64 %q", i, r, line, tc.offset(line), w[0], w[1], w[2])
				}
				if r.Line != wantRejects[i].Line || r.Offset != wantRejects[i].Offset || r.Raw != wantRejects[i].Raw {
					t.Errorf("reject %d: resumed %+v, uninterrupted %+v", i, r, wantRejects[i])
				}
			}
		})
	}
}

// TestResumeRefusesAnotherEncoding: the rows after the checkpoint would be
// read as other text than the rows before it.
func TestResumeRefusesAnotherEncoding(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "a.ndjson", 1000, nil)
	cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: failAfter(3)})
	cfg.Reader.Encoding = "latin1"
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("first run should stop")
	}
	second := &fakeSink{send: accept}
	cfg.Sink = second
	cfg.Reader.Encoding = "shift_jis"
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), `option encoding was "latin1", is now "shift_jis"`) {
		t.Fatalf("err = %v, want the changed encoding named", err)
	}
	if second.batches != 0 {
		t.Fatalf("%d batches sent despite the mismatch", second.batches)
	}
}
