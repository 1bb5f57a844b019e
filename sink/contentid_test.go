package sink

import (
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/xxh3"
)

var idTime = time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC)

// wantID is the id of a canonical form, as ContentIDs documents it.
func wantID(namespace, canonical string) string {
	b := []byte(canonical)
	if namespace != "" {
		b = append(append([]byte("ns"), byte(len(namespace))), append([]byte(namespace), b...)...)
	}
	sum := xxh3.Hash128(b).Bytes()
	return ContentIDPrefix + testIDEncoding.EncodeToString(sum[:])
}

// testIDEncoding is the encoding of an id's hash, as ContentIDs documents it.
var testIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// TestAppendContentID checks the encoder of ids against encoding/base32,
// at every single bit set and at random hashes.
func TestAppendContentID(t *testing.T) {
	hashes := []xxh3.Uint128{{}, {Hi: math.MaxUint64, Lo: math.MaxUint64}}
	for i := range 64 {
		hashes = append(hashes, xxh3.Uint128{Hi: 1 << i}, xxh3.Uint128{Lo: 1 << i})
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		hashes = append(hashes, xxh3.Uint128{Hi: r.Uint64(), Lo: r.Uint64()})
	}
	for _, h := range hashes {
		b := h.Bytes()
		want := "x" + ContentIDPrefix + testIDEncoding.EncodeToString(b[:])
		if got := string(appendContentID([]byte("x"), h)); got != want {
			t.Fatalf("appendContentID(%016x%016x) = %q, want %q", h.Hi, h.Lo, got, want)
		}
	}
}

