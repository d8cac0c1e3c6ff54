package server

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"
)

// srvRefusedEvery is how often at most the server logs refused
// connections and accept errors: a flood makes one line per period, not
// one per connection.
const srvRefusedEvery = 10 * time.Second

// srvLogLimit logs events at a rate limit: the first at once, then at
// most one line per period with the count of each kind seen since the
// last line and the attributes of the latest event. Events after the last
// line are logged when the period ends.
type srvLogLimit struct {
	log   *slog.Logger
	level slog.Level
	every time.Duration
	msg   string

	mu      sync.Mutex
	last    time.Time        // when the last line was written
	next    time.Time        // when the next line may be written
	counts  map[string]int64 // events by kind since the last line
	attrs   []any            // of the latest event
	pending bool             // a timer will write the next line
}

func srvNewLogLimit(log *slog.Logger, level slog.Level, msg string) *srvLogLimit {
	return &srvLogLimit{log: log, level: level, every: srvRefusedEvery, msg: msg, counts: make(map[string]int64)}
}

// note counts one event of kind (a log attribute name; "" counts only the
// total) with the attributes attrs.
func (l *srvLogLimit) note(kind string, attrs ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[kind]++
	l.attrs = attrs
	if l.pending {
		return
	}
	now := time.Now()
	if now.Before(l.next) {
		l.pending = true
		time.AfterFunc(l.next.Sub(now), l.flush)
		return
	}
	l.writeLocked(now)
}

func (l *srvLogLimit) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = false
	l.writeLocked(time.Now())
}

// writeLocked writes one line for the events counted, if any.
func (l *srvLogLimit) writeLocked(now time.Time) {
	var total int64
	var attrs []any
	for _, kind := range slices.Sorted(maps.Keys(l.counts)) {
		n := l.counts[kind]
		total += n
		if kind != "" {
			attrs = append(attrs, kind, n)
		}
	}
	if total == 0 {
		return
	}
	attrs = append(append([]any{"count", total}, attrs...), l.attrs...)
	if !l.last.IsZero() {
		attrs = append(attrs, "since_last_line", now.Sub(l.last).Round(time.Millisecond))
	}
	l.log.Log(context.Background(), l.level, l.msg, attrs...)
	clear(l.counts)
	l.last, l.next = now, now.Add(l.every)
}
