package receiver

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/jsontext"
	"github.com/backfillhq/backfill/internal/sinktest"
	"github.com/backfillhq/backfill/sink"
)

const receiverKey = "wk_receiver_test"

var receiverTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

type receiverFixture struct {
	rcv *Receiver
	srv *httptest.Server
	out *bytes.Buffer
	log *sinktest.LockedBuffer // the receiver's log, JSON
}

func newReceiverFixture(t *testing.T, cfg Config) *receiverFixture {
	t.Helper()
	f := &receiverFixture{out: &bytes.Buffer{}, log: &sinktest.LockedBuffer{}}
	if cfg.Out == nil {
		cfg.Out = f.out
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(f.log, nil))
	f.rcv = New(cfg)
	f.srv = httptest.NewServer(f.rcv)
	t.Cleanup(f.srv.Close)
	return f
}

type postOptions struct {
	method   string
	gzip     bool
	encoding string // Content-Encoding to send as is
	user     string // Basic auth user; "" with noAuth false means receiverKey
	password string
	noAuth   bool
}

type receiverReply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *receiverFixture) post(t *testing.T, path string, body []byte, o postOptions) receiverReply {
	t.Helper()
	r, err := f.do(t, path, body, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// do sends one request and checks the shape of the reply. It does not stop
// the test, so that other goroutines may call it.
func (f *receiverFixture) do(t *testing.T, path string, body []byte, o postOptions) (receiverReply, error) {
	t.Helper()
	if o.gzip {
		body = gzipped(body)
		o.encoding = "gzip"
	}
	method := o.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		return receiverReply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if o.encoding != "" {
		req.Header.Set("Content-Encoding", o.encoding)
	}
	if !o.noAuth {
		user := o.user
		if user == "" {
			user = receiverKey
		}
		req.SetBasicAuth(user, o.password)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		return receiverReply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return receiverReply{}, err
	}
	r := receiverReply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		return r, fmt.Errorf("reply %d is not a JSON object: %w: %s", resp.StatusCode, err, raw)
	}
	if r.status == http.StatusOK {
		if string(raw) != `{"success":true}` {
			t.Errorf("success body %s", raw)
		}
	} else if msg, _ := r.body["error"].(string); msg == "" {
		t.Errorf("error reply %d has no error: %s", r.status, raw)
	}
	return r, nil
}

// drops returns the records the receiver logged for messages Segment would
// drop.
func (f *receiverFixture) drops(t *testing.T) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(f.log.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %s: %v", sc.Bytes(), err)
		}
		if rec["msg"] != "Segment would drop this message" || rec["level"] != "WARN" {
			t.Errorf("unexpected log record %s", sc.Bytes())
		}
		recs = append(recs, rec)
	}
	return recs
}

// checkDropped checks that the receiver counted and logged exactly one
// message that Segment would drop, for reason, and returns its log record.
func (f *receiverFixture) checkDropped(t *testing.T, reason string) map[string]any {
	t.Helper()
	if st := f.rcv.Stats(); st.Dropped != 1 {
		t.Errorf("stats %+v, want 1 dropped", st)
	}
	if got := f.rcv.DroppedByReason(); len(got) != 1 || got[reason] != 1 {
		t.Errorf("dropped by reason %v, want %s: 1", got, reason)
	}
	recs := f.drops(t)
	if len(recs) != 1 {
		t.Fatalf("%d drops logged, want 1: %v", len(recs), recs)
	}
	if recs[0]["reason"] != reason {
		t.Errorf("logged reason %v, want %s", recs[0]["reason"], reason)
	}
	return recs[0]
}

