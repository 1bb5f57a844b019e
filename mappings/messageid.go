package mappings

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/backfillhq/backfill/readers"
)

// maxMessageID is Segment's limit on the length of a messageId.
const maxMessageID = 100

// writtenLen returns the length in bytes of s as the message writer
// writes it: each byte that is not valid UTF-8 becomes U+FFFD, three
// bytes long.
func writtenLen(s string) int {
	n := len(s)
	if utf8.ValidString(s) {
		return n
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			n += 2
		}
		i += size
	}
	return n
}

// DeriveMessageID returns the messageId of the row with ordinal row of the
// file whose content fingerprint is fingerprint: "bf-", the first 32
// characters of the fingerprint, "-" and the ordinal. It is at most 56
// characters long and the same on every run over the same file, so a row
// sent again after a crash repeats its id and Segment de-duplicates it.
func DeriveMessageID(fingerprint string, row int64) string {
	if len(fingerprint) > 32 {
		fingerprint = fingerprint[:32]
	}
	b := make([]byte, 0, 3+len(fingerprint)+1+20)
	b = append(b, "bf-"...)
	b = append(b, fingerprint...)
	b = append(b, '-')
	b = strconv.AppendInt(b, row, 10)
	return string(b)
}

// RowMessageID returns the derived messageId of a row. For a row of a file
// it is DeriveMessageID(row.Source.Fingerprint, row.Pos.Row). A source
// without a fingerprint (standard input) has no content identity to bind
// to, so the id is "bf-r" followed by a SHA-256 of the row's ordinal and raw
// bytes (or, for rows without raw bytes, their column names and values):
// re-reading the same input gives the same ids.
func RowMessageID(row *readers.Row) string {
	if row.Source != nil && row.Source.Fingerprint != "" {
		return DeriveMessageID(row.Source.Fingerprint, row.Pos.Row)
	}
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(row.Pos.Row))
	h.Write(n[:])
	if row.Raw != nil {
		h.Write(row.Raw)
	} else {
		for i, name := range row.Names() {
			v := row.Value(i)
			fmt.Fprintf(h, "%q=%T:%v\x00", name, v, v)
		}
	}
	var sum [sha256.Size]byte
	return DeriveMessageID("r"+hex.EncodeToString(h.Sum(sum[:0])), row.Pos.Row)
}
