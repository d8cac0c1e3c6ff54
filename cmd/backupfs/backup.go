package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/backupfs/backupfs/admin"
	"os"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

type backupOptions struct {
	repoOptions
	time     string // snapshot time; "" = now
	fullRead bool   // read every file: no change detection
	note     string
	tags     []string
	selectOptions
}

func cmdBackup(ctx context.Context, e env, args []string) error {
	var o backupOptions
	fs := flags(e, "backup")
	repoFlags(fs, &o.repoOptions)
	selectFlags(fs, &o.selectOptions)
	fs.StringVar(&o.time, "time", "", "snapshot time, RFC 3339 UTC (default now)")
	fs.StringVar(&o.note, "note", "", "a note on the snapshot (backupfs tag changes it later)")
	fs.StringArrayVar(&o.tags, "tag", nil, "a tag on the snapshot (repeatable; letters, digits, ._-+=:)")
	fs.BoolVar(&o.fullRead, "full-read", false, "read every file; by default a file whose size, mtime, mode and owner match the previous snapshot's is taken from it unread (misses edits that keep size and mtime)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return runBackup(ctx, e, o, fs.Args())
}

func runBackup(ctx context.Context, e env, o backupOptions, args []string) error {
	loc, opt, err := backupArgs(e, o, args)
	if err != nil {
		return err
	}
	if o.dryRun {
		return dryRun(ctx, e, opt)
	}
	s, err := openRepo(o.repoOptions, loc)
	if err != nil {
		return err
	}
	defer s.Close()
	opt.Seal = sealerOf(s)
	opt.Note, opt.Tags = o.note, o.tags
	host, _ := os.Hostname()
	opt.CreatedBy = fmt.Sprintf("backupfs host=%s", host)
	start := time.Now()
	note := "no previous snapshot"
	if o.fullRead {
		note = "--full-read"
	}
	m, w, st, note, err := makeSnapshot(ctx, e, s, &opt, o, note)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "snapshot /%s/%s: %s\n", m.Group, m.Time, summary(st, time.Since(start)))
	if m.Key != "" {
		fmt.Fprintf(e.stdout, "sealed with key %s\n", m.Key)
	}
	fmt.Fprintln(e.stdout, reuseSummary(st, opt.Previous, note))
	if st.Excluded.Load() > 0 || o.selecting() {
		fmt.Fprintln(e.stdout, excludedSummary(st))
	}
	if u, ok := w.(interface{ Uploads() (int64, int64) }); ok {
		up, known := u.Uploads()
		fmt.Fprintf(e.stdout, "uploaded %d chunks; %d were known from the previous snapshot\n", up, known)
	}
	if f, ok := w.(interface{ FoundByQuery() int64 }); ok && f.FoundByQuery() > 0 {
		fmt.Fprintf(e.stdout, "%d image chunks were found in groups this token may read, not uploaded\n", f.FoundByQuery())
	}
	if n := st.Unreadable.Load(); n > 0 {
		return exitError{3, fmt.Errorf("snapshot made, but %d files or directories could not be read (see warnings)", n)}
	}
	return nil
}

// backupArgs parses the group and the archives and builds the options.
func backupArgs(e env, o backupOptions, args []string) (location, backup.Options, error) {
	var opt backup.Options
	if len(args) < 2 {
		return location{}, opt, fmt.Errorf("want /TYPE/ID and at least one NAME.tree:DIR[,PATH...], NAME.img:FILE or NAME.img:-")
	}
	loc, err := parseLocation(args[0])
	if err != nil {
		return loc, opt, err
	}
	r, err := parseRef(loc.path, "group", "group")
	if err != nil {
		return loc, opt, err
	}
	opt = backup.Options{Group: r.Group(), Time: time.Now(), Stdin: e.stdin, StdinSize: int64(o.stdinSize)}
	if o.time != "" {
		if opt.Time, err = catalog.ParseTime(o.time); err != nil {
			return loc, opt, err
		}
	}
	for _, a := range args[1:] {
		sp, err := backup.ParseSpec(a)
		if err != nil {
			return loc, opt, err
		}
		opt.Archives = append(opt.Archives, sp)
	}
	if o.stdinSize > 0 && !readsStdin(&opt) {
		return loc, opt, fmt.Errorf("--stdin-size needs an archive read from standard input (NAME.img:-)")
	}
	opt.Select, err = o.selection()
	opt.Warn = func(err error) { fmt.Fprintf(e.stderr, "warning: %v\n", err) }
	return loc, opt, err
}

// dryRun lists what a backup would take, one path a line, and a summary;
// it opens no datastore and no connection.
func dryRun(ctx context.Context, e env, opt backup.Options) error {
	opt.List = func(p string) { fmt.Fprintln(e.stdout, p) }
	st := new(backup.Stats)
	if err := backup.DryRun(ctx, opt, st); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "dry run: would back up %d files, %d dirs, %s of file contents; nothing uploaded, no snapshot made\n",
		st.Files.Load(), st.Dirs.Load(), humanBytes(st.DryRunBytes.Load()))
	fmt.Fprintln(e.stdout, excludedSummary(st))
	if n := st.Unreadable.Load(); n > 0 {
		return exitError{3, fmt.Errorf("%d files or directories could not be read (see warnings)", n)}
	}
	return nil
}

