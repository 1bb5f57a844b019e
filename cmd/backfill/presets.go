package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/backfillhq/backfill/mappings"
)

const presetsAbout = `Lists the built-in mappings, or prints one so that it can be copied and
edited: backfill presets mixpanel > my-mapping.yaml`

func runPresets(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		fmt.Fprintf(stdout, "presets (use with --mapping preset:NAME; print one with backfill presets NAME):\n  %s\n",
			strings.Join(mappings.Presets(), "\n  "))
		return exitOK
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help"):
		fmt.Fprintf(stdout, "Usage: backfill presets [NAME]\n\n%s\n", presetsAbout)
		return exitOK
	case len(args) == 1:
		src, err := mappings.PresetSource(strings.TrimPrefix(args[0], "preset:"))
		if err != nil {
			fmt.Fprintf(stderr, "backfill presets: %v\n", err)
			return exitUsage
		}
		stdout.Write(src)
		return exitOK
	}
	fmt.Fprintln(stderr, "backfill presets: give at most one preset name; see --help")
	return exitUsage
}
