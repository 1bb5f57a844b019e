package jsontext

import (
	"bytes"
	"unicode/utf8"
)

// WalkMembers and WalkElements walk JSON text that is already known to be
// valid (checked by Valid, or by encoding/json), without validating it
// again: they find the members of an object and the elements of an array,
// skipping strings with bytes.IndexByte. On malformed text their results
// are undefined, though they end and do not panic.

// WalkMembers calls fn with the key (unquoted) and the exact text of each
// member of the JSON object obj, which must be valid JSON. ok is false if
// obj is not an object; spaced reports white space outside strings, so
// that a caller knows whether the text needs compacting.
func WalkMembers(obj []byte, fn func(key string, value []byte)) (spaced, ok bool) {
	i, sp := skipSpaceAny(obj, 0)
	spaced = sp
	if i >= len(obj) || obj[i] != '{' {
		return spaced, false
	}
	i++
	for i < len(obj) {
		i, sp = skipSpaceAny(obj, i)
		spaced = spaced || sp
		if i >= len(obj) {
			break
		}
		switch obj[i] {
		case '}':
			_, sp = skipSpaceAny(obj, i+1)
			return spaced || sp, true
		case ',':
			i++
			continue
		}
		kEnd := skipTrustedString(obj, i)
		key := unquoteTrusted(obj[i:kEnd])
		i, sp = skipSpaceAny(obj, kEnd)
		spaced = spaced || sp
		i, sp = skipSpaceAny(obj, i+1) // past ':'
		spaced = spaced || sp
		if i >= len(obj) {
			break
		}
		vEnd, sp := skipTrustedValue(obj, i)
		spaced = spaced || sp
		fn(key, obj[i:vEnd])
		i = vEnd
	}
	return spaced, true
}

// WalkElements calls fn with the exact text of each element of the JSON
// array arr, which must be valid JSON. ok is false if arr is not an array.
func WalkElements(arr []byte, fn func(value []byte)) (ok bool) {
	i := SkipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return false
	}
	i++
	for i < len(arr) {
		i = SkipSpace(arr, i)
		if i >= len(arr) {
			break
		}
		switch arr[i] {
		case ']':
			return true
		case ',':
			i++
			continue
		}
		end, _ := skipTrustedValue(arr, i)
		if end == i {
			break // malformed: a byte that starts no value
		}
		fn(arr[i:end])
		i = end
	}
	return true
}

// HasMember reports whether the JSON object obj, which must be valid JSON,
// has a member named key at its top level. It stops at the first match,
// unquotes only keys that hold escapes, and skips values without splitting
// them. It reports false if obj is not an object; on malformed text its
// result is undefined, though it ends and does not panic.
func HasMember(obj []byte, key string) bool {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return false
	}
	i++
	for {
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return false // '}' or malformed
		}
		end := skipTrustedString(obj, i)
		if end < i+2 || obj[end-1] != '"' {
			return false
		}
		k := obj[i+1 : end-1]
		if bytes.IndexByte(k, '\\') >= 0 {
			if UnquoteBody(k) == key {
				return true
			}
		} else if string(k) == key {
			return true
		}
		i = SkipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return false
		}
		if i = SkipSpace(obj, i+1); i >= len(obj) {
			return false
		}
		vEnd, _ := skipTrustedValue(obj, i)
		if vEnd == i {
			return false
		}
		if i = SkipSpace(obj, vEnd); i >= len(obj) || obj[i] != ',' {
			return false
		}
		i++
	}
}

// skipSpaceAny is SkipSpace that also reports whether there was any space.
func skipSpaceAny(b []byte, i int) (int, bool) {
	j := SkipSpace(b, i)
	return j, j > i
}

// skipTrustedString returns the index just after the valid string starting
// at b[i]: after the next quote that an odd run of backslashes does not
// escape.
func skipTrustedString(b []byte, i int) int {
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

// skipTrustedValue returns the index just after the valid value starting
// at b[i], and whether it holds white space outside strings.
func skipTrustedValue(b []byte, i int) (int, bool) {
	switch b[i] {
	case '"':
		return skipTrustedString(b, i), false
	case '{', '[':
		depth, spaced := 0, false
		for j := i; j < len(b); j++ {
			switch c := b[j]; c {
			case '"':
				j = skipTrustedString(b, j) - 1
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
	for j < len(b) && !IsSpace(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
		j++
	}
	return j, false
}

// unquoteTrusted returns a key from its quoted form, which must be a valid
// JSON string.
func unquoteTrusted(q []byte) string {
	if len(q) < 2 {
		return ""
	}
	body := q[1 : len(q)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body)
	}
	return UnquoteBody(body)
}
