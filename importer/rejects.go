package importer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/backfillhq/backfill/readers"
)

// Reject is one line of the rejects file: where the row was, why it was
// refused, the run that refused it and when, and its raw bytes (as text,
// or base64 when they are not UTF-8), with what it takes to write the row
// back out in its source format (see WriteRejectedRows). A row of a byte
// range that starts mid-file (a shard's part of a file) has no Line: its
// Offset names it, and its Row counts from the range's start.
type Reject struct {
	File   string `json:"file"`
	Line   int64  `json:"line,omitempty"`
	Row    int64  `json:"row"`
	Offset int64  `json:"offset"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
	// Run is the id of the run that wrote the line (Report.RunID), and
	// Time when it wrote it.
	Run  string    `json:"run,omitempty"`
	Time time.Time `json:"time,omitzero"`
	// Format is the source's format: "csv", "ndjson" or "parquet". Raw
	// is the row as read for CSV and NDJSON, and a JSON object of its
	// columns for Parquet.
	Format string `json:"format,omitempty"`
	// Header is the header line of a CSV source, as CSV text with the
	// source's delimiter; empty for a CSV read with named columns
	// (readers.Options.Columns), which has none.
	Header    string `json:"header,omitempty"`
	Raw       string `json:"raw,omitempty"`
	RawBase64 []byte `json:"raw_base64,omitempty"`
	// RawIs is "message" when Raw is the message the destination refused
	// rather than the row it was mapped from; empty for a row.
	RawIs string `json:"raw_is,omitempty"`
	// Message names the entry of messages: ("messages[1]") whose message
	// the destination refused, or whose failure rejected the row, with a
	// mapping of several messages per row; empty otherwise.
	Message string `json:"message,omitempty"`

	// again is set on the line of a message of a row whose rejection
	// another line of the same run already counts.
	again bool
}

// RawIsMessage is Reject.RawIs of a message the destination refused.
const RawIsMessage = "message"

func newReject(pos readers.Position, reason string, err error, raw []byte) Reject {
	r := Reject{File: pos.File, Line: pos.Line, Row: pos.Row, Offset: pos.Offset, Reason: reason, Error: err.Error()}
	if utf8.Valid(raw) {
		r.Raw = string(raw)
	} else {
		r.RawBase64 = bytes.Clone(raw) // a reject outlives the caller's memory
	}
	return r
}

// rejectsFile appends rejects as NDJSON. The file is opened on the first
// reject, so a clean run leaves none behind. Safe for concurrent use.
type rejectsFile struct {
	path    string
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	err     error // the first write error; every later write fails with it
	discard bool  // count rejects, write them nowhere
	device  bool  // path is a device (/dev/null), which cannot be synced
	// written is the file's size with what is buffered: where the next
	// reject goes. Checkpoints record it.
	written int64
	// crash is called at the run's crash points; never nil.
	crash func(point string)
	// run is the id every line carries, and now the clock of its time;
	// nil: the lines carry no time.
	run string
	now func() time.Time
}

// openRejects prepares the rejects file at path for appending. With
// resume, the file is cut back to the size a checkpoint recorded, dropping
// rejects of rows that will be read again (and a line a crash tore); it
// must be at least that long. Without, an existing file is kept, but a
// last line without its newline, torn by a crash of a run that kept no
// checkpoint, is cut off.
func openRejects(path string, resume bool, offset int64) (*rejectsFile, error) {
	r := &rejectsFile{path: path, crash: func(string) {}}
	if path == "" {
		r.discard = true
		return r, nil
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if resume && offset > 0 {
			return nil, fmt.Errorf("rejects: %s is missing, but the checkpoint records %d bytes of rejects in it", path, offset)
		}
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("rejects: %w", err)
	}
	if !st.Mode().IsRegular() {
		// A device keeps nothing to cut back or to compare with.
		r.device = true
		return r, nil
	}
	r.written = st.Size()
	if !resume {
		if r.written, err = cutTornLine(path, st.Size()); err != nil {
			return nil, fmt.Errorf("rejects: %w", err)
		}
		return r, nil
	}
	if st.Size() < offset {
		return nil, fmt.Errorf("rejects: %s has %d bytes, but the checkpoint records %d: it was changed or replaced", path, st.Size(), offset)
	}
	if st.Size() > offset {
		if err := os.Truncate(path, offset); err != nil {
			return nil, fmt.Errorf("rejects: %w", err)
		}
	}
	r.written = offset
	return r, nil
}

// cutTornLine cuts the file at path, size bytes long, back to the end of
// its last complete line, and returns its new size.
func cutTornLine(path string, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// Read back from the end, a block at a time, to the last newline.
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end == size {
		return size, nil
	}
	if err := os.Truncate(path, end); err != nil {
		return 0, err
	}
	return end, nil
}

// size returns where the next reject will be written.
func (r *rejectsFile) size() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.written
}

func (r *rejectsFile) write(rej Reject) error {
	rej.Run = r.run
	if r.now != nil {
		rej.Time = r.now().UTC()
	}
	line, err := json.Marshal(rej)
	if err != nil {
		return fmt.Errorf("rejects: encode: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if r.discard {
		r.written += int64(len(line)) + 1
		return nil
	}
	if r.f == nil {
		f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			r.err = fmt.Errorf("rejects: %w", err)
			return r.err
		}
		r.f, r.w = f, bufio.NewWriterSize(f, 64<<10)
	}
	line = append(line, '\n')
	r.written += int64(len(line))
	if n := r.w.Available(); len(line) > n && n > 0 {
		// The line straddles the end of the buffer: as bufio would, fill
		// the buffer and write it out, which leaves the line's head alone
		// in the file until its tail follows.
		if _, err := r.w.Write(line[:n]); err != nil {
			r.err = fmt.Errorf("rejects: %w", err)
			return r.err
		}
		if err := r.w.Flush(); err != nil {
			r.err = fmt.Errorf("rejects: %w", err)
			return r.err
		}
		r.crash(crashRejectsTornLine)
		line = line[n:]
	}
	if _, err := r.w.Write(line); err != nil {
		r.err = fmt.Errorf("rejects: %w", err)
	}
	return r.err
}

// flush writes buffered rejects to disk and syncs the file.
func (r *rejectsFile) flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil || r.err != nil {
		return r.err
	}
	if err := r.w.Flush(); err != nil {
		r.err = fmt.Errorf("rejects: %w", err)
		return r.err
	}
	if r.device {
		return nil
	}
	if err := r.f.Sync(); err != nil {
		r.err = fmt.Errorf("rejects: %w", err)
	}
	return r.err
}

func (r *rejectsFile) close() error {
	err := r.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		if cerr := r.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("rejects: %w", cerr)
		}
		r.f = nil
	}
	return err
}
