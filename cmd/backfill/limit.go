package main

import "fmt"

// limitRows checks --limit: a count of rows, 0 for every row.
func limitRows(n int64) (int64, error) {
	if n < 0 {
		return 0, fmt.Errorf("--limit is %d, want a number of rows (0: every row)", n)
	}
	return n, nil
}
