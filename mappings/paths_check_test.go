package mappings

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/sink"
)

// typoSpec names columns of the rows below with three typos: usr_id,
// revnue and ipp.
const typoSpec = `type: track
userId: usr_id
anonymousId: device_id
event: event
timestamp: ts
properties:
  include: [revnue]
context:
  rename: {ipp: ip}
`

var typoRows = []string{
	`{"user_id":"u1","device_id":"d1","event":"Order Completed","ts":"2024-03-01T12:00:00Z","revenue":19.99,"ip":"1.2.3.4"}`,
	`{"user_id":"u2","device_id":"d2","event":"Order Completed","ts":"2024-03-01T12:01:00Z","revenue":5,"ip":"5.6.7.8"}`,
}

func observe(t *testing.T, spec string, rows ...string) *PathObserver {
	t.Helper()
	o := mustSpec(t, spec).NewPathObserver()
	for i, r := range rows {
		o.Observe(ndjsonRow(t, int64(i+1), r))
	}
	return o
}

func TestPathObserverNamesEveryColumnNoRowHas(t *testing.T) {
	err := observe(t, typoSpec, typoRows...).Err()
	want := `events.yaml:2: userId: column "usr_id" occurs in none of the 2 rows read; did you mean "user_id"?
events.yaml:7: properties.include: column "revnue" occurs in none of the 2 rows read; did you mean "revenue"?
events.yaml:9: context.rename: column "ipp" occurs in none of the 2 rows read; did you mean "ip"?`
	if err == nil || err.Error() != want {
		t.Fatalf("Err() =\n%v\nwant\n%s", err, want)
	}
	mp, ok := err.(*MissingPathsError)
	if !ok || mp.Rows != 2 || len(mp.Missing) != 3 || mp.Missing[0].Suggestion != "user_id" {
		t.Fatalf("Err() = %#v", err)
	}
}

func TestPathObserverSuggestions(t *testing.T) {
	head := "type: identify\nuserId: uid\ntimestamp: ts\n"
	row := `{"uid":"u1","ts":"2024-03-01T12:00:00Z","user":{"address":{"city":"Paris"}},"payload":"{\"plan\":\"pro\"}","Email":"a@b.c"}`
	for _, tc := range []struct {
		name, extra, want string
	}{
		{"a member of a nested object", "traits:\n  include: [user.address.cty]\n",
			`events.yaml:5: traits.include: column "user.address.cty" occurs in none of the 1 row read; did you mean "user.address.city"?`},
		{"a step of the path misspelt", "traits:\n  include: [usr.address.city]\n",
			`events.yaml:5: traits.include: column "usr.address.city" occurs in none of the 1 row read; did you mean "user.address.city"?`},
		{"a member of JSON text", "traits:\n  include: [payload.plna]\n",
			`events.yaml:5: traits.include: column "payload.plna" occurs in none of the 1 row read; did you mean "payload.plan"?`},
		{"case alone", "traits:\n  include: [email]\n",
			`events.yaml:5: traits.include: column "email" occurs in none of the 1 row read; did you mean "Email"?`},
		{"nothing close", "traits:\n  include: [referrer]\n",
			`events.yaml:5: traits.include: column "referrer" occurs in none of the 1 row read`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := observe(t, head+tc.extra, row).Err()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Err() = %v\nwant      %s", err, tc.want)
			}
		})
	}
}

func TestPathObserverCountsAColumnSeenInAnyRow(t *testing.T) {
	spec := "type: identify\nuserId: uid\ntimestamp: ts\ntraits:\n  include: [plan, user.vip]\n"
	o := observe(t, spec,
		`{"uid":"u1","ts":"2024-03-01T12:00:00Z"}`,
		`{"uid":"u2","ts":"2024-03-01T12:00:00Z","plan":null,"user":{"vip":null}}`,
	)
	if err := o.Err(); err != nil {
		t.Fatalf("a column present in one row (null included): %v", err)
	}
	if o.Rows() != 2 {
		t.Fatalf("Rows() = %d", o.Rows())
	}
	if err := observe(t, spec).Err(); err != nil {
		t.Fatalf("no row read: %v, want nothing to judge by", err)
	}
}

func TestOptionalExemptsASparseColumn(t *testing.T) {
	spec := typoSpec + "optional: [usr_id, revnue, ipp]\n"
	if err := observe(t, spec, typoRows...).Err(); err != nil {
		t.Fatalf("optional columns: %v", err)
	}
	// With a schema, an optional column the file lacks has no value.
	sp := "type: identify\nuserId: uid\ntimestamp: ts\ntraits:\n  include: [plan, coupon]\noptional: [coupon]\n"
	schema := []string{"uid", "ts", "plan"}
	m := mustCompile(t, sp, schema, Options{})
	var msg sink.Message
	if err := mapInto(m, csvRow(2, schema, "u1", "2024-03-01T12:00:00Z", "pro"), &msg); err != nil {
		t.Fatal(err)
	}
	if got := jsonText(t, msg.Traits); got != `{"plan":"pro"}` {
		t.Fatalf("traits = %s", got)
	}
	if _, err := mustSpec(t, strings.Replace(sp, "optional: [coupon]\n", "", 1)).Compile(schema, Options{}); err == nil ||
		err.Error() != `events.yaml:5: traits.include: column "coupon" is not in the file (columns: uid, ts, plan)` {
		t.Fatalf("without optional: %v", err)
	}
}

