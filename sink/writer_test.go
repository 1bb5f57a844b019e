package sink

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

var libraryMember = `"library":{"name":"backfill","version":"` + testLibraryVersion + `"}`

// writeMembers writes a track with the members of a spec-like mapping:
// constant keys, an absent value, an empty nested object, an array.
func writeMembers(w *MessageWriter) ([]byte, error) {
	w.Begin(TypeTrack, encodeTime)
	w.SetText(FieldMessageID, "m1")
	w.SetText(FieldUserID, "u1")
	w.SetText(FieldEvent, "Signed Up")
	w.BeginObject(FieldProperties)
	w.Key(&keyPlan)
	w.String("pro")
	w.Key(&keySeats) // no value: left out
	w.Key(&keyAddress)
	w.BeginNested()
	w.Key(&keyCity) // no value: the nested object is left out
	w.EndObject()
	w.Key(&keySeats)
	w.Int(3)
	w.KeyString("tags")
	w.BeginArray()
	w.String("a")
	w.Float(1.5)
	w.Null()
	w.EndArray()
	w.KeyString("raw")
	w.Raw([]byte(`{"x":1}`))
	w.EndObject()
	w.BeginObject(FieldTraits) // no members: left out
	w.EndObject()
	w.KeyString("channel")
	w.String("server")
	return w.End()
}

var (
	keyPlan    = NewKey("plan")
	keySeats   = NewKey("seats")
	keyAddress = NewKey("address")
	keyCity    = NewKey("city")
)

func TestMessageWriterMembers(t *testing.T) {
	var w MessageWriter
	got, err := writeMembers(&w)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"track","messageId":"m1","timestamp":"2024-03-01T12:00:00.123Z","userId":"u1","event":"Signed Up",` +
		`"properties":{"plan":"pro","seats":3,"tags":["a",1.5,null],"raw":{"x":1}},"context":{` + libraryMember + `},"channel":"server"}`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if !json.Valid(got) {
		t.Errorf("not valid JSON: %s", got)
	}
}

func TestMessageWriterContextLibrary(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *MessageWriter)
		want  string
	}{
		{"no context", func(w *MessageWriter) {}, `"context":{` + libraryMember + `}`},
		{"context without library", func(w *MessageWriter) {
			w.BeginObject(FieldContext)
			w.KeyString("ip")
			w.String("1.2.3.4")
			w.EndObject()
		}, `"context":{"ip":"1.2.3.4",` + libraryMember + `}`},
		{"context with library", func(w *MessageWriter) {
			w.BeginObject(FieldContext)
			w.KeyString("library")
			w.String("mine")
			w.EndObject()
		}, `"context":{"library":"mine"}`},
		{"context with an empty library group", func(w *MessageWriter) {
			w.BeginObject(FieldContext)
			w.KeyString("ip")
			w.String("1.2.3.4")
			w.KeyString("library")
			w.BeginNested()
			w.EndObject()
			w.EndObject()
		}, `"context":{"ip":"1.2.3.4",` + libraryMember + `}`},
		{"integrations only", func(w *MessageWriter) {
			w.BeginObject(FieldIntegrations)
			w.KeyString("All")
			w.Bool(false)
			w.EndObject()
		}, `"context":{` + libraryMember + `},"integrations":{"All":false}`},
		{"raw context", func(w *MessageWriter) {
			w.RawObject(FieldContext, []byte(`{"library":{"name":"x"}}`))
		}, `"context":{"library":{"name":"x"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w MessageWriter
			w.Begin(TypeIdentify, encodeTime)
			w.SetText(FieldUserID, "u")
			tt.write(&w)
			got, err := w.End()
			if err != nil {
				t.Fatal(err)
			}
			want := `{"type":"identify","timestamp":"2024-03-01T12:00:00.123Z","userId":"u",` + tt.want + `}`
			if string(got) != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestMessageWriterErrors(t *testing.T) {
	tests := []struct {
		name   string
		write  func(w *MessageWriter)
		reason string
		field  string
	}{
		{"NaN in a nested object", func(w *MessageWriter) {
			w.BeginObject(FieldProperties)
			w.KeyString("a")
			w.BeginNested()
			w.KeyString("b")
			w.Float(math.NaN())
			w.EndObject()
			w.EndObject()
		}, ReasonInvalidValue, "properties.a.b"},
		{"infinity in an array", func(w *MessageWriter) {
			w.BeginObject(FieldTraits)
			w.KeyString("xs")
			w.BeginArray()
			w.Int(1)
			w.Float(math.Inf(1))
			w.EndArray()
			w.EndObject()
		}, ReasonInvalidValue, "traits.xs[1]"},
		{"NaN in a Go value", func(w *MessageWriter) {
			w.BeginObject(FieldProperties)
			w.KeyString("m")
			w.Value(map[string]any{"x": []any{1, math.NaN()}})
			w.EndObject()
		}, ReasonInvalidValue, "properties.m.x[1]"},
		{"extra repeats a field", func(w *MessageWriter) {
			w.KeyString("userId")
			w.String("again")
		}, ReasonInvalidField, "extra.userId"},
		{"no ids", func(w *MessageWriter) { w.SetText(FieldEvent, "e") }, ReasonMissingID, "userId"},
		{"no event", func(w *MessageWriter) { w.SetText(FieldUserID, "u") }, ReasonMissingEvent, "event"},
		{"long messageId", func(w *MessageWriter) {
			w.SetText(FieldMessageID, strings.Repeat("x", 101))
			w.SetText(FieldUserID, "u")
			w.SetText(FieldEvent, "e")
		}, ReasonInvalidMessageID, "messageId"},
		{"fields out of order", func(w *MessageWriter) {
			w.SetText(FieldUserID, "u")
			w.SetText(FieldEvent, "e")
			w.SetText(FieldAnonymousID, "a")
		}, ReasonInvalidField, "anonymousId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewMessageWriter(Limits{})
			w.Reset([]byte("kept"))
			w.buf = append(w.buf, "kept"...)
			w.Begin(TypeTrack, encodeTime)
			if !strings.HasPrefix(tt.name, "no ") && !strings.Contains(tt.name, "messageId") && !strings.Contains(tt.name, "order") {
				w.SetText(FieldUserID, "u")
				w.SetText(FieldEvent, "e")
			}
			tt.write(w)
			b, err := w.End()
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("End = %s, %v; want a *ValidationError", b, err)
			}
			if ve.Reason != tt.reason || ve.Field != tt.field {
				t.Errorf("error %q: reason %q field %q, want %q %q", ve, ve.Reason, ve.Field, tt.reason, tt.field)
			}
			if string(w.Bytes()) != "kept" {
				t.Errorf("after the error the buffer holds %q, want the messages before only", w.Bytes())
			}
		})
	}
}

