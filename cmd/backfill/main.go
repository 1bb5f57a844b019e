// Command backfill imports historical event data into Segment.
//
//	backfill import [flags] SOURCE...   read, map, batch and send
//	backfill check [flags] SOURCE...    show what an import would send
//	backfill status [flags]             show how far an import got
//	backfill rejects [flags] FILE       sum up a rejects file, write its rows back out
//	backfill presets [NAME]             list or print the built-in mappings
//	backfill serve [flags]              run a local Segment-compatible receiver
//	backfill completion SHELL           print a shell completion script
//	backfill help [COMMAND]             show the help of a command
//	backfill version                    print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/internal/version"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitRejects = 2
	// exitBudget: the error budget stopped the import (too many rows
	// rejected, --max-rejects or --max-reject-rate); the rows read are
	// settled, the rest unread.
	exitBudget      = 3
	exitUsage       = 64
	exitInterrupted = 130
)

const rootAbout = `backfill imports historical event data into Segment: it reads CSV, NDJSON
and Parquet files, maps each row to a Segment message, and sends the
messages in batches to Segment's HTTP Tracking API, resuming where it
stopped when run again.

Run "backfill help COMMAND" (or "backfill COMMAND --help") for the flags of
a command, and "backfill completion bash|zsh|fish|powershell --help" to set
up shell completion.

` + exitCodesHelp

// exitCodesHelp is the exit codes' part of the help.
const exitCodesHelp = `Exit codes:
  0    every row delivered (or filtered)
  2    finished, and some rows rejected: see the rejects file
  3    stopped by the error budget: too many rows rejected (see
       "backfill import --help")
  1    failed: a wrong write key, an endpoint that cannot be reached, a
       batch not delivered after its retries, an unreadable or corrupt
       file; or another run holds the checkpoint or the rejects file
       (nothing was sent)
  64   bad usage: a wrong command, flag or value, an invalid mapping, or
       a mapping that does not fit the data (nothing was sent)
  130  interrupted (Ctrl-C, SIGTERM)`

func main() {
	// Signals first: an interrupt that came before the handler would kill
	// the process instead of stopping it.
	ctx := handleSignals()
	tuneGC()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// stopping is closed once the first SIGINT or SIGTERM has cancelled the
// command's context; nil before handleSignals.
var stopping chan struct{}

// handleSignals returns the command's context. The first SIGINT or SIGTERM
// cancels it, so that the command stops gracefully (an import writes its
// checkpoint and exits 130); a second one exits at once with 130 (a
// checkpoint on disk stays valid, only less recent), saying how to resume.
func handleSignals() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stopping = make(chan struct{})
	go func() {
		<-sigs
		cancel()
		close(stopping)
		signalNote("backfill: stopping; interrupt again to quit at once")
		<-sigs
		signalNote("backfill: quitting at once")
		if hint := currentQuitHint(); hint != "" {
			signalNote(hint)
		}
		os.Exit(exitInterrupted)
	}()
	return ctx
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if args == nil {
		args = []string{} // not os.Args
	}
	root := newRootCommand(args, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		return printError(stderr, cmd, err)
	}
	return exitOK
}

// newRootCommand returns the backfill command with its subcommands, writing
// results and help to stdout, errors and logs to stderr. args is the
// command line after "backfill".
func newRootCommand(args []string, stdout, stderr io.Writer) *cobra.Command {
	cobra.EnableCommandSorting = false
	root := &cobra.Command{
		SuggestionsMinimumDistance: 2,
		Use:                        "backfill",
		Short:                      "Import historical event data into Segment",
		Long:                       rootAbout,
		Version:                    version.Get().Version,
		SilenceErrors:              true,
		SilenceUsage:               true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		// Without a command: the help, on stderr, as bad usage.
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(stderr)
			cmd.Help()
			return exitStatus(exitUsage)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(flagError)
	root.SetVersionTemplate(versionTemplate())
	root.Flags().Bool("version", false, "print the version, as backfill version does")
	root.AddCommand(
		newImportCommand(args, stdout, stderr),
		newCheckCommand(stdout, stderr),
		newStatusCommand(stdout, stderr),
		newRejectsCommand(stdout, stderr),
		newPresetsCommand(stdout, stderr),
		newServeCommand(stdout, stderr),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Long: `Print backfill's version, from the build's own information: the module
version (v1.2.3 for go install …@v1.2.3, a pseudo-version for a build from
a checkout, the version a release build or image stamps, or (devel)); for
a build from a checkout, the revision, its time and whether the checkout
was modified; and the Go toolchain and platform. The version is the one
messages carry in context.library.version.`,
			Args: noArgs,
			Run: func(cmd *cobra.Command, args []string) {
				fmt.Fprint(stdout, version.Get())
			},
		},
	)
	root.SetHelpCommand(newHelpCommand(root))
	return root
}

// versionTemplate is what backfill --version prints, as cobra's version
// template: the text of backfill version, with any "{{" kept literal.
func versionTemplate() string {
	return strings.ReplaceAll(version.Get().String(), "{{", `{{"{{"}}`)
}

// newHelpCommand returns "backfill help [COMMAND]": the help of a command,
// or a usage error with suggestions for one that does not exist.
func newHelpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Show the help of a command",
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			var names []string
			for _, c := range root.Commands() {
				if c.IsAvailableCommand() && strings.HasPrefix(c.Name(), toComplete) {
					names = append(names, c.Name())
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil || len(args) > 0 && target == root {
				return unknownCommand(root, args[0])
			}
			if len(rest) > 0 && target.HasSubCommands() {
				return unknownCommand(target, rest[0])
			}
			target.InitDefaultHelpFlag() // shown as in COMMAND --help
			return target.Help()
		},
	}
}

// exitCode maps the outcome of a command to the process exit code.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, importer.ErrTooManyRejects):
		return exitBudget
	case errors.As(err, new(*importer.PrecheckError)):
		// The mapping does not fit the data: nothing was sent.
		return exitUsage
	case errors.Is(err, importer.ErrLocked):
		// Another run holds the checkpoint or the rejects file: nothing
		// was read or sent, and the message names that run.
		return exitFailed
	default:
		return exitFailed
	}
}
