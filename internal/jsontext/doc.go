// Package jsontext is the one JSON toolkit of backfill: it scans and
// validates JSON text, walks the members of objects and the elements of
// arrays without allocating, looks up paths, unquotes strings, and appends
// strings and numbers as JSON.
//
// It works on bytes and has no domain meaning: it knows nothing of rows,
// mappings, Segment messages or reject reasons. The readers, the mappings,
// the sink and the receiver all share it, so that JSON is scanned and
// escaped by one implementation. It must not grow domain logic; a function
// that needs to know what a field means belongs to the package that owns
// that meaning.
//
// The scanner accepts what encoding/json's Valid accepts, except nesting
// deeper than MaxDepth, and words its errors as encoding/json does, with the
// offset. Like encoding/json it lets bytes of invalid UTF-8 through inside
// strings: check with utf8.Valid where that matters. The escaper writes
// what an encoding/json Encoder writes with SetEscapeHTML(false): <, > and
// & as they are, U+2028 and U+2029 escaped, each byte of invalid UTF-8 as
// \ufffd.
package jsontext
