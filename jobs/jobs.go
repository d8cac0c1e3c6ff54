// Package jobs runs administration on a schedule inside the server, as
// Proxmox Backup's gc, verify and prune jobs: each job is an admin.Request
// run every so often on the server's datastore (so a gc keeps what the
// server's running backups rely on), and the scheduler remembers each
// job's last run, its result and its next run for `backupfs jobs`.
//
// # Specs
//
// A job is given as one line: OP [GROUP-PATTERN] every DURATION
// [keep-last=N keep-hourly=N keep-daily=N keep-weekly=N keep-monthly=N
// keep-yearly=N keep-within=DURATION grace=DURATION outdated=DURATION],
// e.g. "gc every 24h", "verify every 24h outdated=720h" (re-verify each
// snapshot once in 30 days; a very long outdated verifies only new ones),
// "prune vm/* every 24h keep-daily=7 keep-weekly=4".
// OP is gc, verify or prune; a pattern (path.Match on TYPE/ID) selects the
// groups of verify and prune (every group without one). The first run is
// one period after the start, then every period after the end of the
// last, so a slow run never overlaps the next.
//
// # Decisions
//
//   - Schedules are periods, not calendar times: simple to state and to
//     test; a systemd timer (contrib/systemd) gives calendar times.
//   - A failed run (an error, or verify's bad chunks) is logged at
//     ERROR, and counted in Failures for the metrics.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/backupfs/backupfs/admin"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// ErrSpec reports a job line that does not parse.
var ErrSpec = errors.New("jobs: bad job")

// Job is one scheduled operation.
type Job struct {
	Spec    string        // as given
	Op      string        // gc, verify, prune
	Pattern string        // groups of verify and prune; "" for all
	Every   time.Duration // period
	Req     admin.Request // Op, Keep, Grace
}

// Parse reads a job line (see the package doc).
func Parse(line string) (Job, error) {
	f := strings.Fields(line)
	j := Job{Spec: strings.Join(f, " ")}
	bad := func(format string, a ...any) (Job, error) {
		return Job{}, fmt.Errorf("%w: %q: %s", ErrSpec, line, fmt.Sprintf(format, a...))
	}
	if len(f) < 3 {
		return bad("want OP [PATTERN] every DURATION [options]")
	}
	j.Op, f = f[0], f[1:]
	switch j.Op {
	case "gc", "verify", "prune":
	default:
		return bad("op %q: want gc, verify or prune", j.Op)
	}
	if f[0] != "every" {
		if j.Op == "gc" {
			return bad("gc works on the whole datastore: no pattern")
		}
		if _, err := path.Match(f[0], ""); err != nil {
			return bad("pattern %q: %v", f[0], err)
		}
		j.Pattern, f = f[0], f[1:]
	}
	if len(f) < 2 || f[0] != "every" {
		return bad("want \"every DURATION\"")
	}
	every, err := time.ParseDuration(f[1])
	if err != nil || every < time.Second {
		return bad("period %q: want a duration of at least 1s", f[1])
	}
	j.Every, j.Req.Op = every, j.Op
	for _, kv := range f[2:] {
		if err := j.option(kv); err != nil {
			return bad("%v", err)
		}
	}
	if j.Op == "prune" && j.Req.Keep.IsZero() {
		return bad("prune without a keep-* option would remove everything")
	}
	return j, nil
}

// option applies one key=value.
func (j *Job) option(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("option %q: want key=value", kv)
	}
	counts := map[string]*int{"keep-last": &j.Req.Keep.Last, "keep-hourly": &j.Req.Keep.Hourly,
		"keep-daily": &j.Req.Keep.Daily, "keep-weekly": &j.Req.Keep.Weekly,
		"keep-monthly": &j.Req.Keep.Monthly, "keep-yearly": &j.Req.Keep.Yearly}
	if p := counts[k]; p != nil && j.Op == "prune" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%s=%q: want a count", k, v)
		}
		*p = n
		return nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return fmt.Errorf("%s=%q: unknown option for %s, or not a duration", k, v, j.Op)
	case k == "keep-within" && j.Op == "prune":
		j.Req.Keep.Within = d
	case k == "outdated" && j.Op == "verify":
		j.Req.Outdated = d
	case k == "grace" && j.Op == "gc":
		j.Req.Grace = d
		if d <= 0 {
			j.Req.Grace = store.NoGrace
		}
	default:
		return fmt.Errorf("option %q is not one of %s's", k, j.Op)
	}
	return nil
}

