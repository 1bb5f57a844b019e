package mappings

import "slices"

// BytesColumns returns the columns the spec declares bytes, sorted, for
// readers.Options.Bytes: a Parquet reader reads their byte arrays as
// binary data (not checked for UTF-8), which the mapping sends as
// standard base64. A declared path into a nested column is among them,
// and matches only a top-level column of that whole name. It returns nil
// when the spec declares none.
func (s *Spec) BytesColumns() []string {
	var cols []string
	for name, d := range s.columns {
		if d.typ == typeBytes {
			cols = append(cols, name)
		}
	}
	slices.Sort(cols)
	return cols
}
