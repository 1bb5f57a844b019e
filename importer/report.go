package importer

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Report sums up an import. Every row read is counted once as delivered,
// rejected or filtered once it is settled (see Progress), the same counts a
// checkpoint records; a run that stopped early counts the rows it had read
// but not settled as Unsettled: they are read again on resume. RowsRead
// always equals the sum of the four.
type Report struct {
	Files            int              `json:"files"`
	BytesTotal       int64            `json:"bytes_total"`
	RowsRead         int64            `json:"rows_read"`
	Delivered        int64            `json:"delivered"`
	Rejected         int64            `json:"rejected"`
	RejectedByReason map[string]int64 `json:"rejected_by_reason"`
	Filtered         int64            `json:"filtered"`
	// FilteredByRule counts the filtered rows by the drop rule of the
	// mapping that filtered them; rows outside the time window
	// (--since, --until) are filtered by no rule and not in it.
	FilteredByRule map[string]int64 `json:"filtered_by_rule,omitempty"`
	// FilteredNoMessage counts the filtered rows of which no entry of a
	// mapping's messages: made a message (every when was false).
	FilteredNoMessage int64 `json:"filtered_no_message,omitempty"`
	// Messages counts the messages, with a mapping of several messages
	// per row (messages:); nil otherwise. The row counts above still
	// count rows.
	Messages *MessageCounts `json:"messages,omitempty"`
	// TopReasons are this run's most frequent reject reasons, with the
	// first example of each.
	TopReasons []ReasonCount `json:"top_reasons,omitempty"`
	// Hint says what most often causes the rejects, when at least half
	// of the rows read were rejected and one of the common causes fits:
	// no mapping, or timestamps without a zone.
	Hint      string `json:"hint,omitempty"`
	Unsettled int64  `json:"unsettled"`
	// RepeatedIDs counts the messages of this run whose content-derived
	// messageId an earlier message of this run had: rows identical in
	// every field the id covers, of which Segment keeps only the first.
	// It covers IDsChecked of the DerivedIDs messages with such ids: the
	// first Config.RepeatedIDLimit of them.
	RepeatedIDs int64 `json:"repeated_ids"`
	IDsChecked  int64 `json:"ids_checked"`
	DerivedIDs  int64 `json:"derived_ids"`
	Batches     int64 `json:"batches"`
	Transport
	DurationSeconds float64 `json:"duration_seconds"`
	EventsPerSecond float64 `json:"events_per_second"`
	RejectsFile     string  `json:"rejects_file,omitempty"`
	// RejectsMovedTo is where the run moved the rejects file of an
	// earlier import aside to, before it started its own; RejectsCopiedFrom
	// the rejects file of the earlier runs of this import that a resumed
	// run, given another one, copied into its own. Empty if none.
	RejectsMovedTo    string `json:"rejects_moved_to,omitempty"`
	RejectsCopiedFrom string `json:"rejects_copied_from,omitempty"`
	// RunID is the run's random id, which every line it wrote to the
	// rejects file carries.
	RunID          string `json:"run_id,omitempty"`
	CheckpointPath string `json:"checkpoint,omitempty"`
	// Shard is the run's shard, "INDEX/COUNT" (Config.Shard), if the
	// import is split into shards; Files then counts the parts of the
	// sources that fell to it.
	Shard string `json:"shard,omitempty"`
	// CheckpointSaved is set when the run's last write of its checkpoint
	// succeeded, so that it records where the run stopped. A run whose
	// last write failed leaves the checkpoint an earlier write made, which
	// resumes from further back.
	CheckpointSaved bool `json:"checkpoint_saved,omitempty"`
	// Resumed is set when the run continued from a checkpoint; the counts
	// then cover the whole import, earlier runs included.
	Resumed bool `json:"resumed,omitempty"`
	// AlreadyComplete is set when the checkpoint said the import had
	// finished: nothing was read or sent.
	AlreadyComplete bool   `json:"already_complete,omitempty"`
	Complete        bool   `json:"complete"`
	Error           string `json:"error,omitempty"`
	// DeliveredLabel is Config.DeliveredLabel, the word Summary uses for
	// Delivered.
	DeliveredLabel string `json:"-"`

	// BrokenLinks are the symbolic links inside folders and globs whose
	// targets do not exist or cannot be reached: skipped, as they hold no
	// rows (see readers.Options.BrokenLink).
	BrokenLinks []string `json:"broken_links,omitempty"`
	// ArchiveDaysSkipped are the day folders of Segment's S3 destination
	// layout (segment-logs/SOURCE-ID/DAY/) that the time window skipped
	// without listing them: their day ended more than a day before
	// Since (see readers.Options.ArchiveSince). What is skipped is
	// counted in folders: the objects in them are never listed, so how
	// many there are is not known, and none of them counts as a file or
	// its rows as read.
	ArchiveDaysSkipped []string `json:"archive_days_skipped,omitempty"`
	// Limit is Config.Limit; LimitReached is set when the import stopped
	// there, with rows left after it.
	Limit        int64 `json:"limit,omitempty"`
	LimitReached bool  `json:"limit_reached,omitempty"`
}

