package store

import (
	"reflect"
	"testing"
	"time"
)

func ts(ss ...string) []time.Time {
	out := []time.Time{}
	for _, s := range ss {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		out = append(out, t)
	}
	return out
}

func TestSelectPrune(t *testing.T) {
	tests := []struct {
		name       string
		times      []time.Time
		p          KeepPolicy
		keep, drop []time.Time
	}{
		{"empty", ts(), KeepPolicy{Last: 3}, ts(), ts()},
		{"zero policy keeps all",
			ts("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"), KeepPolicy{},
			ts("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), ts()},
		{"negative rules are off, so all are kept",
			ts("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"), KeepPolicy{Last: -1, Daily: -5},
			ts("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), ts()},
		{"last",
			ts("2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z", "2026-01-01T05:00:00Z"),
			KeepPolicy{Last: 3},
			ts("2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z", "2026-01-01T05:00:00Z"),
			ts("2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z")},
		{"last more than there are",
			ts("2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"), KeepPolicy{Last: 10},
			ts("2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"), ts()},
		{"hourly keeps the newest of each hour",
			ts("2026-01-01T10:00:00Z", "2026-01-01T10:30:00Z", "2026-01-01T11:15:00Z", "2026-01-01T11:45:00Z", "2026-01-01T12:05:00Z"),
			KeepPolicy{Hourly: 2},
			ts("2026-01-01T11:45:00Z", "2026-01-01T12:05:00Z"),
			ts("2026-01-01T10:00:00Z", "2026-01-01T10:30:00Z", "2026-01-01T11:15:00Z")},
		{"a day covered by keep-last does not count for daily (Proxmox)",
			ts("2026-01-01T09:00:00Z", "2026-01-02T08:00:00Z", "2026-01-02T10:00:00Z"),
			KeepPolicy{Last: 1, Daily: 1},
			ts("2026-01-01T09:00:00Z", "2026-01-02T10:00:00Z"),
			ts("2026-01-02T08:00:00Z")},
		{"ISO weeks across the new year",
			// 2025-12-29 (Mon) and 2026-01-01 (Thu) are both in 2026-W01.
			ts("2025-12-20T12:00:00Z", "2025-12-28T12:00:00Z", "2025-12-29T12:00:00Z", "2026-01-01T12:00:00Z"),
			KeepPolicy{Weekly: 2},
			ts("2025-12-28T12:00:00Z", "2026-01-01T12:00:00Z"),
			ts("2025-12-20T12:00:00Z", "2025-12-29T12:00:00Z")},
		{"monthly then yearly",
			ts("2024-01-01T00:00:00Z", "2025-06-01T00:00:00Z", "2025-12-31T00:00:00Z", "2026-02-15T00:00:00Z", "2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z"),
			KeepPolicy{Monthly: 2, Yearly: 2},
			ts("2024-01-01T00:00:00Z", "2025-12-31T00:00:00Z", "2026-02-15T00:00:00Z", "2026-03-10T00:00:00Z"),
			ts("2025-06-01T00:00:00Z", "2026-03-01T00:00:00Z")},
		{"periods are UTC whatever the input zone",
			[]time.Time{
				time.Date(2026, 5, 2, 1, 30, 0, 0, time.FixedZone("CEST", 2*3600)), // 05-01 23:30 UTC
				time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
				time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC)},
			KeepPolicy{Daily: 2},
			ts("2026-04-30T10:00:00Z", "2026-05-01T23:30:00Z"),
			ts("2026-05-01T10:00:00Z")},
		{"all rules together, unsorted input",
			ts("2026-03-10T12:00:00Z", "2026-03-10T08:00:00Z", "2026-03-09T12:00:00Z", "2026-03-01T12:00:00Z", "2026-02-01T12:00:00Z", "2025-01-01T12:00:00Z"),
			KeepPolicy{Last: 1, Hourly: 1, Daily: 1, Weekly: 1, Monthly: 1, Yearly: 1},
			// last: 03-10T12; hourly: 03-10T08; daily: 03-09 (day 03-10 covered);
			// weekly: 03-01 (W09; W11 covered by 03-10 and 03-09 is W11 too);
			// monthly: 02-01 (March covered); yearly: 2025-01-01 (2026 covered).
			ts("2025-01-01T12:00:00Z", "2026-02-01T12:00:00Z", "2026-03-01T12:00:00Z", "2026-03-09T12:00:00Z", "2026-03-10T08:00:00Z", "2026-03-10T12:00:00Z"),
			ts()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep, drop := SelectPrune(tt.times, tt.p)
			if !equalTimes(keep, tt.keep) || !equalTimes(drop, tt.drop) {
				t.Errorf("keep %v\nremove %v\nwant keep %v\nremove %v", keep, drop, tt.keep, tt.drop)
			}
		})
	}
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

func TestPrune(t *testing.T) {
	s, _ := newStore(t)
	var times []time.Time
	for i := range 5 {
		at := epoch.Add(time.Duration(i) * 24 * time.Hour)
		times = append(times, at)
		backup(t, s, vm100, at, chunkData("p", 1))
	}
	keep, drop, err := s.Prune(vm100, KeepPolicy{Last: 2}, true)
	if err != nil || !equalTimes(keep, times[3:]) || !equalTimes(drop, times[:3]) {
		t.Fatalf("dry run: %v %v %v", keep, drop, err)
	}
	if got, _ := s.Snapshots(vm100); len(got) != 5 {
		t.Fatalf("dry run removed snapshots: %v", got)
	}
	if _, _, err := s.Prune(vm100, KeepPolicy{Last: 2}, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Snapshots(vm100); !reflect.DeepEqual(got, times[3:]) {
		t.Fatalf("after prune: %v", got)
	}
}

// TestSelectPruneWithinAndWhy: keep-within keeps what is within the span
// of the newest before the other rules (which then skip the periods it
// covered and do not count), and each survivor names the rule that kept
// it.
func TestSelectPruneWithinAndWhy(t *testing.T) {
	times := ts("2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-09T12:00:00Z", "2026-01-10T00:00:00Z")
	keep, remove, why := SelectPruneWhy(times, KeepPolicy{Within: 36 * time.Hour, Daily: 1})
	if want := ts("2026-01-05T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-09T12:00:00Z", "2026-01-10T00:00:00Z"); !reflect.DeepEqual(keep, want) {
		t.Fatalf("keep = %v, want %v", keep, want)
	}
	if want := ts("2026-01-01T00:00:00Z"); !reflect.DeepEqual(remove, want) {
		t.Fatalf("remove = %v, want %v", remove, want)
	}
	for _, c := range []struct{ at, rule string }{
		{"2026-01-10T00:00:00Z", "keep-within"}, {"2026-01-09T12:00:00Z", "keep-within"},
		{"2026-01-09T00:00:00Z", "keep-within"}, {"2026-01-05T00:00:00Z", "keep-daily"},
	} {
		if got := why[ts(c.at)[0]]; got != c.rule {
			t.Errorf("%s kept by %q, want %q", c.at, got, c.rule)
		}
	}
	if (KeepPolicy{Within: time.Hour}).IsZero() {
		t.Error("a policy with only keep-within is zero")
	}
}
