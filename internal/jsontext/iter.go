package jsontext

import (
	"encoding/json"
	"strconv"
)

// ObjectIter walks the members of one JSON object, validating it as it
// goes, without allocating. Keys and values are sub-slices of the object's
// text. The zero ObjectIter is ready for Reset.
type ObjectIter struct {
	data []byte
	i    int
	n    int // members returned so far
}

// Reset starts the walk of the object in data, which may have white space
// around it. It fails with a *SyntaxError if data does not start with an
// object.
func (it *ObjectIter) Reset(data []byte) error {
	it.data, it.n = data, 0
	i := SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return syntaxErr(data, i, "looking for beginning of object")
	}
	it.i = i + 1
	return nil
}

// Next returns the next member: the key's text between its quotes
// (escaped reports whether it holds escapes: decode it with UnquoteBody)
// and the value's exact text, validated. ok is false after the last
// member, once the rest of the text is checked to be white space. An
// error is a *SyntaxError.
func (it *ObjectIter) Next() (key []byte, escaped bool, value []byte, ok bool, err error) {
	key, escaped, _, value, ok, err = it.NextHint("")
	return key, escaped, value, ok, err
}

// NextHint is Next where the key is expected to be hint, a key for which
// IsPlainString holds (such as the key at the same place in the object
// before): matched reports that it is, in which case the key's bytes
// needed no scan.
func (it *ObjectIter) NextHint(hint string) (key []byte, escaped, matched bool, value []byte, ok bool, err error) {
	data := it.data
	j := SkipSpace(data, it.i)
	if j >= len(data) {
		return nil, false, false, nil, false, syntaxErr(data, j, "")
	}
	if it.n > 0 {
		switch data[j] {
		case ',':
			j = SkipSpace(data, j+1)
		case '}':
			return nil, false, false, nil, false, it.finish(j + 1)
		default:
			return nil, false, false, nil, false, syntaxErr(data, j, "after object key:value pair")
		}
	} else if data[j] == '}' {
		return nil, false, false, nil, false, it.finish(j + 1)
	}
	if j >= len(data) || data[j] != '"' {
		return nil, false, false, nil, false, syntaxErr(data, j, "looking for beginning of object key string")
	}
	ks := j
	if e := j + 1 + len(hint); hint != "" && e < len(data) && data[e] == '"' && string(data[j+1:e]) == hint {
		j, matched = e+1, true
	} else if j, escaped, err = ScanString(data, j); err != nil {
		return nil, false, false, nil, false, err
	}
	key = data[ks+1 : j-1]
	j = SkipSpace(data, j)
	if j >= len(data) || data[j] != ':' {
		return nil, false, false, nil, false, syntaxErr(data, j, "after object key")
	}
	vs := SkipSpace(data, j+1)
	if j, err = ScanValue(data, vs, 1); err != nil {
		return nil, false, false, nil, false, err
	}
	it.i = j
	it.n++
	return key, escaped, matched, data[vs:j:j], true, nil
}

// End returns the offset in the object's text just past the value of
// the member NextHint returned last.
func (it *ObjectIter) End() int { return it.i }

func (it *ObjectIter) finish(i int) error {
	if i = SkipSpace(it.data, i); i != len(it.data) {
		return syntaxErr(it.data, i, "after top-level value")
	}
	return nil
}

// ArrayIter walks the elements of one JSON array, validating them as it
// goes, without allocating. The zero ArrayIter is ready for Reset.
type ArrayIter struct {
	data []byte
	i    int
	n    int
}

// Reset starts the walk of the array in data, which may have white space
// before it. It fails with a *SyntaxError if data does not start with an
// array.
func (it *ArrayIter) Reset(data []byte) error {
	it.data, it.n = data, 0
	i := SkipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return syntaxErr(data, i, "looking for beginning of array")
	}
	it.i = i + 1
	return nil
}

