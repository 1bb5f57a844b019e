package sink

import (
	"testing"
	"time"
)

// BenchmarkWriterPassthrough writes the message of a passed-through row
// as the passthrough mapper does: quoted string fields, two objects as
// JSON text and one extra member.
func BenchmarkWriterPassthrough(b *testing.B) {
	ts := time.Date(2024, 3, 1, 10, 0, 0, 123e6, time.UTC)
	id, user, event := []byte(`"m-17"`), []byte(`"u1"`), []byte(`"Order Completed"`)
	props := []byte(`{"revenue":19.99,"currency":"EUR"}`)
	ctx := []byte(`{"ip":"10.0.0.1","library":{"name":"analytics.js"}}`)
	channel := []byte(`"server"`)
	b.ReportAllocs()
	w := NewMessageWriter(Limits{})
	for b.Loop() {
		w.Reset(w.Bytes())
		w.Begin(TypeTrack, ts)
		w.SetQuoted(FieldMessageID, id)
		w.SetQuoted(FieldUserID, user)
		w.SetQuoted(FieldEvent, event)
		w.RawObject(FieldProperties, props)
		w.RawObject(FieldContext, ctx)
		w.KeyString("channel")
		w.Raw(channel)
		if _, err := w.End(); err != nil {
			b.Fatal(err)
		}
	}
}