// Check verifies that the counts add up: read = delivered + rejected +
// filtered + unsettled, that the rejects by reason sum to Rejected, and
// that the drop rules count no more than Filtered (the time window
// filters by no rule).
func (r *Report) Check() error {
	if sum := r.Delivered + r.Rejected + r.Filtered + r.Unsettled; sum != r.RowsRead {
		return fmt.Errorf("report: %d rows read but %d delivered + %d rejected + %d filtered + %d unsettled = %d",
			r.RowsRead, r.Delivered, r.Rejected, r.Filtered, r.Unsettled, sum)
	}
	var byReason int64
	for _, n := range r.RejectedByReason {
		byReason += n
	}
	if byReason != r.Rejected {
		return fmt.Errorf("report: %d rows rejected but the reasons count %d", r.Rejected, byReason)
	}
	var byRule int64
	for _, n := range r.FilteredByRule {
		byRule += n
	}
	if byRule+r.FilteredNoMessage > r.Filtered {
		return fmt.Errorf("report: %d rows filtered but the drop rules count %d and rows of no message %d", r.Filtered, byRule, r.FilteredNoMessage)
	}
	return nil
}

// Summary renders the report for people, one fact a line.
func (r *Report) Summary() string {
	var b strings.Builder
	status := "complete"
	if !r.Complete {
		status = "stopped"
	}
	files := "files"
	if r.Files == 1 {
		files = "file"
	}
	what := "import"
	if r.Shard != "" {
		what = "shard " + r.Shard + " of the import"
		files = "parts of the sources"
		if r.Files == 1 {
			files = "part of the sources"
		}
	}
	fmt.Fprintf(&b, "%s %s in %s: %d %s, %d rows read\n", what, status,
		time.Duration(r.DurationSeconds*float64(time.Second)).Round(time.Millisecond), r.Files, files, r.RowsRead)
	label := r.DeliveredLabel
	if label == "" {
		label = "delivered"
	}
	fmt.Fprintf(&b, "  %-10s %d\n", label, r.Delivered)
	fmt.Fprintf(&b, "  rejected   %d\n", r.Rejected)
	for _, k := range sortedByCount(r.RejectedByReason) {
		fmt.Fprintf(&b, "    %-22s %d\n", k, r.RejectedByReason[k])
	}
	fmt.Fprintf(&b, "  filtered   %d\n", r.Filtered)
	for _, k := range sortedByCount(r.FilteredByRule) {
		fmt.Fprintf(&b, "    %-22s %d\n", "drop: "+k, r.FilteredByRule[k])
	}
	if r.FilteredNoMessage > 0 {
		fmt.Fprintf(&b, "    %-22s %d\n", "no message", r.FilteredNoMessage)
	}
	if m := r.Messages; m != nil {
		fmt.Fprintf(&b, "  messages: %s %d, rejected %d, not made %d (when false or outside the time window)\n", label, m.Delivered, m.Rejected, m.Filtered)
	}
	if r.RepeatedIDs > 0 || r.IDsChecked < r.DerivedIDs {
		fmt.Fprintf(&b, "  repeated ids %d (messages identical to an earlier one in every field their derived messageId covers: Segment keeps only the first)\n", r.RepeatedIDs)
		if r.IDsChecked < r.DerivedIDs {
			fmt.Fprintf(&b, "    counted over the first %d of %d messages with derived ids\n", r.IDsChecked, r.DerivedIDs)
		}
	}
	if r.LimitReached {
		fmt.Fprintf(&b, "  stopped after the first %d rows (--limit)", r.Limit)
		if r.CheckpointPath != "" {
			b.WriteString("; the checkpoint keeps the place: run the command without --limit to import the rest")
		}
		b.WriteByte('\n')
	}
	if n := len(r.ArchiveDaysSkipped); n > 0 {
		folders, them := "day folders", "them"
		if n == 1 {
			folders, them = "day folder", "it"
		}
		fmt.Fprintf(&b, "  skipped %d %s of Segment's archive before --since, without listing %s: the objects in %s are neither read nor counted\n", n, folders, them, them)
	}
	if r.Unsettled > 0 {
		fmt.Fprintf(&b, "  unsettled  %d (read, not yet settled when the run stopped: read again on resume)\n", r.Unsettled)
	}
	fmt.Fprintf(&b, "  batches %d, requests %d, retries %d, 429s %d, %d bytes sent\n",
		r.Batches, r.Requests, r.Retries, r.Throttled, r.BytesSent)
	fmt.Fprintf(&b, "  %.0f events/s\n", r.EventsPerSecond)
	if line := r.Transport.RateLine(r.DurationSeconds); line != "" {
		fmt.Fprintf(&b, "  throttled by the API: %s\n", line)
	}
	b.WriteString(r.rejectsSummary())
	if r.Hint != "" && !strings.Contains(r.Error, r.Hint) {
		fmt.Fprintf(&b, "  hint: %s\n", r.Hint)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "  error: %s\n", r.Error)
	}
	return b.String()
}

