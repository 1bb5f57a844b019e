package readers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/backfillhq/backfill/readers"
)

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "events.csv")
	os.WriteFile(path, []byte("ts,event\n2024-03-01T12:00:00Z,signup\n2024-03-01T12:05:00Z\n"), 0o644)

	ctx := context.Background()
	sources, err := readers.Expand([]string{dir}, readers.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, src := range sources {
		r, err := readers.Open(ctx, src, readers.Options{}, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		for {
			row, err := r.Next(ctx)
			if err == io.EOF {
				break
			}
			var bad *readers.RowError
			if errors.As(err, &bad) {
				fmt.Printf("line %d: %s: %v\n", bad.Pos.Line, bad.Reason, bad.Err)
				continue
			}
			if err != nil {
				fmt.Println(err)
				break
			}
			fmt.Printf("line %d: %v = %v\n", row.Pos.Line, row.Names(), row.AllValues())
		}
		r.Close()
	}
	// Output:
	// line 2: [ts event] = [2024-03-01T12:00:00Z signup]
	// line 3: csv_field_count: expected 2 fields, got 1
}
