package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/readers"
)

// PrecheckRows is how many rows of the sources without a schema (NDJSON)
// the columns a mapping names are checked against before anything is
// sent: a column (or path) that occurs in none of them, and is not listed
// under the mapping's optional:, refuses the import.
const PrecheckRows = 1000

// PrecheckError is a mapping that does not fit the sources, found before
// anything was sent: every source at fault, each with its problem (a
// column its header or schema lacks, a column colliding with a key the
// mapping writes, columns that occur in none of the first rows read).
type PrecheckError struct {
	Problems []SourceProblem
}

// SourceProblem is why the mapping does not fit one source (or, for the
// rows read from several NDJSON sources, those sources).
type SourceProblem struct {
	Path string // the source, or several joined with ", "
	Err  error
}

// Error names each source and its problem, one line each.
func (e *PrecheckError) Error() string {
	var b strings.Builder
	b.WriteString("the mapping does not fit the data (checked before sending anything):")
	for _, p := range e.Problems {
		for line := range strings.SplitSeq(p.Err.Error(), "\n") {
			fmt.Fprintf(&b, "\n  %s: %s", p.Path, line)
		}
	}
	return b.String()
}

// Unwrap returns the problems' errors.
func (e *PrecheckError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p.Err
	}
	return errs
}

// precheck checks the spec against every source before anything is read
// for sending: it compiles the spec for the header or schema of each CSV
// and Parquet file, and shows the first PrecheckRows rows of the NDJSON
// files, in order, to a path observer. Sources are opened at their start
// and closed again; the pipeline reads them afresh, so each row is still
// sent once. Standard input, which cannot be read twice, is checked as it
// is read instead (see gate). The cost is one open per file and at most
// PrecheckRows rows in all.
func (r *run) precheck(ctx context.Context) error {
	spec := r.cfg.Spec
	if spec == nil || spec.Passthrough() {
		return nil
	}
	obs := spec.NewPathObserver()
	var problems []SourceProblem
	var observed []string // the sources the observed rows came from
	left := PrecheckRows  // rows still to read, malformed ones included
	opts := r.cfg.Reader
	opts.Progress = nil // the pipeline counts the bytes it reads
	if r.selectCols != nil {
		opts.Select = r.selectCols
	}
	for i := range r.sources {
		src := &r.sources[i]
		if src.Path == "-" {
			continue
		}
		format := opts.Format
		if format == "" {
			format = src.Format
		}
		if format == readers.FormatNDJSON && left <= 0 {
			continue
		}
		rows, err := r.precheckSource(ctx, src, opts, obs, &left)
		var pe *sourceProblem
		switch {
		case errors.As(err, &pe):
			problems = append(problems, SourceProblem{Path: src.Path, Err: pe.err})
		case err != nil:
			return err
		}
		if rows > 0 {
			observed = append(observed, src.Path)
		}
	}
	if err := obs.Err(); err != nil {
		problems = append(problems, SourceProblem{Path: sourcesText(observed), Err: err})
	}
	if len(problems) > 0 {
		return &PrecheckError{Problems: problems}
	}
	return nil
}

// sourcesText names the sources rows were read from: all of them, or the
// first three and how many more.
func sourcesText(paths []string) string {
	const most = 3
	if len(paths) <= most {
		return strings.Join(paths, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(paths[:most], ", "), len(paths)-most)
}

// sourceProblem marks an error of precheckSource that is a problem of
// the mapping with the source, not one of reading it.
type sourceProblem struct{ err error }

func (e *sourceProblem) Error() string { return e.err.Error() }

// precheckSource opens one source: with a schema it compiles the spec for
// it; without, it reads rows, showing the well-formed ones to obs, until
// *left rows (malformed ones count too) are read. It returns the number
// of rows shown.
func (r *run) precheckSource(ctx context.Context, src *readers.Source, opts readers.Options, obs *mappings.PathObserver, left *int) (int, error) {
	rd, err := readers.Open(ctx, *src, opts, nil)
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	if s, ok := rd.(readers.Schemer); ok {
		if _, err := r.cfg.Spec.Compile(s.Schema(), r.cfg.Mapping); err != nil {
			return 0, &sourceProblem{err}
		}
		return 0, nil
	}
	shown := 0
	for ; *left > 0; *left-- {
		row, err := rd.Next(ctx)
		if err == io.EOF {
			break
		}
		if _, ok := errors.AsType[*readers.RowError](err); ok {
			continue // a reject of its own when the row is read for sending
		}
		if err != nil {
			return shown, err
		}
		obs.Observe(&row)
		shown++
	}
	return shown, nil
}

// gate holds the first rows of standard input back from the map stage
// until the columns the mapping names were seen in them: standard input
// cannot be opened twice, so it is checked as it is read. It holds at
// most PrecheckRows rows, malformed ones included (two blocks).
type gate struct {
	obs  *mappings.PathObserver
	held []block
	seen int // rows held, malformed ones included
	open bool
}

// newGate returns the gate of a source, or nil if its rows need none.
// Standard input with a header (CSV) needs none: the spec is compiled
// for it here, before any of its rows is handed on.
func (r *run) newGate(src *readers.Source, schema []string) (*gate, error) {
	spec := r.cfg.Spec
	if src.Path != "-" || spec == nil || spec.Passthrough() {
		return nil, nil
	}
	if schema != nil {
		if _, err := spec.Compile(schema, r.cfg.Mapping); err != nil {
			return nil, &PrecheckError{Problems: []SourceProblem{{Path: src.Path, Err: err}}}
		}
		return nil, nil
	}
	return &gate{obs: spec.NewPathObserver()}, nil
}

// pass hands blk on through the gate g (nil: no gate): held until the
// gate has seen PrecheckRows rows or the source ended (end), then checked
// and released in order, or refused with a *PrecheckError.
func (r *run) pass(ctx context.Context, g *gate, blk *block, out chan<- block, end bool) error {
	blk.cut()
	if g == nil || g.open {
		return r.handOn(ctx, blk, out)
	}
	for i := range blk.items {
		if it := &blk.items[i]; it.err == nil && g.seen+i < PrecheckRows {
			g.obs.Observe(&it.row)
		}
	}
	g.seen += len(blk.items)
	if len(blk.items) > 0 {
		g.held = append(g.held, *blk)
		blk.items = r.newItems()
	}
	if !end && g.seen < PrecheckRows {
		return nil
	}
	if err := g.obs.Err(); err != nil {
		return &PrecheckError{Problems: []SourceProblem{{Path: blk.src.Path, Err: err}}}
	}
	g.open = true
	for i := range g.held {
		if err := r.handOn(ctx, &g.held[i], out); err != nil {
			return err
		}
	}
	g.held = nil
	return nil
}