// Progress is a snapshot of a running import, for progress displays. Its
// counts are the Report's: RowsRead counts the rows read, and Delivered,
// Rejected and Filtered the rows settled, in order, as the checkpoint
// records them: delivered once acknowledged, rejected once written to the
// rejects file. The rows read but not settled yet are Unsettled.
type Progress struct {
	BytesRead  int64 // of the underlying files (compressed bytes for compressed files)
	BytesTotal int64 // 0 when unknown (stdin)
	RowsRead   int64
	Delivered  int64
	Rejected   int64
	Filtered   int64
	// RejectedByReason counts the rejected rows by reason, as
	// Report.RejectedByReason does; each call has a copy of its own.
	RejectedByReason map[string]int64
	Transport
	// CheckpointSaved is when the checkpoint was last written; zero
	// without a checkpoint, or before its first write.
	CheckpointSaved time.Time
	Elapsed         time.Duration
	Final           bool // the last call, after the run ended
}

// Unsettled returns the rows read but not yet settled.
func (p Progress) Unsettled() int64 { return p.RowsRead - p.Delivered - p.Rejected - p.Filtered }

// EventsPerSecond is the delivery rate so far.
func (p Progress) EventsPerSecond() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Delivered) / p.Elapsed.Seconds()
}

func (r *run) transport() Transport {
	if r.cfg.Stats == nil {
		return Transport{}
	}
	return r.cfg.Stats.Transport()
}