// idOf writes a message with fn and returns its messageId.
func idOf(t *testing.T, ids *ContentIDs, fn func(w *MessageWriter)) string {
	t.Helper()
	w := NewMessageWriter(Limits{})
	// A message before, so that offsets do not start at 0.
	w.Begin(TypeIdentify, idTime)
	w.SetText(FieldUserID, "before")
	if _, err := w.End(); err != nil {
		t.Fatal(err)
	}
	fn(w)
	msg, err := w.End()
	if err != nil {
		t.Fatalf("End: %v", err)
	}
	var m struct {
		MessageID string `json:"messageId"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		t.Fatalf("%s: %v", msg, err)
	}
	h, ok := w.ContentHash()
	if !ok || !strings.HasPrefix(m.MessageID, ContentIDPrefix) {
		t.Fatalf("ContentHash = %x, %v for %s", h, ok, msg)
	}
	if raw, err := testIDEncoding.DecodeString(m.MessageID[len(ContentIDPrefix):]); err != nil || binary.BigEndian.Uint64(raw) != h {
		t.Errorf("ContentHash %016x is not the start of %s (%v)", h, m.MessageID, err)
	}
	return m.MessageID
}

// track begins a track message with a content-derived id.
func track(w *MessageWriter, ids *ContentIDs) {
	w.Begin(TypeTrack, idTime)
	w.DeriveContentID(ids)
	w.SetText(FieldUserID, "u1")
	w.SetText(FieldEvent, "Order Completed")
}

var (
	keyA = NewKey("a")
	keyB = NewKey("b")
	keyC = NewKey("c")
)

func TestContentIDCanonicalForm(t *testing.T) {
	ids := NewContentIDs("")
	head := `{"type":"track","timestamp":"2024-03-01T12:00:00.123Z","userId":"u1","event":"Order Completed"`
	cases := []struct {
		name      string
		write     func(w *MessageWriter)
		canonical string
	}{
		{"no properties", func(w *MessageWriter) { track(w, ids) }, head},
		{"sorted keys, as written", func(w *MessageWriter) {
			track(w, ids)
			w.BeginObject(FieldProperties)
			w.Key(&keyA)
			w.Int(1)
			w.Key(&keyB)
			w.String("x")
			w.EndObject()
		}, head + `,"properties":{"a":1,"b":"x"}`},
		{"keys sorted", func(w *MessageWriter) {
			track(w, ids)
			w.BeginObject(FieldProperties)
			w.Key(&keyC)
			w.Bool(true)
			w.KeyString("b")
			w.Literal("1.50")
			w.Key(&keyA)
			w.Raw([]byte(`"\u00fc\/"`))
			w.EndObject()
		}, head + `,"properties":{"a":"ü/","b":1.5,"c":true}`},
		{"raw with plain strings", func(w *MessageWriter) {
			track(w, ids)
			w.BeginObject(FieldProperties)
			w.Key(&keyB)
			w.RawPlainStrings([]byte(`"é x"`))
			w.Key(&keyA)
			w.RawPlainStrings([]byte(`1.50`))
			w.Key(&keyC)
			w.RawPlainStrings([]byte(`["y"]`))
			w.EndObject()
		}, head + `,"properties":{"a":1.5,"b":"é x","c":["y"]}`},
		{"nested and raw", func(w *MessageWriter) {
			track(w, ids)
			w.BeginObject(FieldProperties)
			w.Key(&keyB)
			w.Raw([]byte(`{"z": [3, {"y":1e2,"x":-0.0}], "a" :null}`))
			w.Key(&keyA)
			w.BeginNested()
			w.KeyString("q")
			w.Float(math.Copysign(0, -1))
			w.KeyString("p")
			w.Int(2)
			w.EndObject()
			w.EndObject()
		}, head + `,"properties":{"a":{"p":2,"q":0},"b":{"a":null,"z":[3,{"x":0,"y":100}]}}`},
		{"raw properties and traits left out of track", func(w *MessageWriter) {
			track(w, ids)
			w.RawObject(FieldProperties, []byte(`{"b":1.0E+3,"a":"\u2028"}`))
			w.BeginObject(FieldContext)
			w.KeyString("ip")
			w.String("10.0.0.1")
			w.EndObject()
			w.BeginObject(FieldIntegrations)
			w.KeyString("All")
			w.Bool(false)
			w.EndObject()
			w.KeyString("channel")
			w.String("server")
		}, head + `,"properties":{"a":"\u2028","b":1000}`},
		{"map properties", func(w *MessageWriter) {
			track(w, ids)
			w.WriteObject(FieldProperties, Fields{{Key: "b", Value: 2}, {Key: "a", Value: json.RawMessage(`1.10`)}})
		}, head + `,"properties":{"a":1.1,"b":2}`},
		{"an empty object is left out", func(w *MessageWriter) {
			track(w, ids)
			w.BeginObject(FieldProperties)
			w.KeyString("n")
			w.BeginNested()
			w.EndObject()
			w.EndObject()
		}, head},
		{"an empty member is left out", func(w *MessageWriter) {
			track(w, ids)
			w.BeginObject(FieldProperties)
			w.Key(&keyC)
			w.Int(3)
			w.Key(&keyA)
			w.BeginNested()
			w.EndObject()
			w.Key(&keyB)
			w.Float(1.5)
			w.EndObject()
		}, head + `,"properties":{"b":1.5,"c":3}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, want := idOf(t, ids, c.write), wantID("", c.canonical); got != want {
				t.Errorf("id %s, want %s, the id of\n%s", got, want, c.canonical)
			}
		})
	}
}