// lines returns the lines written to Out.
func (f *receiverFixture) lines() []string {
	s := strings.TrimSuffix(f.out.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// receiverBatch encodes msgs into one batch with generous limits.
func receiverBatch(t testing.TB, msgs ...*sink.Message) *sink.Batch {
	t.Helper()
	bt := sink.NewBatcher(sink.Limits{MaxMessages: sink.DefaultMaxMessages})
	for _, m := range msgs {
		full, err := sinktest.Add(bt, m)
		if err != nil || full != nil {
			t.Fatalf("Add = %v, %v", full, err)
		}
	}
	return bt.Flush()
}

func batchLines(b *sink.Batch) []string {
	var l []string
	for i := range b.Len() {
		l = append(l, string(b.Message(i)))
	}
	return l
}

func validMessages(t testing.TB, prefix string, n int) []*sink.Message {
	var msgs []*sink.Message
	types := []string{sink.TypeIdentify, sink.TypeTrack, sink.TypePage, sink.TypeScreen, sink.TypeGroup, sink.TypeAlias}
	for i := range n {
		m := &sink.Message{
			Type: types[i%len(types)], MessageID: fmt.Sprintf("%s-%d", prefix, i), Timestamp: receiverTime,
			UserID: "u", Event: "e", GroupID: "g", PreviousID: "p",
			Properties: sink.Fields{{Key: "i", Value: i}, {Key: "amount", Value: 1.25}, {Key: "s", Value: "a\"b\nc"}},
			Traits:     map[string]any{"n": json.Number("1e3")},
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func TestReceiverAuth(t *testing.T) {
	body := receiverBatch(t, validMessages(t, "a", 2)...).Body(receiverTime)
	tests := []struct {
		name       string
		key        string
		o          postOptions
		wantStatus int
	}{
		{"right key", receiverKey, postOptions{}, 200},
		{"no key configured, no auth", "", postOptions{noAuth: true}, 200},
		{"no key configured, any auth", "", postOptions{user: "whatever"}, 200},
		{"missing auth", receiverKey, postOptions{noAuth: true}, 401},
		{"wrong key", receiverKey, postOptions{user: "wk_other"}, 401},
		{"key as a prefix", receiverKey, postOptions{user: receiverKey[:5]}, 401},
		{"key with a password", receiverKey, postOptions{password: "secret"}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newReceiverFixture(t, Config{WriteKey: tt.key})
			r := f.post(t, "/v1/batch", body, tt.o)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.raw)
			}
			st := f.rcv.Stats()
			if tt.wantStatus == 200 {
				if len(f.lines()) != 2 || st.Messages != 2 {
					t.Errorf("wrote %d lines, counted %d messages", len(f.lines()), st.Messages)
				}
				return
			}
			if f.out.Len() != 0 || st.Messages != 0 || st.Rejected != 1 || st.Requests != 1 {
				t.Errorf("unauthorized request wrote %q; stats %+v", f.out.String(), st)
			}
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestReceiverBatchEndpoints(t *testing.T) {
	for _, path := range []string{"/v1/batch", "/v1/import"} {
		for _, gz := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s gzip=%v", path, gz), func(t *testing.T) {
				f := newReceiverFixture(t, Config{WriteKey: receiverKey})
				b1 := receiverBatch(t, validMessages(t, "a", 7)...)
				b2 := receiverBatch(t, validMessages(t, "b", 3)...)
				for _, b := range []*sink.Batch{b1, b2} {
					if r := f.post(t, path, b.Body(receiverTime), postOptions{gzip: gz}); r.status != 200 {
						t.Fatalf("status %d: %s", r.status, r.raw)
					}
				}
				want := append(batchLines(b1), batchLines(b2)...)
				if got := f.lines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("Out\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if st := f.rcv.Stats(); st != (Stats{Requests: 2, Batches: 2, Messages: 10}) {
					t.Errorf("stats %+v", st)
				}
			})
		}
	}
}

func TestReceiverCompactsMessages(t *testing.T) {
	f := newReceiverFixture(t, Config{})
	body := "{\n \"batch\": [\n  {\"type\": \"track\", \"userId\": \"u\",\n   \"event\": \"e\", \"timestamp\": \"2024-01-01T00:00:00+02:00\",\n   \"properties\": {\"n\": 1.50, \"big\": 12345678901234567890}}\n ]\n}"
	if r := f.post(t, "/v1/batch", []byte(body), postOptions{noAuth: true}); r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	want := `{"type":"track","userId":"u","event":"e","timestamp":"2024-01-01T00:00:00+02:00","properties":{"n":1.50,"big":12345678901234567890}}`
	if got := f.lines(); len(got) != 1 || got[0] != want {
		t.Errorf("Out %q, want %q", got, want)
	}
}

func TestReceiverSingleEndpoints(t *testing.T) {
	tests := []struct {
		path       string
		body       string
		wantStatus int
		wantLine   string
		wantReason string
	}{
		{"/v1/track", `{"userId":"u","event":"e","timestamp":"2024-01-01T00:00:00Z"}`, 200,
			`{"type":"track","userId":"u","event":"e","timestamp":"2024-01-01T00:00:00Z"}`, ""},
		{"/v1/identify", ` { "anonymousId" : "a", "timestamp":"2024-01-01T00:00:00.5Z", "traits": {"x": [1, 2]} } `, 200,
			`{"type":"identify","anonymousId":"a","timestamp":"2024-01-01T00:00:00.5Z","traits":{"x":[1,2]}}`, ""},
		{"/v1/page", `{"type":"page","userId":"u","timestamp":"2024-01-01T00:00:00Z"}`, 200,
			`{"type":"page","userId":"u","timestamp":"2024-01-01T00:00:00Z"}`, ""},
		{"/v1/screen", `{"userId":"u","name":"Home","timestamp":"2024-01-01T00:00:00Z"}`, 200,
			`{"type":"screen","userId":"u","name":"Home","timestamp":"2024-01-01T00:00:00Z"}`, ""},
		{"/v1/group", `{"userId":"u","groupId":"g","timestamp":"2024-01-01T00:00:00Z"}`, 200,
			`{"type":"group","userId":"u","groupId":"g","timestamp":"2024-01-01T00:00:00Z"}`, ""},
		{"/v1/alias", `{"userId":"u","previousId":"p","timestamp":"2024-01-01T00:00:00Z"}`, 200,
			`{"type":"alias","userId":"u","previousId":"p","timestamp":"2024-01-01T00:00:00Z"}`, ""},
		// Well-formed, but Segment would drop the message: 200, not kept.
		{"/v1/track", `{"userId":"u","timestamp":"2024-01-01T00:00:00Z"}`, 200, "", "missing_event"},
		{"/v1/group", `{"userId":"u","timestamp":"2024-01-01T00:00:00Z"}`, 200, "", "missing_id"},
		{"/v1/alias", `{"anonymousId":"a","previousId":"p","timestamp":"2024-01-01T00:00:00Z"}`, 200, "", "missing_id"},
		{"/v1/track", `{"type":"identify","userId":"u","event":"e","timestamp":"2024-01-01T00:00:00Z"}`, 200, "", "invalid_type"},
		{"/v1/identify", `{"userId":"u"}`, 200, "", "missing_timestamp"},
		// Malformed: 400.
		{"/v1/identify", `[{"userId":"u"}]`, 400, "", "invalid_field"},
		{"/v1/identify", `{"userId":"u",`, 400, "", ""},
		{"/v1/identify", `{"userId":"u"} {}`, 400, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.body, func(t *testing.T) {
			f := newReceiverFixture(t, Config{WriteKey: receiverKey})
			r := f.post(t, tt.path, []byte(tt.body), postOptions{})
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.raw)
			}
			if tt.wantStatus == 200 && tt.wantReason != "" {
				if f.out.Len() != 0 {
					t.Errorf("a message Segment would drop was written: %s", f.out.String())
				}
				if st := f.rcv.Stats(); st.Batches != 1 || st.Messages != 0 || st.Rejected != 0 {
					t.Errorf("stats %+v, want 1 batch accepted, no message kept", st)
				}
				if _, has := f.checkDropped(t, tt.wantReason)["index"]; has {
					t.Errorf("a single message's drop is logged with an index")
				}
				return
			}
			if tt.wantStatus == 200 {
				if got := f.lines(); len(got) != 1 || got[0] != tt.wantLine {
					t.Errorf("Out %q, want %q", got, tt.wantLine)
				}
				if !json.Valid([]byte(f.lines()[0])) {
					t.Errorf("invalid JSON line %s", f.lines()[0])
				}
				return
			}
			if f.out.Len() != 0 {
				t.Errorf("refused message written: %s", f.out.String())
			}
			if tt.wantReason != "" && r.body["reason"] != tt.wantReason {
				t.Errorf("reason %v, want %s: %s", r.body["reason"], tt.wantReason, r.raw)
			}
			if _, has := r.body["index"]; has {
				t.Errorf("single message reply has an index: %s", r.raw)
			}
		})
	}
}

// rawMessages turns JSON objects into a batch body.
func rawBatchBody(msgs ...string) []byte {
	return []byte(`{"batch":[` + strings.Join(msgs, ",") + `],"sentAt":"2024-01-01T00:00:00.000Z"}`)
}

// TestReceiverDropsWhatSegmentDrops: a well-formed batch holding a message
// that breaks Segment's spec is answered 200, as Segment does; the other
// messages are kept, and the bad one is counted and logged as one Segment
// would drop, with its index, field and reason.
func TestReceiverDropsWhatSegmentDrops(t *testing.T) {
	good := `{"type":"track","userId":"u","event":"e","timestamp":"2024-01-01T00:00:00Z"}`
	longID := strings.Repeat("m", 101)
	tests := []struct {
		name       string
		bad        string
		wantReason string
		wantField  string
	}{
		{"unknown type", `{"type":"click","userId":"u","timestamp":"2024-01-01T00:00:00Z"}`, "invalid_type", "type"},
		{"no type", `{"userId":"u","timestamp":"2024-01-01T00:00:00Z"}`, "invalid_type", "type"},
		{"type not a string", `{"type":1,"userId":"u","timestamp":"2024-01-01T00:00:00Z"}`, "invalid_type", "type"},
		{"no ids", `{"type":"identify","timestamp":"2024-01-01T00:00:00Z"}`, "missing_id", "userId"},
		{"empty ids", `{"type":"identify","userId":"","anonymousId":"","timestamp":"2024-01-01T00:00:00Z"}`, "missing_id", "userId"},
		{"userId a number", `{"type":"identify","userId":42,"timestamp":"2024-01-01T00:00:00Z"}`, "missing_id", "userId"},
		{"alias without previousId", `{"type":"alias","userId":"u","timestamp":"2024-01-01T00:00:00Z"}`, "missing_id", "previousId"},
		{"alias without userId", `{"type":"alias","anonymousId":"a","previousId":"p","timestamp":"2024-01-01T00:00:00Z"}`, "missing_id", "userId"},
		{"track without event", `{"type":"track","userId":"u","timestamp":"2024-01-01T00:00:00Z"}`, "missing_event", "event"},
		{"group without groupId", `{"type":"group","userId":"u","timestamp":"2024-01-01T00:00:00Z"}`, "missing_id", "groupId"},
		{"messageId too long", `{"type":"identify","userId":"u","messageId":"` + longID + `","timestamp":"2024-01-01T00:00:00Z"}`, "invalid_message_id", "messageId"},
		{"no timestamp", `{"type":"identify","userId":"u"}`, "missing_timestamp", "timestamp"},
		{"null timestamp", `{"type":"identify","userId":"u","timestamp":null}`, "missing_timestamp", "timestamp"},
		{"timestamp not RFC 3339", `{"type":"identify","userId":"u","timestamp":"2024-01-01 00:00:00"}`, "bad_timestamp", "timestamp"},
		{"timestamp a number", `{"type":"identify","userId":"u","timestamp":1704067200}`, "bad_timestamp", "timestamp"},
		{"properties an array", `{"type":"track","userId":"u","event":"e","timestamp":"2024-01-01T00:00:00Z","properties":[1]}`, "invalid_field", "properties"},
		{"traits a string", `{"type":"identify","userId":"u","timestamp":"2024-01-01T00:00:00Z","traits":"x"}`, "invalid_field", "traits"},
		{"context a number", `{"type":"identify","userId":"u","timestamp":"2024-01-01T00:00:00Z","context":1}`, "invalid_field", "context"},
		{"integrations a boolean", `{"type":"identify","userId":"u","timestamp":"2024-01-01T00:00:00Z","integrations":true}`, "invalid_field", "integrations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newReceiverFixture(t, Config{})
			body := rawBatchBody(good, good, good, tt.bad, good)
			r := f.post(t, "/v1/batch", body, postOptions{noAuth: true})
			if r.status != 200 {
				t.Fatalf("status %d, want 200 as Segment answers: %s", r.status, r.raw)
			}
			if got := f.lines(); len(got) != 4 || strings.Join(got, "\n") != strings.Join([]string{good, good, good, good}, "\n") {
				t.Errorf("Out %q, want the 4 good messages and not the bad one", got)
			}
			if st := f.rcv.Stats(); st != (Stats{Requests: 1, Batches: 1, Messages: 4, Dropped: 1}) {
				t.Errorf("stats %+v", st)
			}
			rec := f.checkDropped(t, tt.wantReason)
			if rec["index"] != 3.0 || rec["path"] != "/v1/batch" {
				t.Errorf("logged drop %v, want index 3 of /v1/batch", rec)
			}
			if got, _ := rec["field"].(string); got != tt.wantField {
				t.Errorf("logged field %q, want %q", got, tt.wantField)
			}
			if detail, _ := rec["detail"].(string); detail == "" {
				t.Errorf("logged drop %v has no detail", rec)
			}
			if tt.wantReason == "invalid_message_id" && rec["messageId"] != longID {
				t.Errorf("logged messageId %v", rec["messageId"])
			}
		})
	}
}