// Status is what a job did last and does next.
type Status struct {
	Job      Job
	Runs     int
	Failures int
	LastEnd  time.Time
	Result   string // the last line of its last report, or its error
	Failed   bool
	Next     time.Time
}

// Scheduler runs jobs on a datastore until its context ends.
type Scheduler struct {
	ds  store.Datastore
	log *slog.Logger

	mu   sync.Mutex
	st   []Status
	runs chan int // job indexes that finished a run (tests wait on it)
}

// New makes a scheduler for jobs on ds; Run starts it.
func New(ds store.Datastore, log *slog.Logger, jobs []Job) *Scheduler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{ds: ds, log: log, runs: make(chan int, 64)}
	for _, j := range jobs {
		s.st = append(s.st, Status{Job: j})
	}
	return s
}

// Run runs every job on its schedule until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range s.st {
		wg.Go(func() { s.loop(ctx, i) })
	}
	wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context, i int) {
	for {
		s.mu.Lock()
		j := s.st[i].Job
		next := time.Now().Add(j.Every)
		s.st[i].Next = next
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		s.runOnce(ctx, i, j)
	}
}

// runOnce runs job i now and records the outcome.
func (s *Scheduler) runOnce(ctx context.Context, i int, j Job) {
	var last string
	out := func(line string) { last = line }
	err := s.runJob(ctx, j, out)
	s.mu.Lock()
	st := &s.st[i]
	st.Runs++
	st.LastEnd = time.Now()
	st.Failed = err != nil
	st.Result = last
	if err != nil {
		st.Failures++
		st.Result = err.Error()
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Error("job failed", "job", j.Spec, "err", err)
	} else {
		s.log.Info("job done", "job", j.Spec, "result", last)
	}
	select {
	case s.runs <- i:
	default:
	}
}

// runJob runs one job: over every group its pattern selects, for verify
// and prune with a pattern.
func (s *Scheduler) runJob(ctx context.Context, j Job, out func(string)) error {
	if j.Pattern == "" {
		return admin.Run(ctx, s.ds, j.Req, out)
	}
	groups, err := s.ds.Groups()
	if err != nil {
		return err
	}
	var errs []error
	matched := 0
	for _, g := range groups {
		if ok, _ := path.Match(j.Pattern, g.String()); !ok {
			continue
		}
		matched++
		req := j.Req
		req.Group = &catalog.Group{Type: g.Type, ID: g.ID}
		if err := admin.Run(ctx, s.ds, req, out); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", g, err))
		}
	}
	if matched == 0 {
		out(fmt.Sprintf("no group matches %s", j.Pattern)) // not an empty result
	}
	return errors.Join(errs...)
}

// Status returns every job's status, in the order given.
func (s *Scheduler) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Status(nil), s.st...)
}

// Lines says each job's status in one line, for `backupfs jobs`.
func (s *Scheduler) Lines() []string {
	var out []string
	for _, st := range s.Status() {
		last := "never run"
		if st.Runs > 0 {
			state := "ok"
			if st.Failed {
				state = "FAILED"
			}
			last = fmt.Sprintf("last %s %s: %s", st.LastEnd.UTC().Format(time.RFC3339), state, st.Result)
		}
		out = append(out, fmt.Sprintf("%s | runs %d, failures %d | %s | next %s", st.Job.Spec, st.Runs, st.Failures, last,
			st.Next.UTC().Format(time.RFC3339)))
	}
	if len(out) == 0 {
		out = append(out, "no jobs (serve --job 'gc every 24h' adds one)")
	}
	return out
}

// Failures counts every job's failed runs (for the metrics).
func (s *Scheduler) Failures() int {
	n := 0
	for _, st := range s.Status() {
		n += st.Failures
	}
	return n
}
