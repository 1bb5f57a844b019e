package receiver

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backfillhq/backfill/internal/jsontext"
	"github.com/backfillhq/backfill/sink"
	"github.com/klauspost/compress/gzip"
)

// Config configures a Receiver.
type Config struct {
	// WriteKey, if set, must be the user of the request's Basic auth, with an
	// empty password, as Segment's libraries send it; other requests are
	// answered 401. Default: no authentication.
	WriteKey string
	// Out receives every message kept as one line of compact JSON, in the
	// order the requests were accepted. A message Segment would drop is
	// not written (see Receiver). Default: io.Discard.
	Out io.Writer
	// Logger receives one Warn record for each message Segment would drop,
	// with its index in the batch, messageId, reason, field and detail.
	// Default (nil): no log; the drops are still counted.
	Logger *slog.Logger
	// Limits are the caps a request must respect, the same as the batcher's:
	// the (decompressed) body, each message compacted, and the messages of a
	// batch. Zero fields mean the defaults.
	Limits sink.Limits
	// Discard makes a receiver that costs as little as it can, for
	// measuring an importer: it answers every authenticated POST to a
	// known path 200 after reading the body (up to the body limit, not
	// decompressed), without checking or keeping its messages. Messages
	// stays zero; Bytes counts what was read.
	Discard bool
	// MaxRPS, if positive, limits the requests the receiver accepts to
	// that many in any second, as Segment does when a workspace goes over
	// its limit: a request over it is answered 429 Too Many Requests with
	// Retry-After: 1, before its body is read, and counted in
	// Stats.Throttled. Every answer states the limit in X-RateLimit-Limit,
	// X-RateLimit-Remaining and RateLimit-Policy ("N;w=1"), unless
	// HideLimit. Default: no limit.
	MaxRPS int
	// HideLimit leaves out the rate-limit headers, as a server that
	// states no limit and only answers 429.
	HideLimit bool
}

// Stats are the counts of a Receiver since it was made.
type Stats struct {
	Requests int64 // every request received
	Batches  int64 // requests accepted, batch or single message
	Messages int64 // messages accepted and written to Out
	Dropped  int64 // messages of accepted requests that Segment would drop; see Receiver.DroppedByReason
	Rejected int64 // requests answered with an error status
	Bytes    int64 // request bodies read by a Discard receiver, as sent
	// Throttled counts requests answered 429 over MaxRPS; they are
	// counted in Rejected too.
	Throttled int64
}

// ReasonTooManyMessages is the reason a Receiver drops the messages of a
// batch past its MaxMessages (2,500): Segment accepts the request and
// drops them.
const ReasonTooManyMessages = "too_many_messages"

// Receiver is an http.Handler that speaks Segment's HTTP Tracking API, for
// trying imports locally and for end-to-end tests. It serves POST
// /v1/batch and /v1/import (a body {"batch": [...], "sentAt": ...}) and
// /v1/track, /v1/identify, /v1/page, /v1/screen, /v1/group and /v1/alias (one
// message, whose type is the path's), with the body optionally gzipped
// (Content-Encoding: gzip).
//
// It answers as Segment does. A well-formed request is answered 200
// {"success":true}, even when it holds messages that Segment would accept
// and then drop: a message that breaks Validate's rules (no userId or
// anonymousId, a track without event, a messageId over 100 characters, an
// unknown type, …) and the messages of a batch past MaxMessages. Such a
// message is not written to Out; it is counted in Stats.Dropped and
// by reason (DroppedByReason, the sink.ValidationError reasons and
// ReasonTooManyMessages) and logged to Logger. Validate is a little
// stricter than Segment, which stamps a message without a timestamp with
// the time it received it: the receiver drops it as missing_timestamp, so
// that an importer's mistake shows.
//
// A malformed request is refused whole with 400 and {"error", "message"}
// (and "index" and "reason" when one message is at fault), and nothing of it
// is written: invalid JSON, a body that is not an object with a "batch"
// array, a message that is not a JSON object, a body over MaxBatchBytes
// (after gunzip) or a message over MaxMessageBytes (compacted). The messages
// of an accepted request are written to Out before the 200; if writing
// fails it answers 500. Other answers: 401 for a wrong write key, 404 for an
// unknown path, 405 for a method other than POST, 415 for an encoding other
// than gzip, and 429 with Retry-After over MaxRPS.
//
// A Receiver is safe for concurrent use; writes to Out are serialized, one
// request at a time.
type Receiver struct {
	writeKey string
	limits   sink.Limits
	discard  bool

	log *slog.Logger // nil: none

	mu  sync.Mutex // guards out
	out io.Writer

	dropMu sync.Mutex
	drops  map[string]int64 // by reason

	window    *requestWindow // nil: no request limit
	hideLimit bool
	now       func() time.Time

	requests, batches, messages, dropped, rejected, bytes, throttled atomic.Int64
}