// makeSnapshot runs the backup into a new snapshot of s. When the commit
// finds chunks missing that the previous snapshot references (verify
// renamed them as bad, or a GC raced), the snapshot is made again reading
// every file, so the backup stores them anew and repairs the datastore,
// as a backup without change detection would; not when an archive read
// standard input, which cannot be read again. note says why nothing was
// compared with a previous snapshot (given, and returned updated).
func makeSnapshot(ctx context.Context, e env, s repo, opt *backup.Options, o backupOptions, note string) (*catalog.Manifest, backup.Sink, *backup.Stats, string, error) {
	for {
		w, err := beginSnapshot(ctx, s, opt, o.time != "")
		if err != nil {
			return nil, nil, nil, note, err
		}
		if n, ok := w.(interface{ Note() string }); ok && n.Note() != "" {
			opt.Warn(errors.New(n.Note()))
		}
		if !o.fullRead && note != "the previous snapshot lacks chunks" {
			opt.Previous = baseSnapshot(s, w, opt.Group, opt.Time, opt.Warn)
		}
		st := new(backup.Stats)
		stop := startProgress(e, st)
		m, err := backup.Run(ctx, w, *opt, st)
		stop()
		if err == nil || opt.Previous == nil || !errors.Is(err, store.ErrNotFound) || ctx.Err() != nil || readsStdin(opt) {
			return m, w, st, note, err
		}
		opt.Warn(fmt.Errorf("%w; backing up again, reading every file", err))
		opt.Previous, note = nil, "the previous snapshot lacks chunks"
	}
}

// beginSnapshot begins the snapshot at opt.Time. A snapshot of the group
// at that second that exists or is being written (a second backup in the
// same second) makes it wait for the next second and take that time, a
// few times, unless the time was given (--time): then it is an error.
func beginSnapshot(ctx context.Context, s repo, opt *backup.Options, fixed bool) (backup.Sink, error) {
	opt.Time = opt.Time.UTC().Truncate(time.Second)
	for try := 0; ; try++ {
		w, err := s.Begin(opt.Group, opt.Time)
		if err == nil || fixed || try == 4 || !errors.Is(err, store.ErrExists) {
			return w, err
		}
		next := time.Now().UTC().Truncate(time.Second).Add(time.Second)
		if !next.After(opt.Time) {
			next = opt.Time.Add(time.Second)
		}
		select {
		case <-time.After(time.Until(next)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		opt.Time = next
	}
}

// baseSnapshot opens the snapshot change detection compares against: the
// one the server holds as the backup's base (it accepts only chunks
// uploaded or in that base), or for the local datastore the latest before
// at (the one localRepo.Begin holds).
func baseSnapshot(s repo, w backup.Sink, g catalog.Group, at time.Time, warn func(error)) *backup.Snapshot {
	b, ok := w.(interface{ Previous() (time.Time, bool) })
	if !ok {
		return previousSnapshot(s, g, at, warn)
	}
	t, ok := b.Previous()
	if !ok {
		return nil
	}
	snap, err := backup.OpenSnapshot(s, g, t)
	if err != nil {
		warn(fmt.Errorf("%w (reading every file)", err))
		return nil
	}
	return snap
}

// previousSnapshot opens the group's latest snapshot before at, the one
// change detection compares against (the server also takes it as the
// previous snapshot whose chunks need no upload). None, or one that cannot
// be opened, gives nil: every file is read; only the latter warns.
func previousSnapshot(s backup.Repository, g catalog.Group, at time.Time, warn func(error)) *backup.Snapshot {
	times, err := s.Snapshots(g)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		warn(fmt.Errorf("previous snapshot of %s: %w (reading every file)", g, err))
		return nil
	}
	for i := len(times) - 1; i >= 0; i-- {
		if times[i].Before(at) {
			snap, err := backup.OpenSnapshot(s, g, times[i])
			if err != nil {
				warn(fmt.Errorf("%w (reading every file)", err))
				return nil
			}
			return snap
		}
	}
	return nil
}

// reuseSummary says how many files change detection took unread; note
// says why there was no previous snapshot to compare with.
func reuseSummary(st *backup.Stats, prev *backup.Snapshot, note string) string {
	read := st.Files.Load() - st.ReusedFiles.Load()
	if prev == nil {
		return fmt.Sprintf("%d files read (%s)", read, note)
	}
	return fmt.Sprintf("%d files read, %d unchanged since /%s/%s reused unread (%s); %s of reused chunks unreferenced",
		read, st.ReusedFiles.Load(), prev.Group, catalog.FormatTime(prev.Time),
		humanBytes(st.ReusedBytes.Load()), humanBytes(st.Padding.Load()))
}

// summary is one line of a backup's figures.
func summary(st *backup.Stats, d time.Duration) string {
	rate := float64(st.Bytes.Load()) / max(d.Seconds(), 1e-3)
	return fmt.Sprintf("%d files, %d dirs, %s read in %s (%s/s), %s new in %d of %d chunks, dedup %.1fx",
		st.Files.Load(), st.Dirs.Load(), humanBytes(st.Bytes.Load()), d.Round(10*time.Millisecond),
		humanBytes(int64(rate)), humanBytes(st.NewBytes.Load()), st.NewChunks.Load(), st.Chunks.Load(), st.DedupRatio())
}

// startProgress prints a progress line every second on a terminal and
// nothing otherwise; the returned func stops it and ends the line.
func startProgress(e env, st *backup.Stats) (stop func()) {
	if !e.tty {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(e.stderr, "\r\033[K")
				return
			case <-tick.C:
				fmt.Fprintf(e.stderr, "\r\033[K%s", summary(st, time.Since(start)))
			}
		}
	}()
	return func() { close(done); <-finished }
}

// humanBytes writes n in binary units.
func humanBytes(n int64) string { return admin.HumanBytes(n) }
