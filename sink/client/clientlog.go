package client

import (
	"context"
	"log/slog"
	"strings"
)

// redactHandler passes records to next with every occurrence of secret (a
// write key) in the message and the attributes' values replaced, so that no
// log line shows it whatever an error's text holds.
type redactHandler struct {
	next   slog.Handler
	secret string
}

const redacted = "[write key]"

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.secret == "" {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, h.text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return redactHandler{next: h.next.WithAttrs(clean), secret: h.secret}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{next: h.next.WithGroup(name), secret: h.secret}
}

// attr returns a with the secret taken out of its value: strings and
// anything that formats as text (errors among them) become redacted
// strings; groups are redacted member by member.
func (h redactHandler) attr(a slog.Attr) slog.Attr {
	if h.secret == "" {
		return a
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString, slog.KindAny:
		return slog.String(a.Key, h.text(v.String()))
	case slog.KindGroup:
		members := v.Group()
		clean := make([]any, len(members))
		for i, m := range members {
			clean[i] = h.attr(m)
		}
		return slog.Group(a.Key, clean...)
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h redactHandler) text(s string) string {
	return strings.ReplaceAll(s, h.secret, redacted)
}