// New returns a Receiver configured by cfg.
func New(cfg Config) *Receiver {
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	r := &Receiver{writeKey: cfg.WriteKey, limits: cfg.Limits.WithDefaults(), discard: cfg.Discard,
		log: cfg.Logger, out: out, drops: map[string]int64{}, hideLimit: cfg.HideLimit, now: time.Now}
	if cfg.MaxRPS > 0 {
		r.window = newRequestWindow(cfg.MaxRPS)
	}
	return r
}

// DroppedByReason returns how many messages of accepted requests Segment
// would drop, by reason; it sums to Stats.Dropped.
func (r *Receiver) DroppedByReason() map[string]int64 {
	r.dropMu.Lock()
	defer r.dropMu.Unlock()
	return maps.Clone(r.drops)
}

// Stats returns the counts so far.
func (r *Receiver) Stats() Stats {
	return Stats{
		Requests: r.requests.Load(),
		Batches:  r.batches.Load(),
		Messages: r.messages.Load(),
		Dropped:  r.dropped.Load(),
		Rejected: r.rejected.Load(),
		Bytes:    r.bytes.Load(),

		Throttled: r.throttled.Load(),
	}
}

// receiverPaths maps each path to the message type it implies, or "" for
// the batch endpoints.
var receiverPaths = map[string]string{
	"/v1/batch":    "",
	"/v1/import":   "",
	"/v1/track":    sink.TypeTrack,
	"/v1/identify": sink.TypeIdentify,
	"/v1/page":     sink.TypePage,
	"/v1/screen":   sink.TypeScreen,
	"/v1/group":    sink.TypeGroup,
	"/v1/alias":    sink.TypeAlias,
}

// requestError is a request the Receiver refuses.
type requestError struct {
	status  int
	error   string // short, stable
	message string // for people
	index   int    // of the bad message, or -1
	field   string
	reason  string
}

// drop is a message of a request that Segment would accept and drop.
type drop struct {
	index     int // in the batch, or -1 for a single message
	messageID string
	field     string
	reason    string
	detail    string
}

// ServeHTTP answers one request; see Receiver.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	n, rerr := r.serve(w, req)
	if rerr != nil {
		r.rejected.Add(1)
		writeRequestError(w, rerr)
		return
	}
	r.batches.Add(1)
	r.messages.Add(int64(n))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, `{"success":true}`)
}