// TestReceiverMalformedMessage: a message that is not a JSON object makes
// the request malformed: refused whole with 400 naming the message, nothing
// written, nothing counted as dropped. A message over the size cap is
// refused so even when it also breaks the spec.
func TestReceiverMalformedMessage(t *testing.T) {
	good := `{"type":"track","userId":"u","event":"e","timestamp":"2024-01-01T00:00:00Z"}`
	tests := []struct {
		name       string
		bad        string
		wantReason string
	}{
		{"not an object", `"hello"`, "invalid_field"},
		{"null message", `null`, "invalid_field"},
		{"an array", `[` + good + `]`, "invalid_field"},
		{"too large and without event", `{"type":"track","userId":"u","timestamp":"2024-01-01T00:00:00Z","properties":{"s":"` + strings.Repeat("x", 600) + `"}}`, "message_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newReceiverFixture(t, Config{Limits: sink.Limits{MaxMessageBytes: 600}})
			r := f.post(t, "/v1/batch", rawBatchBody(good, good, good, tt.bad, good), postOptions{noAuth: true})
			if r.status != 400 {
				t.Fatalf("status %d, want 400: %s", r.status, r.raw)
			}
			if f.out.Len() != 0 {
				t.Errorf("a refused batch wrote %s", f.out.String())
			}
			if r.body["index"] != 3.0 || r.body["reason"] != tt.wantReason {
				t.Errorf("reply names index %v reason %v, want 3 %s: %s", r.body["index"], r.body["reason"], tt.wantReason, r.raw)
			}
			msg, _ := r.body["message"].(string)
			if !strings.HasPrefix(msg, "batch[3]: "+tt.wantReason+": ") {
				t.Errorf("message %q does not name the index and the rule", msg)
			}
			if st := f.rcv.Stats(); st != (Stats{Requests: 1, Rejected: 1}) {
				t.Errorf("stats %+v", st)
			}
			if got := f.drops(t); len(got) != 0 {
				t.Errorf("a refused request logged drops: %v", got)
			}
			// The same batch without the bad message goes through.
			if r := f.post(t, "/v1/batch", rawBatchBody(good, good, good, good), postOptions{noAuth: true}); r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if len(f.lines()) != 4 {
				t.Errorf("wrote %d lines, want 4", len(f.lines()))
			}
		})
	}
}

