package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEncodingThroughTheBinary imports a Windows-1252 CSV with --encoding
// latin1 and a UTF-16 CSV by its byte-order mark with the built command,
// and checks the messages, the rejects' offsets and the errors of a bad
// --encoding.
func TestEncodingThroughTheBinary(t *testing.T) {
	bin := buildBinary(t, "")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.yaml"), []byte("type: track\nmessageId: id\nuserId: user\nevent: event\ntimestamp: {column: ts, format: rfc3339}\n"))
	// Offsets: the header is 17 bytes, row 1 (line 2) 43, row 2 27.
	latin := []byte("id,user,event,ts\n" +
		"l-1,M\xfcller,Bestellt \x80,2024-03-01T12:00:00Z\n" +
		"l-2,u2,Signed Up,yesterday\n" +
		"l-3,u3,\x81,2024-03-01T12:00:00Z\n")
	writeFile(t, filepath.Join(dir, "latin.csv"), latin)
	utf16 := []byte{0xff, 0xfe}
	for _, r := range "id,user,event,ts\nw-1,Jürgen,Käse 😀,2024-03-01T12:00:00Z\nw-2,u2,E,yesterday\n" {
		var units []uint16
		if r > 0xffff {
			r -= 0x10000
			units = []uint16{uint16(0xd800 + r>>10), uint16(0xdc00 + r&0x3ff)}
		} else {
			units = []uint16{uint16(r)}
		}
		for _, u := range units {
			utf16 = append(utf16, byte(u), byte(u>>8))
		}
	}
	writeFile(t, filepath.Join(dir, "wide.csv"), utf16)

	runBin := func(args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), exitCodeOf(t, err, errb.String())
	}

	for _, tc := range []struct {
		name       string
		args       []string
		wantMsgs   map[string][2]string // messageId → userId, event
		wantReject map[string][2]any    // "line" → offset, reason
	}{
		{
			name:     "latin1",
			args:     []string{"--encoding", "latin1", "latin.csv"},
			wantMsgs: map[string][2]string{"l-1": {"Müller", "Bestellt €"}},
			wantReject: map[string][2]any{
				"3": {17 + 43, "bad_timestamp"},
				"4": {17 + 43 + 27, "invalid_encoding"},
			},
		},
		{
			name:     "utf-16 by its byte-order mark",
			args:     []string{"wide.csv"},
			wantMsgs: map[string][2]string{"w-1": {"Jürgen", "Käse 😀"}},
			wantReject: map[string][2]any{
				// The mark, then 17 and 40 code units (😀 is two).
				"3": {2 + 2*17 + 2*40, "bad_timestamp"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rejects := filepath.Join(dir, tc.name+".rejects.ndjson")
			args := append([]string{"import", "--dry-run", "--no-checkpoint", "--progress", "never", "--mapping", "m.yaml", "--rejects", rejects}, tc.args...)
			stdout, stderr, code := runBin(args...)
			if code != exitRejects {
				t.Fatalf("exit %d, want %d: %s", code, exitRejects, stderr)
			}
			got := map[string][2]string{}
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("stdout line %q: %v", line, err)
				}
				got[m["messageId"].(string)] = [2]string{m["userId"].(string), m["event"].(string)}
			}
			if len(got) != len(tc.wantMsgs) {
				t.Fatalf("messages %v, want %v", got, tc.wantMsgs)
			}
			for id, w := range tc.wantMsgs {
				if got[id] != w {
					t.Errorf("message %s: %q, want %q", id, got[id], w)
				}
			}
			n := 0
			eachJSONLine(t, rejects, func(m map[string]any) {
				n++
				w, ok := tc.wantReject[fmt.Sprint(m["line"])]
				if !ok || fmt.Sprint(m["offset"]) != fmt.Sprint(w[0]) || m["reason"] != w[1] {
					t.Errorf("reject %v, want %v", m, tc.wantReject)
				}
			})
			if n != len(tc.wantReject) {
				t.Errorf("%d rejects, want %d", n, len(tc.wantReject))
			}
		})
	}

	t.Run("unknown encoding", func(t *testing.T) {
		for _, cmd := range []string{"import", "check"} {
			_, stderr, code := runBin(cmd, "--encoding", "klingon", "latin.csv")
			if code != exitUsage || !strings.Contains(stderr, `--encoding "klingon": unknown encoding; want one of utf-8, utf-16, utf-16le, utf-16be, windows-1250 to windows-1258`) {
				t.Errorf("%s --encoding klingon: exit %d, stderr %s", cmd, code, stderr)
			}
		}
	})
	t.Run("help", func(t *testing.T) {
		stdout, _, _ := runBin("import", "--help")
		if !strings.Contains(stdout, "--encoding ENCODING") || !strings.Contains(stdout, "text ENCODING of CSV and NDJSON files") {
			t.Errorf("import --help does not describe --encoding:\n%s", stdout)
		}
	})
}