// Next returns the exact text of the next element, validated. ok is false
// after the last element; what follows the closing bracket is not looked
// at. An error is a *SyntaxError.
func (it *ArrayIter) Next() (value []byte, ok bool, err error) {
	data := it.data
	j := SkipSpace(data, it.i)
	if j >= len(data) {
		return nil, false, syntaxErr(data, j, "")
	}
	if it.n > 0 {
		switch data[j] {
		case ',':
			j = SkipSpace(data, j+1)
		case ']':
			return nil, false, nil
		default:
			return nil, false, syntaxErr(data, j, "after array element")
		}
	} else if data[j] == ']' {
		return nil, false, nil
	}
	vs := j
	if j, err = ScanValue(data, vs, 1); err != nil {
		return nil, false, err
	}
	it.i = j
	it.n++
	return data[vs:j:j], true, nil
}

// ObjectMembers calls fn with each member of the JSON object raw, in order:
// the key unquoted and the value's exact text. A key without escapes is
// passed as its bytes, so it is valid UTF-8 if raw is (check raw with
// utf8.Valid first where that matters; Unquote would turn each invalid
// byte into U+FFFD). Duplicate keys are passed on
// as they come. It stops, returning nil, when fn returns false. It returns
// ErrNotObject if raw is valid JSON but not an object, and a *SyntaxError
// if raw is malformed up to where iteration stopped. White space around
// the object is allowed.
func ObjectMembers(raw []byte, fn func(key string, value json.RawMessage) bool) error {
	var it ObjectIter
	if err := it.Reset(raw); err != nil {
		if Valid(raw) == nil {
			return ErrNotObject
		}
		return err
	}
	for {
		key, escaped, value, ok, err := it.Next()
		if err != nil || !ok {
			return err
		}
		var k string
		if escaped {
			k = UnquoteBody(key)
		} else {
			k = string(key)
		}
		if !fn(k, json.RawMessage(value)) {
			return nil
		}
	}
}

// Lookup returns the value at path inside raw: each element of path is an
// object key or, inside an array, a decimal index. Where an object has a
// key more than once, the last one counts, as with encoding/json. It
// reports false if a step is missing, raw is not of the shape the path
// needs, or the text is malformed. With an empty path it returns raw
// without surrounding white space (false if that leaves nothing).
func Lookup(raw json.RawMessage, path ...string) (json.RawMessage, bool) {
	cur := []byte(raw)
	for _, step := range path {
		i := SkipSpace(cur, 0)
		if i >= len(cur) {
			return nil, false
		}
		var (
			found []byte
			ok    bool
		)
		switch cur[i] {
		case '{':
			found, ok = lookupKey(cur, step)
		case '[':
			found, ok = lookupIndex(cur, step)
		}
		if !ok {
			return nil, false
		}
		cur = found
	}
	start := SkipSpace(cur, 0)
	end := len(cur)
	for end > start && IsSpace(cur[end-1]) {
		end--
	}
	if start == end {
		return nil, false
	}
	return json.RawMessage(cur[start:end:end]), true
}

func lookupKey(obj []byte, key string) ([]byte, bool) {
	var (
		it    ObjectIter
		found []byte
		ok    bool
	)
	if it.Reset(obj) != nil {
		return nil, false
	}
	for {
		k, escaped, v, more, err := it.Next()
		if err != nil {
			return nil, false
		}
		if !more {
			return found, ok
		}
		if escaped {
			if UnquoteBody(k) == key {
				found, ok = v, true
			}
		} else if string(k) == key {
			found, ok = v, true
		}
	}
}

func lookupIndex(arr []byte, step string) ([]byte, bool) {
	n, err := strconv.Atoi(step)
	if err != nil || n < 0 {
		return nil, false
	}
	var it ArrayIter
	if it.Reset(arr) != nil {
		return nil, false
	}
	for k := 0; ; k++ {
		v, more, err := it.Next()
		if err != nil || !more {
			return nil, false
		}
		if k == n {
			return v, true
		}
	}
}