func TestContentIDFields(t *testing.T) {
	ids := NewContentIDs("")
	base := func(w *MessageWriter) {
		w.Begin(TypePage, idTime)
		w.DeriveContentID(ids)
		w.SetText(FieldUserID, "u1")
		w.SetText(FieldAnonymousID, "a1")
		w.SetText(FieldName, "Home")
		w.SetText(FieldCategory, "Docs")
		w.BeginObject(FieldProperties)
		w.Key(&keyA)
		w.Int(1)
		w.EndObject()
	}
	want := idOf(t, ids, base)
	if len(want) != len(ContentIDPrefix)+26 {
		t.Errorf("id %q: want %d characters", want, len(ContentIDPrefix)+26)
	}
	same := map[string]func(w *MessageWriter){
		"context": func(w *MessageWriter) {
			base(w)
			w.BeginObject(FieldContext)
			w.KeyString("ip")
			w.String("1.2.3.4")
			w.EndObject()
		},
		"integrations": func(w *MessageWriter) {
			base(w)
			w.RawObject(FieldIntegrations, []byte(`{"All":false}`))
		},
		"an extra member": func(w *MessageWriter) {
			base(w)
			w.KeyString("channel")
			w.String("server")
		},
		"the timestamp below the millisecond": func(w *MessageWriter) {
			w.Begin(TypePage, idTime.Add(-456789))
			w.DeriveContentID(ids)
			w.SetText(FieldUserID, "u1")
			w.SetText(FieldAnonymousID, "a1")
			w.SetText(FieldName, "Home")
			w.SetText(FieldCategory, "Docs")
			w.BeginObject(FieldProperties)
			w.Key(&keyA)
			w.Literal("1.0")
			w.EndObject()
		},
	}
	for name, fn := range same {
		if got := idOf(t, ids, fn); got != want {
			t.Errorf("%s changed the id: %s, want %s", name, got, want)
		}
	}
	other := func(typ string, ts time.Time, texts map[TextField]string, a int64) func(w *MessageWriter) {
		return func(w *MessageWriter) {
			w.Begin(typ, ts)
			w.DeriveContentID(ids)
			for f := FieldUserID; f < numTextFields; f++ {
				w.SetText(f, texts[f])
			}
			w.BeginObject(FieldProperties)
			w.Key(&keyA)
			w.Int(a)
			w.EndObject()
		}
	}
	texts := map[TextField]string{FieldUserID: "u1", FieldAnonymousID: "a1", FieldName: "Home", FieldCategory: "Docs"}
	with := func(f TextField, v string) map[TextField]string {
		m := map[TextField]string{}
		for k, x := range texts {
			m[k] = x
		}
		m[f] = v
		return m
	}
	differ := map[string]func(w *MessageWriter){
		"type":        other(TypeScreen, idTime, texts, 1),
		"timestamp":   other(TypePage, idTime.Add(time.Millisecond), texts, 1),
		"userId":      other(TypePage, idTime, with(FieldUserID, "u2"), 1),
		"anonymousId": other(TypePage, idTime, with(FieldAnonymousID, "a2"), 1),
		"name":        other(TypePage, idTime, with(FieldName, "Home2"), 1),
		"category":    other(TypePage, idTime, with(FieldCategory, "Docs2"), 1),
		"properties":  other(TypePage, idTime, texts, 2),
	}
	seen := map[string]string{want: "base"}
	for name, fn := range differ {
		got := idOf(t, ids, fn)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: same id as %s: %s", name, prev, got)
		}
		seen[got] = name
	}
	// The fields of other types.
	for _, c := range []struct {
		name string
		fn   func(w *MessageWriter)
	}{
		{"event", func(w *MessageWriter) {
			w.Begin(TypeTrack, idTime)
			w.DeriveContentID(ids)
			w.SetText(FieldUserID, "u")
			w.SetText(FieldEvent, "e1")
		}},
		{"event 2", func(w *MessageWriter) {
			w.Begin(TypeTrack, idTime)
			w.DeriveContentID(ids)
			w.SetText(FieldUserID, "u")
			w.SetText(FieldEvent, "e2")
		}},
		{"groupId", func(w *MessageWriter) {
			w.Begin(TypeGroup, idTime)
			w.DeriveContentID(ids)
			w.SetText(FieldUserID, "u")
			w.SetText(FieldGroupID, "g1")
		}},
		{"groupId 2", func(w *MessageWriter) {
			w.Begin(TypeGroup, idTime)
			w.DeriveContentID(ids)
			w.SetText(FieldUserID, "u")
			w.SetText(FieldGroupID, "g2")
		}},
		{"previousId", func(w *MessageWriter) {
			w.Begin(TypeAlias, idTime)
			w.DeriveContentID(ids)
			w.SetText(FieldUserID, "u")
			w.SetText(FieldPreviousID, "p1")
		}},
		{"previousId 2", func(w *MessageWriter) {
			w.Begin(TypeAlias, idTime)
			w.DeriveContentID(ids)
			w.SetText(FieldUserID, "u")
			w.SetText(FieldPreviousID, "p2")
		}},
		{"traits", func(w *MessageWriter) {
			w.Begin(TypeIdentify, idTime)
			w.DeriveContentID(ids)
			w.SetText(FieldUserID, "u")
			w.RawObject(FieldTraits, []byte(`{"a":1}`))
		}},
		{"traits 2", func(w *MessageWriter) {
			w.Begin(TypeIdentify, idTime)
			w.DeriveContentID(ids)
			w.SetText(FieldUserID, "u")
			w.RawObject(FieldTraits, []byte(`{"a":"1"}`))
		}},
	} {
		got := idOf(t, ids, c.fn)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: same id as %s: %s", c.name, prev, got)
		}
		seen[got] = c.name
	}
}

