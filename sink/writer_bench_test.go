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

// BenchmarkWriterContentID writes a track message of about 300 bytes with
// ten properties, as the CSV mapper does (constant keys, in the file's
// column order), with its messageId set and derived from the content;
// and with the properties as JSON text, as the passthrough mapper does.
func BenchmarkWriterContentID(b *testing.B) {
	ts := time.Date(2024, 3, 1, 10, 0, 0, 123e6, time.UTC)
	keys := []Key{NewKey("amount"), NewKey("quantity"), NewKey("active"), NewKey("page_views"), NewKey("plan"),
		NewKey("country"), NewKey("browser"), NewKey("campaign"), NewKey("referrer"), NewKey("sku")}
	ids := NewContentIDs("")
	props := []byte(`{"amount":19.99,"quantity":3,"active":true,"page_views":310,"plan":"pro","country":"DE","browser":"Firefox","campaign":"spring-7","referrer":"https://example.com/p/17","sku":"SKU-17"}`)
	for _, c := range []struct {
		name       string
		set, whole bool
	}{{"Set", true, false}, {"Derived", false, false}, {"DerivedRaw", false, true}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			w := NewMessageWriter(Limits{})
			for b.Loop() {
				w.Reset(w.Bytes())
				w.Begin(TypeTrack, ts)
				if c.set {
					w.SetText(FieldMessageID, "evt-1234567")
				} else {
					w.DeriveContentID(ids)
				}
				w.SetText(FieldUserID, "user-12345")
				w.SetText(FieldEvent, "Order Completed")
				if c.whole {
					w.RawObject(FieldProperties, props)
				} else {
					w.BeginObject(FieldProperties)
					w.Key(&keys[0])
					w.Literal("19.99")
					w.Key(&keys[1])
					w.Int(3)
					w.Key(&keys[2])
					w.Bool(true)
					w.Key(&keys[3])
					w.Int(310)
					for i, v := range []string{"pro", "DE", "Firefox", "spring-7", "https://example.com/p/17", "SKU-17"} {
						w.Key(&keys[4+i])
						w.String(v)
					}
					w.EndObject()
				}
				if _, err := w.End(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
