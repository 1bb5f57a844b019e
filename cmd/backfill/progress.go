package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/backfillhq/backfill/importer"
)

// logInterval is how often a progress line is logged when stderr is not a
// terminal.
const logInterval = 10 * time.Second

// progressDisplay renders the importer's progress: a bar on a terminal, or a
// log line every logInterval.
type progressDisplay struct {
	w       io.Writer
	logger  *slog.Logger
	bar     bool
	log     bool
	mu      sync.Mutex
	pb      *progressbar.ProgressBar
	lastLog time.Time
	// label is the word for delivered rows: "written" or "would send"
	// for previews.
	label string
	// shown is the bar's value so far: it never moves back.
	shown int64
}

func newProgressDisplay(mode string, stderr io.Writer, logger *slog.Logger) (*progressDisplay, error) {
	d := &progressDisplay{w: stderr, logger: logger, lastLog: time.Now(), label: "delivered"}
	tty := false
	if f, ok := stderr.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	switch mode {
	case "auto":
		d.bar, d.log = tty, !tty
	case "always":
		d.bar = true
	case "never":
	default:
		return nil, fmt.Errorf("--progress %q: want auto, always or never", mode)
	}
	return d, nil
}

// update is the importer's progress callback.
func (d *progressDisplay) update(p importer.Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar {
		if d.pb == nil {
			max := p.BytesTotal
			if max <= 0 {
				max = -1 // unknown size (stdin): a spinner
			}
			d.pb = progressbar.NewOptions64(max,
				progressbar.OptionSetWriter(d.w),
				progressbar.OptionShowBytes(true),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetWidth(24),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionShowDescriptionAtLineEnd(),
			)
		}
		d.pb.Describe(describe(p, d.label))
		d.shown = max(d.shown, settledBytes(p))
		_ = d.pb.Set64(d.shown)
		if p.Final {
			_ = d.pb.Finish()
			fmt.Fprintln(d.w)
		}
		return
	}
	if d.log && (p.Final || time.Since(d.lastLog) >= logInterval) {
		d.lastLog = time.Now()
		d.logger.Info("progress",
			"bytes_read", p.BytesRead, "bytes_total", p.BytesTotal,
			"rows_read", p.RowsRead, strings.ReplaceAll(d.label, " ", "_"), p.Delivered, "rejected", p.Rejected,
			"filtered", p.Filtered, "unsettled", p.Unsettled(), "retries", p.Retries, "throttled", p.Throttled, "request_rate", p.CurrentRate, "found_limit", p.FoundLimit, "paused_seconds", p.PausedSeconds, "last_error", p.LastError,
			"events_per_second", int64(p.EventsPerSecond()), "final", p.Final)
	}
}

// interval is how often the display wants updates: often enough for a
// smooth bar, seldom when it only logs.
func (d *progressDisplay) interval() time.Duration {
	if d.bar {
		return 200 * time.Millisecond
	}
	return time.Second
}

// settledBytes is how far the bar goes: the bytes read, in the share of
// the rows read that are settled, so that it reaches the end when the last
// row is acknowledged, not when it is read.
func settledBytes(p importer.Progress) int64 {
	if p.RowsRead <= 0 {
		return 0
	}
	settled := p.RowsRead - p.Unsettled()
	if settled >= p.RowsRead {
		return p.BytesRead
	}
	return int64(float64(p.BytesRead) * float64(settled) / float64(p.RowsRead))
}

// describe is the text beside the bar: the rows read, and what became of
// those settled, in the words of the report.
func describe(p importer.Progress, label string) string {
	s := fmt.Sprintf("%.0f ev/s  read %d  %s %d  rejected %d",
		p.EventsPerSecond(), p.RowsRead, label, p.Delivered, p.Rejected)
	if p.Filtered > 0 {
		s += fmt.Sprintf("  filtered %d", p.Filtered)
	}
	s += fmt.Sprintf("  retries %d", p.Retries)
	if line := p.Transport.RateLine(p.Elapsed.Seconds()); line != "" {
		s += "  " + line
	}
	if p.LastError != "" {
		s += "  last error: " + p.LastError
	}
	return s
}