func TestContentIDNamespace(t *testing.T) {
	write := func(ids *ContentIDs) func(w *MessageWriter) {
		return func(w *MessageWriter) {
			track(w, ids)
			w.RawObject(FieldProperties, []byte(`{"b":1,"a":2}`))
		}
	}
	canonical := `{"type":"track","timestamp":"2024-03-01T12:00:00.123Z","userId":"u1","event":"Order Completed","properties":{"a":2,"b":1}`
	for _, ns := range []string{"", "trial-2026", "real"} {
		if got, want := idOf(t, NewContentIDs(ns), write(NewContentIDs(ns))), wantID(ns, canonical); got != want {
			t.Errorf("namespace %q: id %s, want %s", ns, got, want)
		}
	}
	if a, b := idOf(t, nil, write(NewContentIDs("a"))), idOf(t, nil, write(NewContentIDs("b"))); a == b {
		t.Errorf("namespaces a and b share the id %s", a)
	}
}

// TestContentIDOrderReused writes messages whose properties come with the
// same constant keys in the same unsorted order, as the rows of one file
// do, then others: each gets the id of its own content.
func TestContentIDOrderReused(t *testing.T) {
	ids := NewContentIDs("")
	head := `{"type":"track","timestamp":"2024-03-01T12:00:00.123Z","userId":"u1","event":"Order Completed"`
	w := NewMessageWriter(Limits{})
	for i, c := range []struct {
		keys []*Key
		want string
	}{
		{[]*Key{&keyC, &keyA, &keyB}, `{"a":1,"b":2,"c":0}`},
		{[]*Key{&keyC, &keyA, &keyB}, `{"a":1,"b":2,"c":0}`},
		{[]*Key{&keyB, &keyA}, `{"a":1,"b":0}`},
		{[]*Key{&keyB, &keyC, &keyA}, `{"a":2,"b":0,"c":1}`},
		{[]*Key{&keyC, &keyA, &keyB}, `{"a":1,"b":2,"c":0}`},
	} {
		track(w, ids)
		w.BeginObject(FieldProperties)
		for j, k := range c.keys {
			w.Key(k)
			w.Int(int64(j))
		}
		w.EndObject()
		msg, err := w.End()
		if err != nil {
			t.Fatal(err)
		}
		if want := wantID("", head+`,"properties":`+c.want); !strings.Contains(string(msg), want) {
			t.Errorf("message %d: %s, want the id %s", i, msg, want)
		}
	}
}

func TestContentIDLeavesAnIDSetAlone(t *testing.T) {
	w := NewMessageWriter(Limits{})
	track(w, NewContentIDs(""))
	w.Begin(TypeTrack, idTime)
	w.DeriveContentID(NewContentIDs(""))
	w.SetText(FieldMessageID, "mine")
	w.SetText(FieldUserID, "u")
	w.SetText(FieldEvent, "e")
	msg, err := w.End()
	if err != nil || !strings.Contains(string(msg), `"messageId":"mine"`) {
		t.Fatalf("End = %s, %v", msg, err)
	}
	if _, ok := w.ContentHash(); ok {
		t.Error("ContentHash reports a derived id for a message with its own")
	}
}