func TestOptionalErrors(t *testing.T) {
	head := "type: identify\nuserId: uid\ntimestamp: ts\n"
	for _, tc := range []struct{ name, spec, want string }{
		{"named nowhere else", head + "optional: [uid, coupn]\n", `events.yaml:4: optional: column "coupn" is not named anywhere else in the mapping`},
		{"not a list", head + "optional: uid\n", `events.yaml:4: optional: want a list of columns, not "uid"`},
		{"twice", head + "optional: [uid, uid]\n", `events.yaml:4: optional: column "uid" is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tc.spec), "events.yaml")
			if err == nil || err.Error() != tc.want {
				t.Fatalf("ParseSpec error = %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestPathsListsEveryPlaceAColumnIsNamed(t *testing.T) {
	s := mustSpec(t, `type: {column: kind}
userId: {column: [uid, user.id]}
event: "{{verb}} {{noun}}"
timestamp: ts
columns: {amount: float}
properties:
  include: [amount, coupon]
  rename: {amount: revenue}
  exclude: [note]
context:
  from: ctx
optional: [coupon]
`)
	var got []string
	for _, p := range s.Paths() {
		opt := ""
		if p.Optional {
			opt = " optional"
		}
		got = append(got, p.Field+" "+p.Column+" "+strconv.Itoa(p.Line)+opt)
	}
	want := []string{
		"type.column kind 1", "userId uid 2", "userId user.id 2", "event verb 3", "event noun 3", "timestamp ts 4",
		"columns amount 5", "properties.include amount 7", "properties.include coupon 7 optional",
		"properties.rename amount 8", "properties.exclude note 9", "context.from ctx 11",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Paths() =\n%q\nwant\n%q", got, want)
	}
}

func TestCompileSuggestsAColumnOfTheFile(t *testing.T) {
	_, err := mustSpec(t, "type: identify\nuserId: usr_id\ntimestamp: ts\n").Compile([]string{"user_id", "ts"}, Options{})
	want := `events.yaml:2: userId: column "usr_id" is not in the file (columns: user_id, ts); did you mean "user_id"?`
	if err == nil || err.Error() != want {
		t.Fatalf("Compile error = %v\nwant %s", err, want)
	}
}

func TestOptionalTrueOnAFieldExemptsItsColumns(t *testing.T) {
	// The typo spec with userId marked optional: only the other two typos
	// are named.
	spec := strings.Replace(typoSpec, "userId: usr_id\n", "userId: {column: usr_id, optional: true}\n", 1)
	err := observe(t, spec, typoRows...).Err()
	want := `events.yaml:7: properties.include: column "revnue" occurs in none of the 2 rows read; did you mean "revenue"?
events.yaml:9: context.rename: column "ipp" occurs in none of the 2 rows read; did you mean "ip"?`
	if err == nil || err.Error() != want {
		t.Fatalf("Err() =\n%v\nwant\n%s", err, want)
	}
	// Every column of a choice is exempt; optional: false exempts none.
	choice := "type: track\nevent: event\ntimestamp: ts\nuserId: {column: [uid, user_id], optional: true}\nanonymousId: {column: device, optional: false}\n"
	err = observe(t, choice, `{"event":"e","ts":"2024-03-01T12:00:00Z"}`).Err()
	want = `events.yaml:5: anonymousId: column "device" occurs in none of the 1 row read`
	if err == nil || err.Error() != want {
		t.Fatalf("Err() =\n%v\nwant\n%s", err, want)
	}
	// With a schema, an optional id column the file lacks has no value.
	sp := "type: identify\nuserId: {column: uid, optional: true}\nanonymousId: anon\ntimestamp: ts\n"
	schema := []string{"anon", "ts"}
	m := mustCompile(t, sp, schema, Options{})
	var msg sink.Message
	if err := mapInto(m, csvRow(2, schema, "a1", "2024-03-01T12:00:00Z"), &msg); err != nil {
		t.Fatal(err)
	}
	if msg.UserID != "" || msg.AnonymousID != "a1" {
		t.Fatalf("userId %q, anonymousId %q", msg.UserID, msg.AnonymousID)
	}
	paths := mustSpec(t, sp).Paths()
	if len(paths) == 0 || paths[0].Column != "uid" || !paths[0].Optional || paths[1].Optional {
		t.Fatalf("Paths() = %+v", paths)
	}
}

func TestOptionalTrueErrors(t *testing.T) {
	head := "type: identify\ntimestamp: ts\n"
	for _, tc := range []struct{ name, spec, want string }{
		{"not a bool", head + "userId: {column: uid, optional: yes}\n", `events.yaml:3: userId.optional: want true or false, not "yes"`},
		{"a constant", head + "userId: {value: u1, optional: true}\n", `events.yaml:3: userId.optional: only a column can be optional`},
		{"alone", head + "userId: {optional: true}\n", `events.yaml:3: userId: want one of column, value or expr (and optional: true with a column)`},
		{"also listed", head + "userId: {column: uid, optional: true}\noptional: [uid, uid]\n", `events.yaml:4: optional: column "uid" is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tc.spec), "events.yaml")
			if err == nil || err.Error() != tc.want {
				t.Fatalf("ParseSpec error = %v\nwant %s", err, tc.want)
			}
		})
	}
	// Marked on the field and listed as well is allowed.
	mustSpec(t, head+"userId: {column: uid, optional: true}\noptional: [uid]\n")
}
