package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/backupfs/backupfs/cache"
)

// Logs. serve, mount and every command that talks to a server (it logs
// the client's reconnect warnings) take --log-format text|json; text
// (slog's key=value lines) is the default. With json every line such a
// command writes to stderr once it runs is one JSON object with at least
// the keys time, level and msg: the mount's SIGUSR1 cache statistics
// become a record with one numeric key per counter, the mount's notes on
// a busy mountpoint a WARN record, and the error that ends serve or mount
// an ERROR record with the key err (run then prints nothing more). A
// command line that does not parse is still said in plain text: the
// command never started.

// errLogFormat is the error of a --log-format value that is not text or
// json.
var errLogFormat = errors.New("unknown log format")

// logFormat is the value of --log-format.
type logFormat string

const (
	logText logFormat = "text"
	logJSON logFormat = "json"
)

func (f *logFormat) String() string {
	if *f == "" {
		return string(logText)
	}
	return string(*f)
}

func (f *logFormat) Set(s string) error {
	switch logFormat(s) {
	case logText, logJSON:
		*f = logFormat(s)
		return nil
	}
	return fmt.Errorf("%w %q: want text or json", errLogFormat, s)
}

func (f *logFormat) Type() string { return "text|json" }

// logFormatFlag adds --log-format to fs.
func logFormatFlag(fs *pflag.FlagSet, f *logFormat) {
	fs.Var(f, "log-format", "log line format on stderr: text or json")
}

// newLogger makes the logger of a command writing to w in format f.
func newLogger(w io.Writer, f logFormat, level slog.Leveler) *slog.Logger {
	o := &slog.HandlerOptions{Level: level}
	if f == logJSON {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// jsonLogger reports whether log writes JSON records (then every line on
// stderr must be one).
func jsonLogger(log *slog.Logger) bool {
	_, ok := log.Handler().(*slog.JSONHandler)
	return ok
}

// loggedError is an error already logged as a record: run prints no line
// for it, only exits 1.
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }

// logEnd logs err, the end of a long-running command, as an ERROR record
// if log writes JSON; a text log leaves it to run's plain line.
func logEnd(log *slog.Logger, err error) error {
	if err == nil || !jsonLogger(log) {
		return err
	}
	log.Error("failed", "err", err.Error())
	return loggedError{err}
}

// notice says msg to the user on stderr: a plain line with a text log, a
// WARN record with a JSON one.
func notice(e env, log *slog.Logger, msg string, args ...any) {
	if jsonLogger(log) {
		log.Warn(fmt.Sprintf(msg, args...))
		return
	}
	fmt.Fprintf(e.stderr, msg+"\n", args...)
}

// cacheStats says the cache's statistics (SIGUSR1): one plain line
// "cache: hits=..." with a text log, an INFO record with one numeric key
// per counter with a JSON one.
func cacheStats(e env, log *slog.Logger, s cache.Stats) {
	if !jsonLogger(log) {
		fmt.Fprintf(e.stderr, "cache: %s\n", s)
		return
	}
	log.Info("cache statistics", "hits", s.Hits, "misses", s.Misses, "disk_hits", s.DiskHits,
		"zero_hits", s.ZeroHits, "fetches", s.Fetches, "fetch_errors", s.FetchErrors,
		"bytes_fetched", s.BytesFetched, "readahead_issued", s.ReadaheadIssued,
		"readahead_used", s.ReadaheadUsed, "promoted", s.Promoted, "evictions", s.Evictions,
		"in_memory", s.Bytes)
}