// TestContentIDAnyWriting writes random properties member by member, in
// random key orders and notations, and as JSON text, and checks that each
// message's id is the id of the canonical form of its properties.
func TestContentIDAnyWriting(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ids := NewContentIDs("")
	head := `{"type":"track","timestamp":"2024-03-01T12:00:00.123Z","userId":"u1","event":"Order Completed"`
	keys := []Key{NewKey("a"), NewKey("b"), NewKey("é"), NewKey("z"), NewKey("aa"), NewKey("B"), NewKey("a b")}
	// A value: its canonical text and ways to write it.
	type value struct {
		canon string
		raw   []string             // JSON texts that mean it
		write func(*MessageWriter) // a call of the writer that writes it
	}
	values := []value{
		{`1.5`, []string{`1.5`, `1.50`, `15e-1`, `0.15E1`}, func(w *MessageWriter) { w.Float(1.5) }},
		{`3`, []string{`3`, `3.0`, `3e0`}, func(w *MessageWriter) { w.Int(3) }},
		{`0`, []string{`0`, `-0`, `0.0`}, func(w *MessageWriter) { w.Float(math.Copysign(0, -1)) }},
		{`"ü/x"`, []string{`"ü/x"`, `"\u00fc\/x"`, `"\u00FC/\u0078"`}, func(w *MessageWriter) { w.String("ü/x") }},
		{`"q\"\n"`, []string{`"q\"\n"`, `"q\u0022\u000a"`}, func(w *MessageWriter) { w.String("q\"\n") }},
		{`true`, []string{`true`}, func(w *MessageWriter) { w.Bool(true) }},
		{`null`, []string{`null`}, func(w *MessageWriter) { w.Null() }},
		{`[1,"a"]`, []string{`[1,"a"]`, `[ 1.0 , "\u0061" ]`}, func(w *MessageWriter) { w.Raw([]byte(`[1e0,"a"]`)) }},
		{`{"x":1,"y":[2]}`, []string{`{"y":[2],"x":1}`, `{ "x" : 1.0, "y" : [ 20e-1 ] }`}, func(w *MessageWriter) {
			w.BeginNested()
			w.KeyString("y")
			w.BeginArray()
			w.Literal("2.00")
			w.EndArray()
			w.KeyString("x")
			w.Int(1)
			w.EndObject()
		}},
	}
	for round := range 300 {
		n := 1 + rng.IntN(len(keys))
		perm := rng.Perm(len(keys))[:n]
		vals := make([]int, n)
		canon := map[string]string{}
		for i, k := range perm {
			vals[i] = rng.IntN(len(values))
			canon[keys[k].name] = values[vals[i]].canon
		}
		var names []string
		for name := range canon {
			names = append(names, name)
		}
		slices.Sort(names)
		var c strings.Builder
		for i, name := range names {
			if i > 0 {
				c.WriteByte(',')
			}
			c.WriteString(strconv.Quote(name) + ":" + canon[name])
		}
		want := wantID("", head+`,"properties":{`+c.String()+`}`)

		// Member by member, with the writer's calls or JSON text.
		got := idOf(t, ids, func(w *MessageWriter) {
			track(w, ids)
			w.BeginObject(FieldProperties)
			for i, k := range perm {
				if rng.IntN(2) == 0 {
					w.KeyString(keys[k].name)
				} else {
					w.Key(&keys[k])
				}
				v := values[vals[i]]
				if rng.IntN(2) == 0 {
					v.write(w)
				} else {
					w.Raw([]byte(v.raw[rng.IntN(len(v.raw))]))
				}
			}
			w.EndObject()
		})
		if got != want {
			t.Fatalf("round %d, member by member: id %s, want %s for %s", round, got, want, c.String())
		}
		// As JSON text, in another order.
		var raw strings.Builder
		raw.WriteString("{ ")
		for j, i := range rng.Perm(n) {
			if j > 0 {
				raw.WriteString(" , ")
			}
			v := values[vals[i]]
			raw.WriteString(strconv.QuoteToASCII(keys[perm[i]].name) + ": " + v.raw[rng.IntN(len(v.raw))])
		}
		raw.WriteString(" }")
		got = idOf(t, ids, func(w *MessageWriter) {
			track(w, ids)
			w.RawObject(FieldProperties, []byte(raw.String()))
		})
		if got != want {
			t.Fatalf("round %d, %s: id %s, want %s for %s", round, raw.String(), got, want, c.String())
		}
	}
}

