package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet/file"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/klauspost/compress/gzip"
)

// floorHelp says what each floor does; the floors run on one goroutine.
const floorHelp = `floor: the least work any importer must do on the file, on one goroutine, measured in this run
over %s (rows/s):
  NDJSON   lines split with bufio.Reader and each decoded with encoding/json into a map[string]any
           (the only JSON library the project uses; its readers scan lines with their own scanner)
  CSV      records split by encoding/csv with ReuseRecord (fields become strings)
  Parquet  record batches of 8,192 rows read with pqarrow, all columns, one row group at a time
  .gz      decompressed with klauspost/compress/gzip, the readers' decompressor`

// floorBatchRows is the record batch size of the Parquet floor.
const floorBatchRows = 8192

// floor reads the file at path as format the least costly way an importer
// could, stopping after limit rows (Parquet: after the batch that reaches
// limit) unless limit is 0, and returns the rows it read.
func floor(ctx context.Context, path, format string, limit int64) (int64, error) {
	if limit <= 0 {
		limit = math.MaxInt64
	}
	if format == "parquet" {
		return floorParquet(ctx, path, limit)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	switch format {
	case "ndjson":
		return floorNDJSON(r, limit)
	case "csv":
		return floorCSV(r, limit)
	}
	return 0, fmt.Errorf("floor: unknown format %q", format)
}

// floorNDJSON decodes every line into a map[string]any.
func floorNDJSON(r io.Reader, limit int64) (int64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var n int64
	for n < limit {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return n, fmt.Errorf("line %d: longer than 1 MiB", n+1)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			var m map[string]any
			if jerr := json.Unmarshal(line, &m); jerr != nil {
				return n, fmt.Errorf("line %d: %w", n+1, jerr)
			}
			n++
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// floorCSV splits every record; the header is not counted.
func floorCSV(r io.Reader, limit int64) (int64, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<20))
	cr.ReuseRecord = true
	if _, err := cr.Read(); err != nil {
		if err == io.EOF {
			return 0, nil
		}
		return 0, err
	}
	var n int64
	for n < limit {
		if _, err := cr.Read(); err != nil {
			if err == io.EOF {
				break
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// floorParquet reads every column of every row group as Arrow record
// batches, one row group at a time.
func floorParquet(ctx context.Context, path string, limit int64) (int64, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return 0, err
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: floorBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return 0, err
	}
	var n int64
	for g := 0; g < pf.NumRowGroups() && n < limit; g++ {
		rr, err := fr.GetRecordReader(ctx, nil, []int{g})
		if err != nil {
			return n, err
		}
		for n < limit && rr.Next() {
			n += rr.Record().NumRows()
		}
		err = rr.Err()
		rr.Release()
		if err != nil && err != io.EOF {
			return n, err
		}
	}
	return n, nil
}