// TestReceiverAgreesWithValidate sends messages that Validate refuses (but
// that encode) and expects the receiver to drop them for the same reason
// and field.
func TestReceiverAgreesWithValidate(t *testing.T) {
	base := func(typ string, edit func(*sink.Message)) *sink.Message {
		m := &sink.Message{Type: typ, UserID: "u", Event: "e", GroupID: "g", PreviousID: "p", Timestamp: receiverTime}
		edit(m)
		return m
	}
	msgs := []*sink.Message{
		base(sink.TypeTrack, func(m *sink.Message) { m.Type = "bogus" }),
		base(sink.TypeIdentify, func(m *sink.Message) { m.UserID = "" }),
		base(sink.TypeAlias, func(m *sink.Message) { m.UserID, m.AnonymousID = "", "a" }),
		base(sink.TypeAlias, func(m *sink.Message) { m.PreviousID = "" }),
		base(sink.TypeTrack, func(m *sink.Message) { m.Event = "" }),
		base(sink.TypeGroup, func(m *sink.Message) { m.GroupID = "" }),
		base(sink.TypeTrack, func(m *sink.Message) { m.MessageID = strings.Repeat("z", 101) }),
		base(sink.TypeTrack, func(m *sink.Message) { m.Properties = json.RawMessage(`[1]`) }),
	}
	for _, m := range msgs {
		verr := validate(m)
		var ve *sink.ValidationError
		if !errors.As(verr, &ve) {
			t.Fatalf("Validate(%+v) = %v", m, verr)
		}
		t.Run(ve.Reason+" "+ve.Field, func(t *testing.T) {
			var enc []byte
			var err error
			if _, isRaw := m.Properties.(json.RawMessage); isRaw {
				enc = []byte(`{"type":"track","userId":"u","event":"e","timestamp":"2024-01-01T00:00:00.000Z","properties":[1]}`)
			} else if enc, err = appendUnchecked(m); err != nil {
				t.Fatal(err)
			}
			f := newReceiverFixture(t, Config{})
			r := f.post(t, "/v1/batch", rawBatchBody(string(enc)), postOptions{noAuth: true})
			if r.status != 200 || f.out.Len() != 0 {
				t.Fatalf("receiver: %d %s, wrote %q; want 200 and the message dropped", r.status, r.raw, f.out.String())
			}
			if rec := f.checkDropped(t, ve.Reason); rec["field"] != ve.Field {
				t.Errorf("receiver dropped %v; Validate: %s %s", rec, ve.Field, ve.Reason)
			}
		})
	}
	// And accepts what Validate accepts.
	f := newReceiverFixture(t, Config{})
	b := receiverBatch(t, validMessages(t, "ok", 12)...)
	if r := f.post(t, "/v1/batch", b.Body(receiverTime), postOptions{noAuth: true}); r.status != 200 {
		t.Errorf("valid messages refused: %s", r.raw)
	}
}