func TestMessageWriterSizeCap(t *testing.T) {
	w := NewMessageWriter(Limits{MaxMessageBytes: 200})
	w.Begin(TypeTrack, encodeTime)
	w.SetText(FieldUserID, "u")
	w.SetText(FieldEvent, "e")
	w.BeginObject(FieldProperties)
	w.KeyString("a")
	w.String(strings.Repeat("x", 100))
	if err := w.Err(); err != nil {
		t.Fatalf("Err under the cap = %v", err)
	}
	w.KeyString("b")
	w.String(strings.Repeat("y", 100))
	var tl *TooLargeError
	if err := w.Err(); !errors.As(err, &tl) || tl.Limit != 200 {
		t.Fatalf("Err over the cap = %v, want a *TooLargeError", err)
	}
	w.EndObject()
	b, err := w.End()
	if !errors.As(err, &tl) || tl.Size <= 200 || !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("End = %s, %v; want a *TooLargeError", b, err)
	}
	if w.Len() != 0 {
		t.Errorf("a refused message left %d bytes", w.Len())
	}
}

func TestMessageWriterDerivedMessageID(t *testing.T) {
	var w MessageWriter
	var seen string
	w.Begin(TypeIdentify, encodeTime)
	w.DeriveMessageID(func(msg []byte) string {
		seen = string(msg)
		return "id-" + string(rune('0'+len(msg)%10))
	})
	w.SetText(FieldUserID, "u")
	w.BeginObject(FieldTraits)
	w.KeyString("a")
	w.Int(1)
	w.EndObject()
	got, err := w.End()
	if err != nil {
		t.Fatal(err)
	}
	without := `{"type":"identify","timestamp":"2024-03-01T12:00:00.123Z","userId":"u","traits":{"a":1},"context":{` + libraryMember + `}}`
	if seen != without {
		t.Errorf("the id was derived from\n%s\nwant\n%s", seen, without)
	}
	want := `{"type":"identify","messageId":"id-` + string(rune('0'+len(without)%10)) + `",` + without[len(`{"type":"identify",`):]
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// A messageId set by the caller wins.
	w.Begin(TypeIdentify, encodeTime)
	w.DeriveMessageID(func([]byte) string { t.Error("derived although set"); return "" })
	w.SetText(FieldMessageID, "mine")
	w.SetText(FieldUserID, "u")
	if got, err := w.End(); err != nil || !strings.Contains(string(got), `"messageId":"mine"`) {
		t.Errorf("End = %s, %v", got, err)
	}
}

func TestMessageWriterSeveralMessages(t *testing.T) {
	var w MessageWriter
	w.Reset(nil)
	var ends []int
	for i := range 3 {
		w.Begin(TypeIdentify, encodeTime)
		if i != 1 {
			w.SetText(FieldUserID, "u")
		}
		if _, err := w.End(); err != nil && i != 1 {
			t.Fatal(err)
		}
		ends = append(ends, w.Len())
	}
	one := `{"type":"identify","timestamp":"2024-03-01T12:00:00.123Z","userId":"u","context":{` + libraryMember + `}}`
	if string(w.Bytes()) != one+one || ends[0] != len(one) || ends[1] != len(one) {
		t.Errorf("Bytes = %s (ends %v)", w.Bytes(), ends)
	}
}

func TestMessageWriterDoesNotAllocate(t *testing.T) {
	w := NewMessageWriter(Limits{})
	w.Reset(make([]byte, 0, 4096))
	allocs := testing.AllocsPerRun(100, func() {
		w.Reset(w.Bytes())
		if _, err := writeMembers(w); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message, want 0", allocs)
	}
}

// appendMessage writes m with a MessageWriter, which checks it, and
// appends its bytes to buf; on error buf comes back as it was.
func appendMessage(buf []byte, m *Message) ([]byte, error) {
	return encodeMessage(buf, m, Limits{})
}

// encodeMessage is appendMessage with the per-message cap of l.
func encodeMessage(buf []byte, m *Message, l Limits) ([]byte, error) {
	w := NewMessageWriter(l)
	b, err := w.WriteMessage(m)
	if err != nil {
		return buf, err
	}
	return append(buf, b...), nil
}

// validate returns the error of writing m, or nil.
func validate(m *Message) error {
	var w MessageWriter
	_, err := w.WriteMessage(m)
	return err
}

// appendRawText appends JSON text as MessageWriter.Raw writes a value.
func appendRawText(buf []byte, raw []byte) ([]byte, error) {
	switch {
	case raw == nil:
		return append(buf, "null"...), nil
	case scalarText(raw):
		return append(buf, raw...), nil
	}
	return appendRaw(buf, raw)
}
