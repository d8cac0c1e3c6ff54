// Command backupfs makes, lists, restores, verifies and prunes backups of
// VM disk images and file trees in a deduplicating datastore.
//
// The command is thin: each subcommand parses its flags into an options
// struct and calls runX(ctx, env, opts, args), which tests call in-process.
// The work is done by packages backup, store and catalog.
//
// A datastore is made only by init (and the default one by demo, so the
// quickstart stays one command): every other command taking --datastore
// refuses a missing or empty directory with one line saying how to create
// it, so a mistyped path never becomes a new, empty datastore. Commands
// talking to a server log the client's reconnect warnings to stderr.
//
// Operating it (each file's comment has the contract): --log-format
// text|json on serve, mount and the server commands (logging.go);
// `completion bash|zsh|fish` generated from the command table and the
// commands' own flag sets (completion.go); the mount helper that
// /etc/fstab and `mount -t fuse.backupfs` run through mount.fuse3,
// `backupfs SOURCE MOUNTPOINT -o OPTIONS` (mounthelper.go); READY=1 to
// systemd for Type=notify units (sdnotify.go, contrib/systemd); `serve
// --config FILE` (config.go) and `serve --metrics-listen ADDR` (metrics.go).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

// env is what a command talks to: tests pass buffers.
type env struct {
	stdin          io.Reader // nil: none (backup NAME.img:- refuses)
	stdout, stderr io.Writer
	tty            bool // stderr is a terminal: show progress
	// flagSet, if set, is given each flag set flags() makes (completion
	// collects the commands' flags with it).
	flagSet func(*pflag.FlagSet)
}