func writeRequestError(w http.ResponseWriter, e *requestError) {
	body := map[string]any{"error": e.error, "message": e.message}
	if e.index >= 0 {
		body["index"] = e.index
	}
	if e.field != "" {
		body["field"] = e.field
	}
	if e.reason != "" {
		body["reason"] = e.reason
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="segment"`)
	}
	if e.status == http.StatusMethodNotAllowed {
		h.Set("Allow", http.MethodPost)
	}
	w.WriteHeader(e.status)
	w.Write(b)
}

func badRequest(format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, error: "bad request", message: fmt.Sprintf(format, args...), index: -1}
}

// countDrops counts and logs the messages of an accepted request that
// Segment would drop.
func (r *Receiver) countDrops(path string, drops []drop) {
	r.dropped.Add(int64(len(drops)))
	r.dropMu.Lock()
	for _, d := range drops {
		r.drops[d.reason]++
	}
	r.dropMu.Unlock()
	if r.log == nil {
		return
	}
	for _, d := range drops {
		attrs := []any{"path", path, "reason", d.reason}
		if d.index >= 0 {
			attrs = append(attrs, "index", d.index)
		}
		if d.messageID != "" {
			attrs = append(attrs, "messageId", d.messageID)
		}
		if d.field != "" {
			attrs = append(attrs, "field", d.field)
		}
		r.log.Warn("Segment would drop this message", append(attrs, "detail", d.detail)...)
	}
}

// serve checks the request's messages and writes those Segment would keep,
// returning how many; once the request is accepted, it counts those Segment
// would drop.
func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) (int, *requestError) {
	typ, ok := receiverPaths[req.URL.Path]
	if !ok {
		return 0, &requestError{status: http.StatusNotFound, error: "not found",
			message: "no endpoint " + req.URL.Path, index: -1}
	}
	if req.Method != http.MethodPost {
		return 0, &requestError{status: http.StatusMethodNotAllowed, error: "method not allowed",
			message: req.Method + " " + req.URL.Path + ": use POST", index: -1}
	}
	if r.writeKey != "" {
		user, pass, ok := req.BasicAuth()
		if !ok || pass != "" || subtle.ConstantTimeCompare([]byte(user), []byte(r.writeKey)) != 1 {
			msg := "wrong write key"
			if !ok {
				msg = "missing write key: use Basic auth with the write key as user"
			}
			return 0, &requestError{status: http.StatusUnauthorized, error: "unauthorized", message: msg, index: -1}
		}
	}
	if rerr := r.limitRequest(w); rerr != nil {
		return 0, rerr
	}
	if r.discard {
		// As readBody allows for gzip: incompressible data grows a little.
		limit := 2*int64(r.limits.MaxBatchBytes) + 1024
		n, err := io.Copy(io.Discard, io.LimitReader(req.Body, limit+1))
		r.bytes.Add(n)
		switch {
		case err != nil:
			return 0, badRequest("read body: %v", err)
		case n > limit:
			return 0, badRequest("the body is over the limit of %d bytes", limit)
		}
		return 0, nil
	}
	// The body and what is written of it are done with once the request
	// is answered: their buffers serve the next requests.
	bufs := receiverBufs.Get().(*receiverBuffers)
	defer receiverBufs.Put(bufs)
	body, rerr := r.readBody(w, req, &bufs.body)
	if rerr != nil {
		return 0, rerr
	}

	out := bufs.out[:0]
	defer func() { bufs.out = out[:0] }()
	var (
		count int
		drops []drop
	)
	if typ == "" {
		batchRaw, rerr := batchMember(body)
		if rerr != nil {
			return 0, rerr
		}
		if batchRaw == nil || isNull(batchRaw) {
			return 0, badRequest(`the body has no "batch" array`)
		}
		var batch [][]byte
		if !jsontext.WalkElements(batchRaw, func(v []byte) { batch = append(batch, v) }) {
			return 0, badRequest(`invalid JSON body: "batch" must be an array`)
		}
		for i, raw := range batch {
			var (
				d   *drop
				err *requestError
			)
			start := len(out)
			if out, d, err = r.appendChecked(out, raw, "", i); err != nil {
				return 0, err
			}
			switch {
			case d != nil:
				drops = append(drops, *d)
			case i >= r.limits.MaxMessages:
				// Past the cap, but still checked: a malformed message
				// refuses the whole request.
				out = out[:start]
				drops = append(drops, drop{index: i, reason: ReasonTooManyMessages,
					detail: fmt.Sprintf("the batch has %d messages, the limit is %d", len(batch), r.limits.MaxMessages)})
			default:
				count++
			}
		}
	} else {
		if !json.Valid(body) {
			return 0, badRequest("invalid JSON body")
		}
		var (
			d   *drop
			err *requestError
		)
		if out, d, err = r.appendChecked(out, body, typ, -1); err != nil {
			return 0, err
		}
		if d != nil {
			drops = append(drops, *d)
		} else {
			count = 1
		}
	}

	if len(out) > 0 {
		r.mu.Lock()
		n, err := r.out.Write(out)
		r.mu.Unlock()
		if err == nil && n < len(out) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return 0, &requestError{status: http.StatusInternalServerError, error: "internal error",
				message: "write messages: " + err.Error(), index: -1}
		}
	}
	if len(drops) > 0 {
		r.countDrops(req.URL.Path, drops)
	}
	return count, nil
}

// batchMember checks that body is a valid JSON object and returns its
// "batch" member (the last one), nil if it has none. The jsontext scanner
// checks and splits the body in one pass; a body it refuses (it also
// refuses nesting deeper than it reads) gets encoding/json's verdict.
func batchMember(body []byte) ([]byte, *requestError) {
	var batchRaw []byte
	err := jsontext.ObjectMembers(body, func(key string, value json.RawMessage) bool {
		if key == "batch" {
			batchRaw = value
		}
		return true
	})
	if err == nil {
		return batchRaw, nil
	}
	if !json.Valid(body) {
		var v any
		return nil, badRequest("invalid JSON body: %v", json.Unmarshal(body, &v))
	}
	batchRaw = nil
	if _, isObject := jsontext.WalkMembers(body, func(key string, value []byte) {
		if key == "batch" {
			batchRaw = value
		}
	}); !isObject {
		return nil, badRequest("invalid JSON body: the body must be a JSON object")
	}
	return batchRaw, nil
}

// receiverBuffers are the memory of one request: its body, and the lines
// written of it.
type receiverBuffers struct {
	body bytes.Buffer
	out  []byte
}

var receiverBufs = sync.Pool{New: func() any { return new(receiverBuffers) }}

// readBody reads the whole body into buf, gunzipped, refusing more than
// MaxBatchBytes.
func (r *Receiver) readBody(w http.ResponseWriter, req *http.Request, buf *bytes.Buffer) ([]byte, *requestError) {
	limit := r.limits.MaxBatchBytes
	var src io.Reader
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		src = http.MaxBytesReader(w, req.Body, int64(limit)+1)
	case "gzip":
		// Incompressible data grows a little when gzipped.
		raw := http.MaxBytesReader(w, req.Body, 2*int64(limit)+1024)
		gz, err := gzip.NewReader(raw)
		if err != nil {
			return nil, badRequest("invalid gzip body: %v", err)
		}
		defer gz.Close()
		src = io.LimitReader(gz, int64(limit)+1)
	default:
		return nil, &requestError{status: http.StatusUnsupportedMediaType, error: "unsupported content encoding",
			message: "content encoding " + strconv.Quote(enc) + " is not supported; use gzip or none", index: -1}
	}
	buf.Reset()
	_, err := buf.ReadFrom(src)
	body := buf.Bytes()
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, badRequest("the body is over the limit of %d bytes", limit)
		}
		return nil, badRequest("read body: %v", err)
	}
	if len(body) > limit {
		return nil, badRequest("the body is over the limit of %d bytes", limit)
	}
	return body, nil
}

// appendChecked checks one message and appends its compact JSON and a
// newline to out. A message Segment would drop is returned as d, and out
// comes back unchanged; a malformed one (not an object, over the size cap)
// is an error that refuses the request. typ is the type the path implies,
// or "" for a batch; index is the message's index in the batch, or -1 for
// a single message.
func (r *Receiver) appendChecked(out []byte, raw []byte, typ string, index int) (_ []byte, d *drop, _ *requestError) {
	where := "message"
	if index >= 0 {
		where = "batch[" + strconv.Itoa(index) + "]"
	}
	fail := func(ve *sink.ValidationError) *requestError {
		return &requestError{status: http.StatusBadRequest, error: "invalid message",
			message: where + ": " + ve.Reason + ": " + ve.Error(), index: index, field: ve.Field, reason: ve.Reason}
	}

	// Only the top level is looked at: nested values stay raw, which keeps
	// the check cheap next to the importer it serves. The JSON is valid:
	// the whole body was checked.
	var doc topLevel
	spaced, isObject := jsontext.WalkMembers(raw, doc.set)
	if !isObject {
		return out, nil, fail(&sink.ValidationError{Reason: sink.ReasonInvalidField, Detail: "a message must be a JSON object"})
	}
	// Segment drops a message that breaks its spec, but only once the
	// request as a whole is known to be well-formed: the size is checked
	// first.
	var ve *sink.ValidationError
	addType := false
	if typ != "" {
		t := doc.values[keyType]
		switch s, isString := rawString(t); {
		case t == nil:
			doc.values[keyType] = json.RawMessage(strconv.Quote(typ))
			addType = true
		case !isString || s != typ:
			ve = &sink.ValidationError{Field: "type", Reason: sink.ReasonInvalidType,
				Detail: fmt.Sprintf("type %s does not match the endpoint %s", t, typ)}
		}
	}
	if ve == nil {
		ve = doc.check()
	}

	start := len(out)
	if spaced {
		b := bytes.NewBuffer(out)
		if err := json.Compact(b, raw); err != nil {
			return out, nil, badRequest("%s: invalid JSON: %v", where, err)
		}
		out = b.Bytes()
	} else {
		out = append(out, raw...)
	}
	if addType {
		// Put the type first: {"type":"track",…} or {"type":"track"}.
		rest := string(out[start+1:])
		out = append(out[:start], `{"type":`...)
		out = jsontext.AppendString(out, typ)
		if rest != "}" {
			out = append(out, ',')
		}
		out = append(out, rest...)
	}
	if size := len(out) - start; size > r.limits.MaxMessageBytes {
		return out[:start], nil, &requestError{
			status:  http.StatusBadRequest,
			error:   "message too large",
			message: fmt.Sprintf("%s: %s: %d bytes, the limit is %d", where, sink.ReasonMessageTooLarge, size, r.limits.MaxMessageBytes),
			index:   index,
			reason:  sink.ReasonMessageTooLarge,
		}
	}
	if ve != nil {
		id, _ := rawString(doc.values[keyMessageID])
		return out[:start], &drop{index: index, messageID: id, field: ve.Field, reason: ve.Reason, detail: ve.Error()}, nil
	}
	return append(out, '\n'), nil, nil
}

// The top-level members of a message that the receiver checks.
const (
	keyType = iota
	keyMessageID
	keyUserID
	keyAnonymousID
	keyEvent
	keyGroupID
	keyPreviousID
	keyTimestamp
	keyProperties
	keyTraits
	keyContext
	keyIntegrations
	numKeys
)

var topLevelKeys = [numKeys]string{"type", "messageId", "userId", "anonymousId", "event", "groupId",
	"previousId", "timestamp", "properties", "traits", "context", "integrations"}

// topLevel holds the values of the members a message is checked by; nil
// for a member it lacks. Of duplicate members the last counts.
type topLevel struct {
	values [numKeys][]byte
}

func (d *topLevel) set(key string, value []byte) {
	for i, k := range topLevelKeys {
		if k == key {
			d.values[i] = value
			return
		}
	}
}

// check applies Validate's rules to a message read one level deep.
func (d *topLevel) check() *sink.ValidationError {
	var f sink.Head
	for _, s := range [...]struct {
		key    int
		dst    *string
		reason string
	}{
		{keyType, &f.Type, sink.ReasonInvalidType},
		{keyMessageID, &f.MessageID, sink.ReasonInvalidMessageID},
		{keyUserID, &f.UserID, sink.ReasonMissingID},
		{keyAnonymousID, &f.AnonymousID, sink.ReasonMissingID},
		{keyEvent, &f.Event, sink.ReasonMissingEvent},
		{keyGroupID, &f.GroupID, sink.ReasonMissingID},
		{keyPreviousID, &f.PreviousID, sink.ReasonMissingID},
	} {
		raw := d.values[s.key]
		if raw == nil || isNull(raw) {
			continue
		}
		str, ok := rawString(raw)
		if !ok {
			name := topLevelKeys[s.key]
			return &sink.ValidationError{Field: name, Reason: s.reason, Detail: name + " must be a string"}
		}
		*s.dst = str
	}
	if ve := f.Check(); ve != nil {
		return ve
	}
	switch raw := d.values[keyTimestamp]; {
	case raw == nil || isNull(raw):
		return &sink.ValidationError{Field: "timestamp", Reason: sink.ReasonMissingTimestamp, Detail: "timestamp is required"}
	default:
		ts, isString := rawString(raw)
		if !isString {
			return &sink.ValidationError{Field: "timestamp", Reason: sink.ReasonBadTimestamp, Detail: "timestamp must be an RFC 3339 string"}
		}
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			return &sink.ValidationError{Field: "timestamp", Reason: sink.ReasonBadTimestamp,
				Detail: strconv.Quote(ts) + " is not an RFC 3339 time"}
		}
	}
	for k := keyProperties; k <= keyIntegrations; k++ {
		raw := d.values[k]
		if raw == nil || isNull(raw) || raw[0] == '{' {
			continue
		}
		key := topLevelKeys[k]
		return &sink.ValidationError{Field: key, Reason: sink.ReasonInvalidField, Detail: key + " must be a JSON object, not " + rawKind(raw)}
	}
	return nil
}

// isNull reports whether a raw JSON value is null.
func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// rawString decodes a raw JSON string; ok is false for any other value.
func rawString(raw json.RawMessage) (string, bool) {
	return jsontext.Unquote(raw)
}

// rawKind names the JSON type of a raw value, for messages.
func rawKind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}
