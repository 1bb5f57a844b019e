package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCase18NullTokens: --null adds its tokens to the empty cell, as the
// README shows it (--null 'NULL,\N'), --no-null makes the empty cell an
// empty string, and the two together leave only the tokens; a quoted ""
// is always the empty string. Through the built command.
func TestCase18NullTokens(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.yaml"), []byte("type: track\nmessageId: id\nuserId: user\nevent: {value: E}\ntimestamp: ts\n"))
	writeFile(t, filepath.Join(dir, "cells.csv"), []byte("id,user,ts,v\n"+
		"r1,u,2024-03-01T12:00:00Z,\n"+
		"r2,u,2024-03-01T12:00:00Z,NULL\n"+
		"r3,u,2024-03-01T12:00:00Z,\\N\n"+
		"r4,u,2024-03-01T12:00:00Z,\"\"\n"+
		"r5,u,2024-03-01T12:00:00Z,x\n"))
	const absent = "(no value)"
	for _, tc := range []struct {
		name  string
		flags []string
		want  map[string]string // messageId → properties.v
	}{
		{"default", nil,
			map[string]string{"r1": absent, "r2": "NULL", "r3": `\N`, "r4": "", "r5": "x"}},
		{"null adds to the empty cell", []string{"--null", `NULL,\N`},
			map[string]string{"r1": absent, "r2": absent, "r3": absent, "r4": "", "r5": "x"}},
		{"no-null", []string{"--no-null"},
			map[string]string{"r1": "", "r2": "NULL", "r3": `\N`, "r4": "", "r5": "x"}},
		{"no-null with null", []string{"--no-null", "--null", "NULL"},
			map[string]string{"r1": "", "r2": absent, "r3": `\N`, "r4": "", "r5": "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"import", "--dry-run", "--progress", "never", "--mapping", "m.yaml"}, tc.flags...)
			stdout, stderr, code := runBinary(t, bin, dir, append(args, "cells.csv")...)
			if code != exitOK {
				t.Fatalf("import exited with %d: %s", code, stderr)
			}
			got := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
				var m struct {
					MessageID  string             `json:"messageId"`
					Properties map[string]*string `json:"properties"`
				}
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("%v: %s", err, line)
				}
				got[m.MessageID] = absent
				if v, ok := m.Properties["v"]; ok {
					got[m.MessageID] = *v
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("properties.v\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	_, stderr, code := runBinary(t, bin, dir, "import", "--dry-run", "--mapping", "m.yaml", "--null", "NULL,", "cells.csv")
	want := `backfill import: --null "NULL,": an empty token; the empty cell means no value already (--no-null makes it an empty string)` + "\n"
	if code != exitUsage || stderr != want {
		t.Fatalf("--null with an empty token: exit %d, stderr %q; want %d, %q", code, stderr, exitUsage, want)
	}
}