type command struct {
	usage   string
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

// commands is filled in init: the commands' flag sets print usage from it.
var commands map[string]command

func init() {
	commands = map[string]command{
		"backup":      {"backup [--datastore DIR] [--full-read] [--dry-run] [--exclude PATTERN ...] /TYPE/ID NAME.tree:DIR[,PATH...]|NAME.img:FILE|NAME.img:- ...", "make a snapshot", cmdBackup},
		"ls":          {"ls [--datastore DIR] [--json] [/TYPE[/ID[/TIME[/ARCHIVE[/PATH]]]]]", "list groups, snapshots, archives, files", cmdLs},
		"restore":     {"restore [--datastore DIR] /TYPE/ID/TIME/ARCHIVE[/PATH] TARGET", "restore an archive or a path in it", cmdRestore},
		"verify":      {"verify [--datastore DIR] [--keyfile F] [[HOST[:PORT]:]/TYPE/ID[/TIME]]", "check every chunk of the snapshots", cmdVerify},
		"prune":       {"prune [--datastore DIR] [[HOST[:PORT]:]/TYPE/ID] --keep-last N --keep-daily N ... [--dry-run]", "forget snapshots a keep policy does not keep", cmdPrune},
		"gc":          {"gc [--datastore DIR] [--grace DURATION] [--dry-run] [HOST[:PORT]:/]", "remove chunks no snapshot references", cmdGC},
		"forget":      {"forget [--datastore DIR] [HOST[:PORT]:]/TYPE/ID/TIME", "remove one snapshot", cmdForget},
		"demo":        {"demo [--datastore DIR]", "back up a sample tree and image, list, verify and restore them", cmdDemo},
		"mount":       {"mount [--datastore DIR] [--cache-size 64MiB] [--readahead 32MiB] REPO MOUNTPOINT", "mount backups read-only with FUSE (foreground; Ctrl-C unmounts)", cmdMount},
		"serve":       {"serve [--config FILE] [--datastore DIR] [--listen ADDR] [--metrics-listen ADDR] [--log-format text|json]", "serve a datastore over the network (TLS, tokens)", cmdServe},
		"token":       {"token [--datastore DIR] create NAME --allow read:PATTERN --allow backup:PATTERN | list | revoke NAME", "manage the server's access tokens", cmdToken},
		"init":        {"init [--datastore DIR]", "create a datastore (every other command needs one; demo makes the default one)", cmdInit},
		"snapshots":   {"snapshots [--json] [HOST[:PORT]:]/[TYPE[/ID]]", "list snapshots with their size and new bytes", inspectCommand("snapshots", runSnapshots)},
		"stats":       {"stats [--json] [HOST[:PORT]:]/[TYPE[/ID]]", "logical size, distinct chunks and dedup factor of snapshots", inspectCommand("stats", runStats)},
		"diff":        {"diff [--json] [HOST[:PORT]:]/TYPE/ID/TIME[/ARCHIVE] TIME|/TYPE/ID/TIME[/ARCHIVE]", "files added, removed and changed between two snapshots (catalogs only)", inspectCommand("diff", runDiff)},
		"find":        {"find [--json] [--all] [[HOST[:PORT]:]/[TYPE[/ID]]] PATTERN", "which versions of matching paths exist across snapshots, and when they changed", inspectCommand("find", runFind)},
		"key":         {"key [--kdf-time N] [--kdf-memory 64MiB] create|passwd|paperkey|recover|fingerprint FILE", "manage key files for sealed backups (passphrase from BACKUPFS_PASSWORD_FILE, BACKUPFS_PASSWORD or the terminal)", cmdKey},
		"sync":        {"sync [--push] [--datastore DIR] [--group PATTERN]... [--transfer-last N] [--remove-vanished] HOST[:PORT]:/[TYPE[/ID]]", "pull the snapshots the datastore lacks from a server, incrementally (--push: offer the datastore's to a server, which pulls them)", cmdSync},
		"protect":     {"protect [--unprotect] [--datastore DIR] [HOST[:PORT]:]/TYPE/ID/TIME", "mark a snapshot that forget and prune must leave alone", cmdProtect},
		"jobs":        {"jobs HOST[:PORT]:/", "list a server's scheduled jobs (serve --job): last run, result, next run", cmdJobs},
		"tag":         {"tag [--add T]... [--remove T]... [--note TEXT] [HOST[:PORT]:]/TYPE/ID/TIME", "change a snapshot's tags and note", cmdTag},
		"fingerprint": {"fingerprint [--datastore DIR]", "print the server certificate's SHA-256 fingerprint", cmdFingerprint},
		"completion":  {"completion bash|zsh|fish", "print a shell completion script (e.g. source <(backupfs completion bash))", cmdCompletion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, ttyErr := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, tty: ttyErr == nil}
	os.Exit(run(ctx, e, os.Args[1:]))
}

// run dispatches a command line and returns the exit code.
func run(ctx context.Context, e env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		return 0
	}
	if helperCall(args) {
		return runHelper(e, args) // mount.fuse3's call: /etc/fstab
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "backupfs: unknown command %q (see backupfs help)\n", args[0])
		return 2
	}
	err := c.run(ctx, e, args[1:])
	var ee exitError
	var le loggedError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, &le):
		return 1
	case errors.As(err, &ee):
		fmt.Fprintf(e.stderr, "backupfs %s: %v\n", args[0], ee.err)
		return ee.code
	default:
		fmt.Fprintf(e.stderr, "backupfs %s: %v\n", args[0], err)
		return 1
	}
}

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func usage(w io.Writer) {
	fmt.Fprintln(w, "backupfs: deduplicated backups of VM images and file trees\n\nUsage:")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  backupfs %s\n      %s\n", commands[n].usage, commands[n].summary)
	}
	fmt.Fprintln(w, "  backupfs SOURCE MOUNTPOINT -o OPTIONS\n      mount helper for /etc/fstab and mount -t fuse.backupfs (options: mount's flags with _ for -)")
	fmt.Fprintln(w, "\nWithout --datastore, the datastore is $XDG_DATA_HOME/backupfs/datastore (~/.local/share/...).")
}

// flags makes a command's flag set; errors and usage go to e.stderr.
func flags(e env, name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: backupfs %s\n", commands[name].usage)
		fs.PrintDefaults()
	}
	if e.flagSet != nil {
		e.flagSet(fs)
	}
	return fs
}
