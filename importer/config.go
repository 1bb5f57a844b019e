// Package importer runs an import: it reads rows from sources, maps them to
// Segment messages, packs them into batches and sends them through a sink,
// writing rejects and counting every row as delivered, rejected or filtered.
// It knows neither file formats nor HTTP.
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
	// appended to. Default: "backfill.rejects.ndjson"; it is created only when
	// there is a reject.
	RejectsPath string
	// Progress, if set, is called about every ProgressInterval with the
	// counts so far, and once more at the end with Final set. It is called
	// from one goroutine at a time and must not block for long.
	Progress func(Progress)
	// ProgressInterval is how often Progress is called. Default: 1s.
	ProgressInterval time.Duration
	// Stats, if set, are the sink's counters of requests, retries, 429s and
	// bytes, reported in Progress and Report.
	Stats SinkStats
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
}

// Defaults.
const (
	DefaultConcurrency      = 4
	DefaultRejectsPath      = "backfill.rejects.ndjson"
	DefaultProgressInterval = time.Second
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
	if err := c.Limits.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.RejectsPath == "" {
		c.RejectsPath = DefaultRejectsPath
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	return c
}