func TestReceiverCaps(t *testing.T) {
	msg := func(i, size int) *sink.Message {
		m := sinktest.SizedMessage(t, i, size)
		return m
	}
	// Message cap.
	for _, tt := range []struct {
		name       string
		size       int
		wantStatus int
	}{
		{"message at the cap", 600, 200},
		{"message one over the cap", 601, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newReceiverFixture(t, Config{Limits: sink.Limits{MaxMessageBytes: 600}})
			body := receiverBatch(t, msg(0, 300), msg(1, tt.size)).Body(receiverTime)
			r := f.post(t, "/v1/batch", body, postOptions{noAuth: true})
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.raw)
			}
			if tt.wantStatus == 400 {
				if r.body["index"] != 1.0 || r.body["reason"] != "message_too_large" {
					t.Errorf("reply %s does not name message 1 as too large", r.raw)
				}
				if f.out.Len() != 0 {
					t.Error("wrote part of a refused batch")
				}
			}
		})
	}
	// Single message cap: the compact form counts.
	t.Run("single message over the cap", func(t *testing.T) {
		f := newReceiverFixture(t, Config{Limits: sink.Limits{MaxMessageBytes: 600}})
		enc, _ := sinktest.Encode(msg(0, 601))
		r := f.post(t, "/v1/track", enc, postOptions{noAuth: true})
		if r.status != 400 || r.body["reason"] != "message_too_large" {
			t.Errorf("reply %d %s", r.status, r.raw)
		}
	})

	// Body cap, plain and gzipped (the cap applies after gunzip).
	body := receiverBatch(t, msg(0, 500), msg(1, 500), msg(2, 500)).Body(receiverTime)
	for _, gz := range []bool{false, true} {
		for _, tt := range []struct {
			name       string
			cap        int
			wantStatus int
		}{
			{"body at the cap", len(body), 200},
			{"body one under the cap", len(body) + 1, 200},
			{"body one over the cap", len(body) - 1, 400},
		} {
			t.Run(fmt.Sprintf("%s gzip=%v", tt.name, gz), func(t *testing.T) {
				f := newReceiverFixture(t, Config{Limits: sink.Limits{MaxBatchBytes: tt.cap, MaxMessageBytes: 500}})
				r := f.post(t, "/v1/batch", body, postOptions{noAuth: true, gzip: gz})
				if r.status != tt.wantStatus {
					t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.raw)
				}
				if tt.wantStatus == 400 {
					if msg, _ := r.body["message"].(string); !strings.Contains(msg, "limit") {
						t.Errorf("message %q does not say the limit", msg)
					}
					if f.out.Len() != 0 {
						t.Error("wrote part of a refused batch")
					}
				} else if len(f.lines()) != 3 {
					t.Errorf("wrote %d lines", len(f.lines()))
				}
			})
		}
	}

	// Messages per batch.
	for _, tt := range []struct {
		name       string
		n          int
		wantStatus int
	}{
		{"messages at the cap", 5, 200},
		{"messages one over the cap", 6, 200},
		{"messages three over the cap", 8, 200},
	} {
		// Segment answers 200 and drops the messages past the cap.
		t.Run(tt.name, func(t *testing.T) {
			f := newReceiverFixture(t, Config{Limits: sink.Limits{MaxMessages: 5}})
			b := receiverBatch(t, validMessages(t, "n", tt.n)...)
			r := f.post(t, "/v1/batch", b.Body(receiverTime), postOptions{noAuth: true})
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.raw)
			}
			if got, want := f.lines(), batchLines(b)[:5]; strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("wrote %d lines, want the first 5", len(got))
			}
			over := int64(tt.n - 5)
			if st := f.rcv.Stats(); st.Messages != 5 || st.Dropped != over {
				t.Errorf("stats %+v, want 5 kept, %d dropped", st, over)
			}
			if over > 0 {
				if got := f.rcv.DroppedByReason(); len(got) != 1 || got[ReasonTooManyMessages] != over {
					t.Errorf("dropped by reason %v", got)
				}
				if recs := f.drops(t); len(recs) != int(over) || recs[0]["index"] != 5.0 {
					t.Errorf("logged drops %v, want from index 5", recs)
				}
			}
		})
	}
}