// TestContentIDEveryType derives the id of a message of every type, with
// properties or traits in canonical form as written and not, and checks
// that the message is, byte for byte, the same message written with that
// id set: the room the writer keeps for the id holds it and nothing else.
func TestContentIDEveryType(t *testing.T) {
	ids := NewContentIDs("")
	texts := map[string][]TextField{
		TypeIdentify: {FieldUserID},
		TypeTrack:    {FieldUserID, FieldEvent},
		TypePage:     {FieldAnonymousID, FieldName, FieldCategory},
		TypeScreen:   {FieldUserID, FieldName},
		TypeGroup:    {FieldUserID, FieldGroupID},
		TypeAlias:    {FieldUserID, FieldPreviousID},
	}
	for typ, fields := range texts {
		for _, sorted := range []bool{true, false} {
			write := func(w *MessageWriter, id string) {
				w.Begin(typ, idTime)
				if id == "" {
					w.DeriveContentID(ids)
				} else {
					w.SetText(FieldMessageID, id)
				}
				for _, f := range fields {
					w.SetText(f, "v"+strconv.Itoa(int(f)))
				}
				o := FieldProperties
				if typ == TypeIdentify || typ == TypeGroup {
					o = FieldTraits
				}
				w.BeginObject(o)
				if sorted {
					w.Key(&keyA)
					w.Int(1)
					w.Key(&keyB)
					w.Literal("2.5")
				} else {
					w.Key(&keyB)
					w.Literal("2.50")
					w.Key(&keyA)
					w.Int(1)
				}
				w.EndObject()
				w.KeyString("channel")
				w.String("server")
			}
			var w MessageWriter
			write(&w, "")
			got, err := w.End()
			if err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			var m struct {
				MessageID string `json:"messageId"`
			}
			if err := json.Unmarshal(got, &m); err != nil {
				t.Fatalf("%s: %s: %v", typ, got, err)
			}
			var set MessageWriter
			write(&set, m.MessageID)
			want, err := set.End()
			if err != nil {
				t.Fatalf("%s, id set: %v", typ, err)
			}
			if string(got) != string(want) {
				t.Errorf("%s (sorted %v): derived\n%s\nwant, the id set,\n%s", typ, sorted, got, want)
			}
			// The canonical form: the message without its id, up to the
			// end of its properties or traits, keys sorted.
			canon := strings.Replace(string(want), `,"messageId":"`+m.MessageID+`"`, "", 1)
			obj := `,"properties":`
			if !strings.Contains(canon, obj) {
				obj = `,"traits":`
			}
			canon = canon[:strings.Index(canon, obj)] + obj + `{"a":1,"b":2.5}`
			if wid := wantID("", canon); m.MessageID != wid {
				t.Errorf("%s (sorted %v): id %s, want %s, the id of\n%s", typ, sorted, m.MessageID, wid, canon)
			}
		}
	}
}

// appendContentID appends the id of a hash: ContentIDPrefix, then the
// hash's 16 bytes in base32 (putContentHash).
func appendContentID(dst []byte, h xxh3.Uint128) []byte {
	var b [len(ContentIDPrefix) + 26]byte
	copy(b[:], ContentIDPrefix)
	putContentHash((*[26]byte)(b[len(ContentIDPrefix):]), h)
	return append(dst, b[:]...)
}
