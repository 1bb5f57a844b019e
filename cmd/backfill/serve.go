package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/backfillhq/backfill/sink/receiver"
)

const serveAbout = `Runs a Segment-compatible receiver for trying imports locally, without an
account. It accepts POST /v1/batch and /v1/import (and the single-message
endpoints /v1/track, /v1/identify, ...), plain or gzip, and answers as Segment
does: 400 only for a malformed request (invalid JSON, a body over 500 KB, a
message over 32 KB), refused whole; 200 for any well-formed one. It appends the
messages Segment would keep to --out as NDJSON. A message Segment would accept
and drop (no userId or anonymousId, a track without event, a messageId over
100 characters, ...; also one without a valid timestamp) is not written: it is
logged on stderr as "Segment would drop this message" with its reason, and
counted by reason in the summary printed when serve stops. When
$SEGMENT_WRITE_KEY or --write-key-file gives a key, requests must carry it as
Basic auth user; otherwise any key is accepted.

With --discard it checks nothing and keeps nothing: every authenticated
request is read and answered 200, so that an import's speed can be measured
without the receiver's own work on the same machine.

With --max-rps N it accepts at most N requests in any second and answers
the others 429 with Retry-After: 1, as Segment does when a workspace goes over
its limit, so that an import can be tried against a limited receiver. Its
answers state the limit in X-RateLimit-Limit, X-RateLimit-Remaining and
RateLimit-Policy, unless --hide-limit.

It prints its URL on stdout once it listens and runs until interrupted.

Exit codes: 0 stopped by Ctrl-C or SIGTERM; 1 it could not listen or write
--out; 64 a wrong flag.`

// newServeCommand returns "backfill serve".
func newServeCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		o       serveOptions
		keyFile string
	)
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run a local Segment-compatible receiver",
		Long:  serveAbout,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateAddr(o.addr); err != nil {
				return err
			}
			if err := nonEmpty("out", "write-key-file", "url-file")(cmd.Flags()); err != nil {
				return err
			}
			if err := o.validateLimit(); err != nil {
				return &usageError{msg: err.Error()}
			}
			return codeErr(runServe(cmd.Context(), o, keyFile, stdout, stderr))
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8088", "`HOST:PORT` to listen on (port 0 picks a free port)")
	fs.StringVar(&o.out, "out", "received.ndjson", "append accepted messages to `FILE` as NDJSON (- for stdout)")
	fs.StringVar(&keyFile, "write-key-file", "", "require the write key in `FILE` (default: $SEGMENT_WRITE_KEY if set)")
	fs.StringVar(&o.urlFile, "url-file", "", "write the receiver's URL to `FILE` once it listens, for scripts")
	fs.BoolVar(&o.discard, "discard", false, "accept every authenticated request without checking or keeping its messages (--out is not written)")
	fs.IntVar(&o.maxRPS, "max-rps", 0, "accept at most `N` requests in any second and answer the others 429 with Retry-After: 1, as Segment does over a workspace's limit (0: no limit)")
	fs.BoolVar(&o.hideLimit, "hide-limit", false, "with --max-rps, leave out the X-RateLimit-Limit, X-RateLimit-Remaining and RateLimit-Policy headers that state the limit")
	return cmd
}

// runServe runs the receiver until ctx ends and returns the exit code.
func runServe(ctx context.Context, o serveOptions, keyFile string, stdout, stderr io.Writer) int {
	key, err := readWriteKey(keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "backfill serve: %v\n", err)
		return exitUsage
	}
	o.key = key
	if err := serve(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "backfill serve: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// serveOptions are serve's settings, from the flags.
type serveOptions struct {
	addr, out, key, urlFile string
	discard                 bool
	maxRPS                  int
	hideLimit               bool
}

// validateLimit checks --max-rps and --hide-limit.
func (o serveOptions) validateLimit() error {
	switch {
	case o.maxRPS < 0:
		return fmt.Errorf("--max-rps is %d: want a number of requests a second, or 0 for no limit", o.maxRPS)
	case o.hideLimit && o.maxRPS == 0:
		return errors.New("--hide-limit needs --max-rps")
	}
	return nil
}

// serve runs the receiver until ctx ends.
func serve(ctx context.Context, o serveOptions, stdout, stderr io.Writer) error {
	addr, outPath, urlFile := o.addr, o.out, o.urlFile
	// The receiver writes each accepted request in one call, so the file
	// is written through: what was acknowledged is on disk.
	var w io.Writer = stdout
	if o.discard {
		outPath, w = "", io.Discard
	} else if outPath != "-" {
		f, err := os.OpenFile(outPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		defer f.Close()
		w = f
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	rcv := receiver.New(receiver.Config{WriteKey: o.key, Out: w, Discard: o.discard,
		MaxRPS: o.maxRPS, HideLimit: o.hideLimit,
		Logger: slog.New(slog.NewTextHandler(stderr, nil))})
	srv := &http.Server{Handler: rcv, ReadHeaderTimeout: 10 * time.Second}
	closeUnused := trackUnusedConns(srv)
	srv.RegisterOnShutdown(closeUnused)
	switch outPath {
	case "":
		fmt.Fprintf(stdout, "receiving on %s, discarding what it receives\n", url)
	case "-":
		fmt.Fprintf(stderr, "receiving on %s\n", url)
	default:
		fmt.Fprintf(stdout, "receiving on %s, writing to %s\n", url, outPath)
	}
	if urlFile != "" {
		if err := os.WriteFile(urlFile, []byte(url+"\n"), 0o644); err != nil {
			ln.Close()
			return fmt.Errorf("--url-file: %w", err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	st := rcv.Stats()
	if st.Throttled > 0 {
		fmt.Fprintf(stderr, "answered %d requests 429 over the limit of %d a second\n", st.Throttled, o.maxRPS)
	}
	switch {
	case o.discard:
		fmt.Fprintf(stderr, "received %d requests (%d bytes) and discarded them\n", st.Batches, st.Bytes)
	case st.Dropped == 0:
		fmt.Fprintf(stderr, "received %d messages in %d batches\n", st.Messages, st.Batches)
	default:
		byReason := rcv.DroppedByReason()
		reasons := slices.Sorted(maps.Keys(byReason))
		parts := make([]string, len(reasons))
		for i, r := range reasons {
			parts[i] = fmt.Sprintf("%s: %d", r, byReason[r])
		}
		fmt.Fprintf(stderr, "received %d messages in %d batches, and %d that Segment would drop (%s)\n",
			st.Messages, st.Batches, st.Dropped, strings.Join(parts, ", "))
	}
	return err
}

// trackUnusedConns records the server's connections that have not begun a
// request yet and returns a function that closes them. HTTP clients dial
// connections ahead and may never use them; Shutdown waits for such a
// connection as if a request were coming, for up to five seconds, so serve
// closes them when it stops (after the listener is closed, through
// RegisterOnShutdown). A client that is in the middle of sending its first
// request on one sees a closed connection and, like backfill's own sender,
// retries.
func trackUnusedConns(srv *http.Server) (closeUnused func()) {
	var mu sync.Mutex
	unused := make(map[net.Conn]struct{})
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if s == http.StateNew {
			unused[c] = struct{}{}
		} else {
			delete(unused, c)
		}
	}
	return func() {
		mu.Lock()
		defer mu.Unlock()
		for c := range unused {
			c.Close()
			delete(unused, c)
		}
	}
}