func TestReceiverBadRequests(t *testing.T) {
	valid := receiverBatch(t, validMessages(t, "v", 2)...).Body(receiverTime)
	tests := []struct {
		name       string
		method     string
		path       string
		body       []byte
		o          postOptions
		wantStatus int
	}{
		{"GET batch", http.MethodGet, "/v1/batch", nil, postOptions{}, 405},
		{"PUT track", http.MethodPut, "/v1/track", valid, postOptions{}, 405},
		{"unknown path", http.MethodPost, "/v1/batches", valid, postOptions{}, 404},
		{"root", http.MethodPost, "/", valid, postOptions{}, 404},
		{"invalid JSON", http.MethodPost, "/v1/batch", []byte(`{"batch":[`), postOptions{}, 400},
		{"empty body", http.MethodPost, "/v1/batch", nil, postOptions{}, 400},
		{"no batch", http.MethodPost, "/v1/batch", []byte(`{"sentAt":"2024-01-01T00:00:00Z"}`), postOptions{}, 400},
		{"batch not an array", http.MethodPost, "/v1/batch", []byte(`{"batch":{}}`), postOptions{}, 400},
		{"body an array", http.MethodPost, "/v1/batch", []byte(`[]`), postOptions{}, 400},
		{"trailing data", http.MethodPost, "/v1/batch", append(append([]byte{}, valid...), " x"...), postOptions{}, 400},
		{"not gzip", http.MethodPost, "/v1/batch", valid, postOptions{encoding: "gzip"}, 400},
		{"unsupported encoding", http.MethodPost, "/v1/batch", valid, postOptions{encoding: "br"}, 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newReceiverFixture(t, Config{WriteKey: receiverKey})
			tt.o.method = tt.method
			r := f.post(t, tt.path, tt.body, tt.o)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.raw)
			}
			if tt.wantStatus == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow %q", r.header.Get("Allow"))
			}
			if f.out.Len() != 0 {
				t.Errorf("wrote %s", f.out.String())
			}
			if st := f.rcv.Stats(); st != (Stats{Requests: 1, Rejected: 1}) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestReceiverEmptyBatch(t *testing.T) {
	f := newReceiverFixture(t, Config{})
	if r := f.post(t, "/v1/batch", rawBatchBody(), postOptions{noAuth: true}); r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if f.out.Len() != 0 {
		t.Errorf("wrote %q", f.out.String())
	}
}

