package importer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"unicode/utf8"

	"github.com/backfillhq/backfill/readers"
)

// Reject is one line of the rejects file: where the row was, why it was
// refused, and its raw bytes (as text, or base64 when they are not UTF-8).
type Reject struct {
	File      string `json:"file"`
	Line      int64  `json:"line,omitempty"`
	Row       int64  `json:"row"`
	Offset    int64  `json:"offset"`
	Reason    string `json:"reason"`
	Error     string `json:"error"`
	Raw       string `json:"raw,omitempty"`
	RawBase64 []byte `json:"raw_base64,omitempty"`
}

func newReject(pos readers.Position, reason string, err error, raw []byte) Reject {
	r := Reject{File: pos.File, Line: pos.Line, Row: pos.Row, Offset: pos.Offset, Reason: reason, Error: err.Error()}
	if utf8.Valid(raw) {
		r.Raw = string(raw)
	} else {
		r.RawBase64 = raw
	}
	return r
}

// rejectsFile appends rejects as NDJSON. The file is opened on the first
// reject, so a clean run leaves none behind. Safe for concurrent use.
type rejectsFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	err  error // the first write error; every later write fails with it
}

func (r *rejectsFile) write(rej Reject) error {
	line, err := json.Marshal(rej)
	if err != nil {
		return fmt.Errorf("rejects: encode: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
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
	if _, err := r.w.Write(line); err != nil {
		r.err = fmt.Errorf("rejects: write %s: %w", r.path, err)
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
		r.err = fmt.Errorf("rejects: write %s: %w", r.path, err)
		return r.err
	}
	if err := r.f.Sync(); err != nil {
		r.err = fmt.Errorf("rejects: sync %s: %w", r.path, err)
	}
	return r.err
}

func (r *rejectsFile) close() error {
	err := r.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		if cerr := r.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("rejects: close %s: %w", r.path, cerr)
		}
		r.f = nil
	}
	return err
}
