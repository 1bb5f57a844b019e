package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backfillhq/backfill/mappings"
)

const presetsAbout = `Lists the built-in mappings, one line each, or prints one so that it can be
copied and edited: backfill presets mixpanel > my-mapping.yaml

Exit codes: 0 listed or printed; 64 no preset of that name.`

// newPresetsCommand returns "backfill presets".
func newPresetsCommand(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "presets [flags] [NAME]",
		Short: "List the built-in mappings, or print one to copy",
		Long:  presetsAbout,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return syntaxf("give at most one preset name")
			}
			return nil
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return mappings.Presets(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				names := mappings.Presets()
				width := 0
				for _, name := range names {
					width = max(width, len(name))
				}
				var b strings.Builder
				b.WriteString("presets (use with --mapping preset:NAME; print one to copy and edit with backfill presets NAME):\n")
				for _, name := range names {
					fmt.Fprintf(&b, "  %-*s  %s\n", width, name, mappings.PresetSummary(name))
				}
				_, err := io.WriteString(stdout, b.String())
				return err
			}
			src, err := mappings.PresetSource(strings.TrimPrefix(args[0], "preset:"))
			if err != nil {
				return &usageError{msg: err.Error()}
			}
			_, err = stdout.Write(src)
			return err
		},
	}
}
