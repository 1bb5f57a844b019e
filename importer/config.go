package importer

import (
	"errors"
	"fmt"
	"time"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// Config describes one import. The zero value of each optional field means
// its documented default.
type Config struct {
	// Sources are files, folders, globs or "-" (stdin). Required.
	Sources []string
	// Reader configures how sources are found and parsed.
	Reader readers.Options
	// Spec is the mapping from rows to messages. Default (nil): every row
	// is already a Segment message (passthrough).
	Spec *mappings.Spec
	// Mapping configures the mapper (its clock, for "missing: now").
	Mapping mappings.Options
	// Sink receives the batches. Required.
	Sink sink.Sink
	// Limits caps batches. Default: Segment's caps (500,000 bytes a request,
	// 32,000 a message, 2,500 messages).
	Limits sink.Limits
	// Concurrency is the number of batches in flight at once. Default: 4.
	Concurrency int
	// RejectsPath is the NDJSON file malformed rows and refused messages are
	// appended to, one line each (see Reject). Default: beside the
	// checkpoint, named after it (RejectsPathFor), or without a checkpoint
	// "backfill.rejects.ndjson"; it is created only when there is a reject.
	// A run that does not resume a checkpoint moves a rejects file that
	// holds anything aside first (NAME.1.ndjson, NAME.2.ndjson, …), so
	// that its file holds only the rejects of this import. It is not part
	// of the checkpoint's identity: a resumed run given another rejects
	// file continues in it, the earlier runs' rejects copied into it.
	RejectsPath string
	// DiscardRejects counts rejects without writing them anywhere, for
	// checks that must leave no file behind.
	DiscardRejects bool
	// Progress, if set, is called about every ProgressInterval with the
	// counts so far, and once more at the end with Final set. It is called
	// from one goroutine at a time and must not block for long.
	Progress func(Progress)
	// ProgressInterval is how often Progress is called. Default: 1s.
	ProgressInterval time.Duration
	// Stats, if set, are the sink's counters of requests, retries, 429s and
	// bytes, reported in Progress and Report.
	Stats SinkStats

	// CheckpointPath is the checkpoint file. If it exists, the run resumes
	// from it; it is written at most every CheckpointInterval and at the
	// end. Default: "" (no checkpoint). Imports from stdin keep none. It
	// may be an object in a bucket (IsBucketURL): s3://BUCKET/KEY,
	// gs://BUCKET/KEY or azblob://CONTAINER/KEY, with the driver's options
	// as the URL's query; its lock is then an object beside it (see
	// LockStaleAfter).
	CheckpointPath string
	// CheckpointInterval is the longest time between checkpoint writes
	// while batches are acknowledged; a write also happens as soon as half
	// of MaxInFlight waits for one. Zero means the default, 1s; a negative
	// value writes after every acknowledged batch.
	CheckpointInterval time.Duration
	// Restart discards an existing checkpoint and starts over.
	Restart bool
	// Preview says that Sink sends nothing (a dry run, a file, a stub). It
	// is recorded in the checkpoint: a run that sends refuses to resume the
	// checkpoint of a preview, and a preview that of a run that sends.
	// Default: false.
	Preview bool
	// Destination names where the messages go, for the checkpoint: a
	// resumed import must send to the same place, so a checkpoint of
	// another destination is refused. For example "segment
	// https://api.segment.io", "file /abs/path/out.ndjson" or "stub". It is
	// recorded as it is: never put a write key in it. Default: "".
	Destination string
	// Options describe what else changes the messages sent, for callers
	// that know of more; they are recorded in the checkpoint, and a resumed
	// run must have the same. Run adds the identity it computes itself:
	// the mapping's fingerprint (Spec), the time window and future
	// tolerance (Mapping), Destination, reader options and limits; those
	// keys ("mapping", "since", "until", "future_tolerance",
	// "destination", …) are Run's. Default: none.
	Options map[string]string
	// Command is the command line that resumes this import, recorded in the
	// checkpoint for people.
	Command []string
	// MaxInFlight caps the batches read but not yet settled (and, with a
	// checkpoint, not yet recorded in one): at most MaxInFlight ×
	// MaxMessages rows are sent again after a crash. Default: 8 × Concurrency,
	// so that a checkpoint being written rarely holds the pipeline up.
	MaxInFlight int
	// DrainTimeout is how long batches already being sent may take to
	// finish once ctx ends. Default: 30s.
	DrainTimeout time.Duration

	// RepeatedIDLimit is over how many messages with content-derived
	// messageIds, the run's first, it counts those whose id an earlier
	// message of the run has (Report.RepeatedIDs), keeping 8 bytes of
	// each id. Default (0): DefaultRepeatedIDLimit; negative: not
	// counted.
	RepeatedIDLimit int

	// MaxRejects stops the run once more rows than this are rejected in
	// the whole import (earlier runs of a resumed import included).
	// Default (0): no limit; NoRejects (any negative value): the first
	// reject stops the run.
	MaxRejects int64
	// MaxRejectRate stops the run once more than this share of the rows
	// are rejected (0.5 is 50%): of every row of the import so far
	// (earlier runs of a resumed import included) once there are
	// RejectWindowMin, until the run has read RejectWindow rows; then of
	// the run's last RejectWindow rows. With the defaults, an import
	// whose first 1,000 rows are all rejected stops there, and so does
	// one that rejects more than half of 10,000 rows in a row. Default
	// (0): DefaultMaxRejectRate, 0.5; negative, or 1: no limit.
	MaxRejectRate float64
	// RejectWindow is the number of rows MaxRejectRate is measured over.
	// Default: 10,000.
	RejectWindow int
	// RejectWindowMin is the number of rows a run reads before
	// MaxRejectRate applies; at most RejectWindow. Default: 1,000.
	RejectWindowMin int

	// DeliveredLabel is the word the summary uses for the rows whose
	// messages the sink took, for sinks that send nothing: "written" for
	// a file, "would send" for a stub. Default: "delivered".
	DeliveredLabel string

	// Outputs are the other files the run's caller writes (a report, an
	// output of messages, profiles): like the checkpoint, the rejects file
	// (and those moved aside from it) and their lock files, a folder or
	// glob source never reads them as input, and naming one as a source is
	// an error.
	Outputs []string

	// Limit, if positive, ends the import after its first Limit rows
	// (in reading order, across all sources; rows that earlier runs of a
	// resumed import settled count too), as if the input ended there:
	// the checkpoint then resumes at the next row, and Report.Complete is
	// false. Default: 0, every row.
	Limit int64

	// Shard, if its Count is above 1, makes the run one of Count shards of
	// the import, which reads only the parts of the sources that fall to
	// it (see Parts) and is recorded in the checkpoint: a checkpoint of
	// another shard is refused, and so is a shard whose checkpoint path,
	// named by ShardCheckpointPath, has siblings of another count in its
	// folder, or under its prefix in a bucket (*ShardCountError). Standard input cannot be split. With a Spec
	// whose messageIds are derived from the rows' positions
	// (Spec.PositionIDs), NDJSON files are not cut into byte ranges:
	// their rows' ordinals are known only from the file's start. Default:
	// no shards.
	Shard Shard

	// Sample, if set, is called with each of the first SampleRows rows read
	// and what became of it, from the map stage, before the row is sent.
	Sample func(Sample)
	// SampleRows is how many rows Sample sees. Default: 5.
	SampleRows int

	// crashHook, if set, is called at each crash point of the run (see
	// crashpoint.go), for tests of this package.
	crashHook func(point string)
}

// Sample is a row and the message mapped from it, or why it has none.
type Sample struct {
	Pos     readers.Position
	Raw     []byte // the row as read (a JSON object of its columns for binary formats)
	Message []byte // the message's JSON, nil if the row was rejected or filtered
	// Messages holds each message of the row, Message first, with a
	// mapping of several messages per row (messages:); nil otherwise.
	Messages [][]byte
	Err      error // why the row was rejected or filtered
}

// SinkStats reports a sink's transport counters.
type SinkStats interface {
	Transport() Transport
}

// Transport are the counters of a sink that talks to a server.
type Transport struct {
	Requests  int64 `json:"requests"`
	Retries   int64 `json:"retries"`
	Throttled int64 `json:"throttled"`
	BytesSent int64 `json:"bytes_sent"`
	// CurrentRate is the request rate in force, per second; 0 when there
	// is no limit.
	CurrentRate float64 `json:"current_rate"`
	// FoundLimit is the request rate, per second, that the sink found the
	// server to allow (stated in its headers, or where its 429s put the
	// rate); 0 while none was found.
	FoundLimit float64 `json:"found_limit,omitempty"`
	// PausedSeconds is how long Retry-After pauses held every sender.
	PausedSeconds float64 `json:"paused_seconds,omitempty"`
	// LastError is the cause, in a few words, of the last failed attempt
	// the sink retried ("503 Service Unavailable", "connection refused");
	// empty if none failed.
	LastError string `json:"last_error,omitempty"`
}

// Defaults.
const (
	DefaultConcurrency        = 4
	DefaultRejectsPath        = "backfill.rejects.ndjson"
	DefaultProgressInterval   = time.Second
	DefaultCheckpointInterval = time.Second
	DefaultDrainTimeout       = 30 * time.Second
)

// Validate reports the first field that is missing or out of range.
func (c *Config) Validate() error {
	if len(c.Sources) == 0 {
		return errors.New("config: Sources is empty: name at least one file, folder, glob or -")
	}
	if c.Sink == nil {
		return errors.New("config: Sink is nil")
	}
	if c.Concurrency < 0 {
		return fmt.Errorf("config: Concurrency is %d, want at least 1", c.Concurrency)
	}
	if c.MaxInFlight < 0 {
		return fmt.Errorf("config: MaxInFlight is %d, want at least 1", c.MaxInFlight)
	}
	if c.MaxRejectRate > 1 || c.MaxRejectRate != c.MaxRejectRate {
		return fmt.Errorf("config: MaxRejectRate is %g, want a share up to 1, or negative for no limit", c.MaxRejectRate)
	}
	if c.Limit < 0 {
		return fmt.Errorf("config: Limit is %d, want 0 (every row) or more", c.Limit)
	}
	if c.RejectWindow < 0 {
		return fmt.Errorf("config: RejectWindow is %d, want at least 1", c.RejectWindow)
	}
	if c.RejectWindowMin < 0 {
		return fmt.Errorf("config: RejectWindowMin is %d, want at least 1", c.RejectWindowMin)
	}
	if c.DrainTimeout < 0 {
		return fmt.Errorf("config: DrainTimeout is %s, want at least 0", c.DrainTimeout)
	}
	if err := c.Shard.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.Limits.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if most := c.Limits.WithDefaults().MaxMessages; c.Spec != nil && c.Spec.Entries() > most {
		return fmt.Errorf("config: Limits.MaxMessages is %d, fewer than the %d messages a row of the mapping may make (messages:), which are sent in one batch", most, c.Spec.Entries())
	}
	return c.validateBucketPaths()
}

func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.RejectsPath == "" && !c.DiscardRejects {
		c.RejectsPath = DefaultRejectsPath
		if c.CheckpointPath != "" {
			c.RejectsPath = RejectsPathFor(c.CheckpointPath)
		}
	}
	if c.DiscardRejects {
		c.RejectsPath = ""
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 8 * c.Concurrency
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.SampleRows == 0 {
		c.SampleRows = 5
	}
	if c.RejectWindow == 0 {
		c.RejectWindow = DefaultRejectWindow
	}
	if c.RejectWindowMin == 0 {
		c.RejectWindowMin = DefaultRejectWindowMin
	}
	if c.MaxRejectRate == 0 {
		c.MaxRejectRate = DefaultMaxRejectRate
	}
	if c.DeliveredLabel == "" {
		c.DeliveredLabel = "delivered"
	}
	return c
}
