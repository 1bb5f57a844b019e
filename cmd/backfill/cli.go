package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/backfillhq/backfill/internal/textdist"
)

// usageError is a command line that cannot run as written: a flag that does
// not exist or has a wrong value, a missing argument, an unknown command.
// Its message speaks of flags and values as the user typed them; the
// process exits with exitUsage.
type usageError struct {
	msg string
	// seeHelp adds where to find the commands or flags: the message names
	// one that does not exist or is missing.
	seeHelp bool
}

func (e *usageError) Error() string { return e.msg }

// usagef returns a *usageError with the formatted message, which says
// which values would work.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// syntaxf returns a *usageError with the formatted message, followed by
// where to find the command's help.
func syntaxf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), seeHelp: true}
}

// exitStatus ends a command whose outcome is already reported: the process
// exits with the code it holds, printing nothing more.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// codeErr turns a command's exit code into what its RunE returns.
func codeErr(code int) error {
	if code == exitOK {
		return nil
	}
	return exitStatus(code)
}

// flagError rewrites a flag parsing error in the words of the command line:
// the flag as typed and what value it wants, never the Go type or parser
// behind it.
func flagError(cmd *cobra.Command, err error) error {
	var (
		invalid  *pflag.InvalidValueError
		required *pflag.ValueRequiredError
		notExist *pflag.NotExistError
	)
	switch {
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		want := ""
		switch f.Value.Type() {
		case "int", "int64":
			want = "want a whole number"
		case "float64":
			want = "want a number"
		case "duration":
			want = "want a duration such as 500ms, 30s, 5m or 1h30m"
		case "bool":
			want = "want true or false"
		default:
			want = errors.Unwrap(err).Error()
		}
		return usagef("--%s %q: %s", f.Name, invalid.GetValue(), want)
	case errors.As(err, &required):
		return syntaxf("--%s needs a value", required.GetSpecifiedName())
	case errors.As(err, &notExist):
		name := notExist.GetSpecifiedName()
		if short := notExist.GetSpecifiedShortnames(); short != "" {
			if cmd.Flags().Lookup(short) != nil {
				return syntaxf("unknown flag -%s: write --%s, with two dashes", short, short)
			}
			return syntaxf("unknown flag -%s in -%s", name, short)
		}
		if s := closestFlag(cmd, name); s != "" {
			return syntaxf("unknown flag --%s; did you mean --%s?", name, s)
		}
		return syntaxf("unknown flag --%s", name)
	}
	return &usageError{msg: err.Error(), seeHelp: true}
}

// closestFlag returns the name of cmd's flag nearest to name (at most two
// edits away, or one that starts with it), or "".
func closestFlag(cmd *cobra.Command, name string) string {
	best, bestDist := "", 3
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := textdist.Distance(name, f.Name)
		if strings.HasPrefix(f.Name, name) && len(name) >= 3 {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	return best
}

// unknownCommand is the usage error of a command name that root lacks,
// with the commands it may have meant.
func unknownCommand(root *cobra.Command, name string) error {
	if s := root.SuggestionsFor(name); len(s) > 0 {
		return syntaxf("unknown command %q; did you mean %s?", name, strings.Join(s, " or "))
	}
	return syntaxf("unknown command %q", name)
}

// needSources requires at least one SOURCE argument.
func needSources(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return syntaxf("name at least one SOURCE (a file, folder, glob or -)")
	}
	return nil
}

// noArgs refuses positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return syntaxf("unexpected argument %q", args[0])
	}
	return nil
}

// printError reports the error that ended cmd and returns the exit code.
func printError(stderr io.Writer, cmd *cobra.Command, err error) int {
	var status exitStatus
	if errors.As(err, &status) {
		return int(status)
	}
	path := "backfill"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	var usage *usageError
	if errors.As(err, &usage) {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		if usage.seeHelp {
			fmt.Fprintf(stderr, "Run \"%s --help\" for usage.\n", path)
		}
		return exitUsage
	}
	fmt.Fprintf(stderr, "%s: %v\n", path, err)
	return exitCode(err)
}
