package importer

import "testing"

func TestTransportRateLine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		t       Transport
		elapsed float64
		want    string
	}{
		{"never throttled", Transport{CurrentRate: 50}, 10, ""},
		{"throttled", Transport{Throttled: 7, CurrentRate: 9.8, FoundLimit: 10, PausedSeconds: 3}, 100,
			"rate 9.8 req/s, limit found 10.0 req/s, 429s 7, paused 3 %"},
		{"a stated limit, never throttled", Transport{CurrentRate: 490, FoundLimit: 500}, 10,
			"rate 490.0 req/s, limit found 500.0 req/s, paused 0 %"},
		{"no limit", Transport{Throttled: 1}, 0, "rate unlimited, 429s 1"},
		{"paused longer than the run so far", Transport{Throttled: 1, CurrentRate: 5, PausedSeconds: 2}, 1,
			"rate 5.0 req/s, 429s 1, paused 100 %"},
	} {
		if got := tc.t.RateLine(tc.elapsed); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