// report sums up the run. Rejects and filtered rows count once settled;
// delivered rows count once acknowledged.
func (r *run) report(files int, total int64, d time.Duration) Report {
	committed, byReason := r.tracker.counts()
	rep := Report{
		Files:              files,
		BytesTotal:         total,
		RowsRead:           r.read.Load(),
		Delivered:          committed.Delivered,
		Rejected:           committed.Rejected,
		RejectedByReason:   byReason,
		Filtered:           committed.Filtered,
		FilteredByRule:     r.tracker.filtered(),
		Batches:            r.batches.Load(),
		Transport:          r.transport(),
		DurationSeconds:    d.Seconds(),
		RejectsFile:        r.cfg.RejectsPath,
		TopReasons:         r.reasons.top(10),
		RunID:              r.id,
		DeliveredLabel:     r.cfg.DeliveredLabel,
		BrokenLinks:        r.brokenLinks,
		ArchiveDaysSkipped: r.archiveDays,
	}
	rep.RejectsMovedTo, rep.RejectsCopiedFrom = r.rejectsMoved, r.rejectsCopied
	rep.FilteredNoMessage = committed.NoMessage
	if r.cfg.Spec != nil && r.cfg.Spec.Entries() > 0 {
		msgs := committed.Messages
		rep.Messages = &msgs
	}
	if 2*rep.Rejected >= rep.RowsRead {
		rep.Hint = r.reasons.hint(r.cfg.Spec == nil)
	}
	if r.repeats != nil {
		rep.RepeatedIDs, rep.IDsChecked, rep.DerivedIDs = r.repeats.counts()
	}
	rep.Unsettled = rep.RowsRead - rep.Delivered - rep.Rejected - rep.Filtered
	if d > 0 {
		rep.EventsPerSecond = float64(rep.Delivered-r.startDelivered) / d.Seconds()
	}
	return rep
}

// reportFrom sums up an import that a checkpoint says is finished.
func reportFrom(cp *Checkpoint, files int, total int64) Report {
	byReason := cp.Totals.RejectedByReason
	if byReason == nil {
		byReason = map[string]int64{}
	}
	rep := Report{
		Files:            files,
		BytesTotal:       total,
		RowsRead:         cp.Totals.Read,
		Delivered:        cp.Totals.Delivered,
		Rejected:         cp.Totals.Rejected,
		RejectedByReason: byReason,
		Filtered:         cp.Totals.Filtered,
		FilteredByRule:   cp.Totals.FilteredByRule,
		RejectsFile:      cp.RejectsFile,
		Complete:         true,
	}
	rep.FilteredNoMessage, rep.Messages = cp.Totals.FilteredNoMessage, cp.Totals.Messages
	return rep
}

// startProgress calls cfg.Progress every interval until the returned function
// is called.
func (r *run) startProgress(total int64, start time.Time) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.progress(total, start, false)
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (r *run) progress(total int64, start time.Time, final bool) {
	if r.cfg.Progress == nil {
		return
	}
	// Rows are read before they settle: read them first, so that a
	// snapshot never has more settled than read.
	read := r.read.Load()
	settled, byReason := r.tracker.counts()
	p := Progress{
		BytesRead:        r.cfg.Reader.Progress.Load(),
		BytesTotal:       total,
		RowsRead:         max(read, settled.Read),
		Delivered:        settled.Delivered,
		Rejected:         settled.Rejected,
		Filtered:         settled.Filtered,
		RejectedByReason: byReason,
		Transport:        r.transport(),
		Elapsed:          time.Since(start),
		Final:            final,
	}
	if ns := r.checkpointSaved.Load(); ns != 0 {
		p.CheckpointSaved = time.Unix(0, ns)
	}
	r.cfg.Progress(p)
}

// sortedByCount returns the keys of counts, the largest count first, then
// by name.
func sortedByCount(counts map[string]int64) []string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, c := counts[keys[i]], counts[keys[j]]
		if a != c {
			return a > c
		}
		return keys[i] < keys[j]
	})
	return keys
}

// MessageCounts counts the messages of a mapping of several messages per
// row (messages:). Delivered and Rejected count the messages made of the
// rows settled: acknowledged, or refused by the destination (each with a
// line of its own in the rejects file). Filtered counts the entries that
// made no message of a row on purpose: their when was false, or their
// timestamp outside the time window. A row with a refused message counts
// as rejected, and its other messages as delivered; a row rejected while
// it was mapped makes no message.
type MessageCounts struct {
	Delivered int64 `json:"delivered"`
	Rejected  int64 `json:"rejected"`
	Filtered  int64 `json:"filtered"`
}

func (c *MessageCounts) add(o MessageCounts) {
	c.Delivered += o.Delivered
	c.Rejected += o.Rejected
	c.Filtered += o.Filtered
}
