package sink

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The receiver checks JSON that encoding/json has already found valid, so
// it only needs to walk it: find the members of an object and the elements
// of an array without validating again, and notice white space outside
// strings (which it compacts away).

// walkMembers calls fn with the key (unquoted) and the raw value of each
// member of the JSON object obj, which must be valid JSON. ok is false if
// obj is not an object; spaced reports white space outside strings.
func walkMembers(obj []byte, fn func(key string, value []byte)) (spaced, ok bool) {
	i, sp := skipSpace(obj, 0)
	spaced = sp
	if i >= len(obj) || obj[i] != '{' {
		return spaced, false
	}
	i++
	for i < len(obj) {
		i, sp = skipSpace(obj, i)
		spaced = spaced || sp
		switch obj[i] {
		case '}':
			_, sp = skipSpace(obj, i+1)
			return spaced || sp, true
		case ',':
			i++
			continue
		}
		kEnd := skipString(obj, i)
		key := unquoteKey(obj[i:kEnd])
		i, sp = skipSpace(obj, kEnd)
		spaced = spaced || sp
		i, sp = skipSpace(obj, i+1) // past ':'
		spaced = spaced || sp
		vEnd, sp := skipValue(obj, i)
		spaced = spaced || sp
		fn(key, obj[i:vEnd])
		i = vEnd
	}
	return spaced, true
}

// walkElements calls fn with each element of the JSON array arr, which must
// be valid JSON. ok is false if arr is not an array.
func walkElements(arr []byte, fn func(value []byte)) (ok bool) {
	i, _ := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return false
	}
	i++
	for i < len(arr) {
		i, _ = skipSpace(arr, i)
		switch arr[i] {
		case ']':
			return true
		case ',':
			i++
			continue
		}
		end, _ := skipValue(arr, i)
		fn(arr[i:end])
		i = end
	}
	return true
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first byte at or after i that is not
// white space, and whether there was any.
func skipSpace(b []byte, i int) (int, bool) {
	j := i
	for j < len(b) && isSpaceByte(b[j]) {
		j++
	}
	return j, j > i
}

// skipString returns the index just after the string starting at b[i]:
// after the next quote that an odd run of backslashes does not escape.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			break
		}
		j += q
		k := j
		for k > i+1 && b[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 0 {
			return j + 1
		}
		j++
	}
	return len(b)
}

// skipValue returns the index just after the value starting at b[i], and
// whether it holds white space outside strings.
func skipValue(b []byte, i int) (int, bool) {
	switch b[i] {
	case '"':
		return skipString(b, i), false
	case '{', '[':
		depth, spaced := 0, false
		for j := i; j < len(b); j++ {
			switch c := b[j]; c {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, spaced
				}
			case ' ', '\t', '\n', '\r':
				spaced = true
			}
		}
		return len(b), spaced
	}
	j := i
	for j < len(b) && !isSpaceByte(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
		j++
	}
	return j, false
}

// unquoteKey returns a member's key from its quoted form.
func unquoteKey(q []byte) string {
	if bytes.IndexByte(q, '\\') < 0 && utf8.Valid(q) {
		return string(q[1 : len(q)-1])
	}
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return string(q)
	}
	return s
}
