package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/backfillhq/backfill/sink"
)

const serveAbout = `Runs a Segment-compatible receiver for trying imports locally, without an
account. It accepts POST /v1/batch and /v1/import (and the single-message
endpoints /v1/track, /v1/identify, ...), plain or gzip, enforces Segment's size
limits and message rules (a batch with an invalid message is refused whole
with 400, naming the message), and appends every accepted message to --out as
NDJSON. When $SEGMENT_WRITE_KEY or --write-key-file gives a key, requests must
carry it as Basic auth user; otherwise any key is accepted.

With --discard it checks nothing and keeps nothing: every authenticated
request is read and answered 200, so that an import's speed can be measured
without the receiver's own work on the same machine.

It prints its URL on stdout once it listens and runs until interrupted.`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newCommand("serve", "backfill serve [flags]", serveAbout, stderr)
	fs := cmd.fs
	addr := fs.String("addr", "127.0.0.1:8088", "`HOST:PORT` to listen on (port 0 picks a free port)")
	out := fs.String("out", "received.ndjson", "append accepted messages to `FILE` as NDJSON (- for stdout)")
	keyFile := fs.String("write-key-file", "", "require the write key in `FILE` (default: $SEGMENT_WRITE_KEY if set)")
	urlFile := fs.String("url-file", "", "write the receiver's URL to `FILE` once it listens, for scripts")
	discard := fs.Bool("discard", false, "accept every authenticated request without checking or keeping its messages (--out is not written)")
	if _, code, done := cmd.parse(args, false, stdout, stderr); done {
		return code
	}
	key, err := readWriteKey(*keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "backfill serve: %v\n", err)
		return exitUsage
	}
	if err := serve(ctx, serveOptions{addr: *addr, out: *out, key: key, urlFile: *urlFile, discard: *discard}, stdout); err != nil {
		fmt.Fprintf(stderr, "backfill serve: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// serveOptions are serve's settings, from the flags.
type serveOptions struct {
	addr, out, key, urlFile string
	discard                 bool
}

// serve runs the receiver until ctx ends.
func serve(ctx context.Context, o serveOptions, stdout io.Writer) error {
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
	rcv := sink.NewReceiver(sink.ReceiverConfig{WriteKey: o.key, Out: w, Discard: o.discard})
	srv := &http.Server{Handler: rcv, ReadHeaderTimeout: 10 * time.Second}
	switch outPath {
	case "":
		fmt.Fprintf(stdout, "receiving on %s, discarding what it receives\n", url)
	default:
		fmt.Fprintf(stdout, "receiving on %s, writing to %s\n", url, outPath)
	case "-":
		fmt.Fprintf(os.Stderr, "receiving on %s\n", url)
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
	if o.discard {
		fmt.Fprintf(os.Stderr, "received %d requests (%d bytes) and discarded them\n", st.Batches, st.Bytes)
	} else {
		fmt.Fprintf(os.Stderr, "received %d messages in %d batches\n", st.Messages, st.Batches)
	}
	return err
}
