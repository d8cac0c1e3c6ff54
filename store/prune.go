package store

import (
	"fmt"
	"slices"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// KeepPolicy says which snapshots of a group Prune keeps. Zero (or
// negative) fields are off; a policy with no rule on keeps everything (the
// CLI refuses it).
type KeepPolicy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
	// Within keeps every snapshot at most this much older than the
	// group's newest (restic's --keep-within), before the other rules.
	Within time.Duration
}

// IsZero reports whether no rule is on (no field is positive).
func (p KeepPolicy) IsZero() bool {
	return max(p.Last, p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly) <= 0 && p.Within <= 0
}

// ruleNames name the rules in the order rules() gives them.
var ruleNames = []string{"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"}

// rule is one keep-X option: how many periods, and the period of a time.
type rule struct {
	n      int
	period func(t time.Time, i int) string
}

func (p KeepPolicy) rules() []rule {
	return []rule{
		{p.Last, func(_ time.Time, i int) string { return fmt.Sprint(i) }},
		{p.Hourly, func(t time.Time, _ int) string { return t.Format("2006-01-02T15") }},
		{p.Daily, func(t time.Time, _ int) string { return t.Format("2006-01-02") }},
		{p.Weekly, func(t time.Time, _ int) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d/%02d", y, w) }},
		{p.Monthly, func(t time.Time, _ int) string { return t.Format("2006-01") }},
		{p.Yearly, func(t time.Time, _ int) string { return t.Format("2006") }},
	}
}

type pruneMark int8

const (
	unmarked pruneMark = iota
	markKeep
	markRemove
)

// SelectPrune splits snapshot times into those a policy keeps and those it
// removes (both oldest first). It follows Proxmox Backup Server's rules,
// with periods in UTC and ISO weeks:
//
//   - keep-last N keeps the N newest snapshots;
//   - then each of hourly, daily, weekly, monthly, yearly in that order
//     walks the snapshots not yet decided, newest first, and keeps the
//     newest one of each period until it has kept N; a period that
//     already holds a snapshot kept by an earlier rule is skipped (it is
//     covered and does not count), and the older snapshots of a period it
//     kept are decided "remove".
//
// So keep-last 1 + keep-daily 1 keeps two snapshots when the newest day
// holds several: the newest, and the newest of the previous day. (restic
// counts that day again for keep-daily and keeps only one.) A policy of
// all zeros keeps everything.
func SelectPrune(times []time.Time, p KeepPolicy) (keep, remove []time.Time) {
	keep, remove, _ = SelectPruneWhy(times, p)
	return keep, remove
}

// SelectPruneWhy is SelectPrune that also says which rule kept each kept
// snapshot ("keep-within", "keep-last", "keep-daily", ...).
func SelectPruneWhy(times []time.Time, p KeepPolicy) (keep, remove []time.Time, why map[time.Time]string) {
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return b.Compare(a) }) // newest first
	why = map[time.Time]string{}
	if p.IsZero() {
		for _, t := range ts {
			why[t] = "no rule"
		}
		return reversed(ts), []time.Time{}, why
	}
	marks := make([]pruneMark, len(ts))
	if p.Within > 0 && len(ts) > 0 {
		for i, t := range ts {
			if ts[0].Sub(t) <= p.Within {
				marks[i] = markKeep
				why[t] = "keep-within"
			}
		}
	}
	for k, r := range p.rules() {
		if r.n > 0 {
			applyRule(ts, marks, r, func(t time.Time) { why[t] = ruleNames[k] })
		}
	}
	keep, remove = []time.Time{}, []time.Time{}
	for i, t := range ts {
		if marks[i] == markKeep {
			keep = append(keep, t)
		} else {
			remove = append(remove, t)
		}
	}
	return reversed(keep), reversed(remove), why
}

// applyRule marks snapshots (newest first in ts) for one rule.
func applyRule(ts []time.Time, marks []pruneMark, r rule, kept1 func(time.Time)) {
	covered := make(map[string]bool)
	for i, t := range ts {
		if marks[i] == markKeep {
			covered[r.period(t.UTC(), i)] = true
		}
	}
	kept := make(map[string]bool)
	for i, t := range ts {
		if marks[i] != unmarked {
			continue
		}
		id := r.period(t.UTC(), i)
		switch {
		case covered[id]:
		case kept[id]:
			marks[i] = markRemove
		case len(kept) >= r.n:
			return
		default:
			kept[id] = true
			marks[i] = markKeep
			kept1(t)
		}
	}
}

func reversed(ts []time.Time) []time.Time {
	slices.Reverse(ts)
	return ts
}

// Prune applies a keep policy to a group: it forgets the snapshots
// SelectPrune removes, except protected ones (kept), unless dryRun.
// Chunks are freed by the next GC.
func (s *Store) Prune(g catalog.Group, p KeepPolicy, dryRun bool) (keep, remove []time.Time, err error) {
	times, err := s.Snapshots(g)
	if err != nil {
		return nil, nil, err
	}
	keep, remove = SelectPrune(times, p)
	if keep, remove, err = KeepProtected(func(t time.Time) (bool, error) { return s.Protected(g, t) }, keep, remove); err != nil {
		return nil, nil, err
	}
	if dryRun {
		return keep, remove, nil
	}
	for _, t := range remove {
		if err := s.Forget(g, t); err != nil {
			return keep, remove, fmt.Errorf("store: prune %s: %w", g, err)
		}
	}
	return keep, remove, nil
}