func TestReceiverWriteFailure(t *testing.T) {
	f := newReceiverFixture(t, Config{Out: &failingWriter{n: 5, err: errDiskFull}})
	r := f.post(t, "/v1/batch", receiverBatch(t, validMessages(t, "w", 3)...).Body(receiverTime), postOptions{noAuth: true})
	if r.status != 500 {
		t.Fatalf("status %d, want 500: %s", r.status, r.raw)
	}
	if msg, _ := r.body["message"].(string); !strings.Contains(msg, "disk full") {
		t.Errorf("message %q does not give the cause", msg)
	}
	if st := f.rcv.Stats(); st.Messages != 0 || st.Rejected != 1 {
		t.Errorf("stats %+v", st)
	}
}

type failingWriter struct {
	n   int // bytes to accept
	err error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return w.n, w.err
	}
	return len(p), nil
}

var errDiskFull = errors.New("disk full")

func TestReceiverConcurrentPosts(t *testing.T) {
	const clients, perClient = 6, 12
	var out sinktest.LockedBuffer
	f := newReceiverFixture(t, Config{WriteKey: receiverKey, Out: &out})
	bodies := make([][][]byte, clients)
	var want []string
	for c := range clients {
		for k := range perClient {
			b := receiverBatch(t, validMessages(t, fmt.Sprintf("c%d-k%d", c, k), 1+k%5)...)
			bodies[c] = append(bodies[c], append([]byte(nil), b.Body(receiverTime)...))
			want = append(want, batchLines(b)...)
		}
	}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for k, body := range bodies[c] {
				r, err := f.do(t, "/v1/batch", body, postOptions{gzip: k%2 == 0})
				if err != nil {
					t.Error(err)
				} else if r.status != 200 {
					t.Errorf("status %d: %s", r.status, r.raw)
				}
			}
		})
	}
	wg.Wait()

	seen := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			t.Errorf("broken line %q", sc.Text())
		}
		seen[sc.Text()]++
	}
	for _, line := range want {
		if seen[line] != 1 {
			t.Errorf("written %d times: %s", seen[line], line)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct lines, want %d", len(seen), len(want))
	}
	st := f.rcv.Stats()
	if want := (Stats{Requests: clients * perClient, Batches: clients * perClient, Messages: int64(len(want))}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if out.Writes() != clients*perClient {
		t.Errorf("%d writes to Out, want one per request (%d)", out.Writes(), clients*perClient)
	}
}

// TestReceiverDiscard checks that a discarding receiver still refuses a
// wrong key, an unknown path and an over-long body, and otherwise answers
// 200 without checking or keeping anything.
func TestReceiverDiscard(t *testing.T) {
	f := newReceiverFixture(t, Config{WriteKey: receiverKey, Discard: true,
		Limits: sink.Limits{MaxBatchBytes: 1000}})
	body := []byte(`{"batch": [{"type": "nonsense"}]}`) // refused by a checking receiver
	if r := f.post(t, "/v1/batch", body, postOptions{}); r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if r := f.post(t, "/v1/batch", body, postOptions{gzip: true}); r.status != 200 {
		t.Fatalf("gzip: status %d: %s", r.status, r.raw)
	}
	if r := f.post(t, "/v1/batch", body, postOptions{user: "wk_other"}); r.status != 401 {
		t.Errorf("wrong key: status %d, want 401", r.status)
	}
	if r := f.post(t, "/v1/nowhere", body, postOptions{}); r.status != 404 {
		t.Errorf("unknown path: status %d, want 404", r.status)
	}
	if r := f.post(t, "/v1/batch", bytes.Repeat([]byte(" "), 2*1000+1025), postOptions{}); r.status != 400 {
		t.Errorf("over-long body: status %d, want 400", r.status)
	}
	if f.out.Len() != 0 {
		t.Errorf("a discarding receiver wrote %q", f.out.String())
	}
	st := f.rcv.Stats()
	gz := len(gzipped(body))
	if want := (Stats{Requests: 5, Batches: 2, Rejected: 3, Bytes: int64(len(body) + gz + 2*1000 + 1025)}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}

// gzipped returns b gzipped, as the fixture posts it.
func gzipped(b []byte) []byte {
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(b)
	zw.Close()
	return zb.Bytes()
}

// validate returns the error of writing m, or nil.
func validate(m *sink.Message) error {
	_, err := sinktest.Encode(m)
	return err
}

// appendUnchecked writes m's string fields and timestamp as the writer
// orders them, without the spec's checks, for tests of what checks them.
func appendUnchecked(m *sink.Message) ([]byte, error) {
	b := []byte(`{"type":`)
	b = jsontext.AppendString(b, m.Type)
	field := func(key, v string) {
		if v != "" {
			b = append(b, ',')
			b = jsontext.AppendString(b, key)
			b = append(b, ':')
			b = jsontext.AppendString(b, v)
		}
	}
	field("messageId", m.MessageID)
	b = append(b, `,"timestamp":"`...)
	b = m.Timestamp.UTC().AppendFormat(b, sink.TimeLayout)
	b = append(b, '"')
	field("userId", m.UserID)
	field("anonymousId", m.AnonymousID)
	field("event", m.Event)
	field("name", m.Name)
	field("category", m.Category)
	field("groupId", m.GroupID)
	field("previousId", m.PreviousID)
	return append(b, '}'), nil
}
