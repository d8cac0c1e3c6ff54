package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/backupfs/backupfs/remote/auth"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// defaultDatastore is where a datastore lives without --datastore: under
// the user's data directory, as XDG says.
func defaultDatastore() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "backupfs", "datastore"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --datastore and no home directory: %w", err)
	}
	return filepath.Join(home, ".local", "share", "backupfs", "datastore"), nil
}

// datastoreFlag adds --datastore to fs.
func datastoreFlag(fs *pflag.FlagSet, dst *string) {
	fs.StringVar(dst, "datastore", "", "datastore directory, or s3://BUCKET/PREFIX (default $XDG_DATA_HOME/backupfs/datastore)")
	s3Flags(fs)
}

// datastoreDir is dir, or the default datastore if dir is "".
func datastoreDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	return defaultDatastore()
}

// openStore opens the datastore in dir (the default one if dir is ""), or
// the object store an s3:// URL names. It never creates one: a mistyped
// --datastore must not become a new, empty datastore (only init makes
// one, and demo its default one).
func openStore(dir string) (store.Datastore, error) {
	if isS3(dir) {
		return openS3(dir, 0, "")
	}
	s, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	return s.Datastore(), nil
}

// openDir opens a directory datastore (openStore's rules).
func openDir(dir string) (*store.Store, error) {
	dir, err := datastoreDir(dir)
	if err != nil {
		return nil, err
	}
	s, err := store.Open(dir, store.Options{})
	if errors.Is(err, store.ErrNoDatastore) {
		what := "does not exist"
		if _, serr := os.Stat(dir); serr == nil {
			what = "is empty"
		}
		return nil, fmt.Errorf("datastore %s %s (create it with `backupfs init --datastore %s`)", dir, what, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("datastore %s: %w", dir, err)
	}
	return s, nil
}

// repo is what backup, ls and restore work on: the local datastore or a
// server.
type repo interface {
	backup.Repository
	Begin(g catalog.Group, t time.Time) (backup.Sink, error)
	Close() error
}

// localRepo is the datastore as a repo.
type localRepo struct{ store.Datastore }

// Begin starts a snapshot, holding the group's latest one before t (the
// previous snapshot the backup takes unchanged chunks from) as its base,
// as the server does (store/base.go). Without it Commit looks up every
// chunk, which is slower but as safe.
func (l localRepo) Begin(g catalog.Group, t time.Time) (backup.Sink, error) {
	w, err := l.Datastore.Begin(g, t)
	if err != nil {
		return nil, err
	}
	if prev, ok, _ := l.Datastore.Before(g, t); ok {
		_ = w.SetBase(prev)
	}
	return w, nil
}
func (l localRepo) Close() error { return l.Datastore.Close() }

// repoOptions say where a repository is: --datastore for the local form,
// and the credentials for a server location.
type repoOptions struct {
	keyfile     string // sealed backups' key file (--keyfile; BACKUPFS_KEYFILE)
	datastore   string
	tokenFile   string
	fingerprint string
	timeout     time.Duration
	stderr      io.Writer // the client's warnings (reconnects); nil: os.Stderr
	logFormat   logFormat // of those warnings
}

func repoFlags(fs *pflag.FlagSet, o *repoOptions) {
	o.stderr = fs.Output() // the command's stderr (flags sets it)
	datastoreFlag(fs, &o.datastore)
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the server token (default $BACKUPFS_TOKEN)")
	fs.StringVar(&o.fingerprint, "fingerprint", "", "server certificate SHA-256 fingerprint (default $BACKUPFS_FINGERPRINT)")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "how long a request to a server, or to an s3:// --datastore, may retry before it fails (e.g. 10s, 2m)")
	fs.StringVar(&o.keyfile, "keyfile", "", "key file: seal new backups and read sealed ones (default $BACKUPFS_KEYFILE; passphrase from BACKUPFS_PASSWORD_FILE, BACKUPFS_PASSWORD or the terminal)")
	logFormatFlag(fs, &o.logFormat)
}

// openRepo opens the repository a location names. A local datastore must
// exist: no command but init makes one.
func openRepo(o repoOptions, loc location) (repo, error) {
	sealer, err := openSealer(o) // first: a wrong passphrase fails before any connection
	if err != nil {
		return nil, err
	}
	var r repo
	if loc.addr == "" {
		var s store.Datastore
		if isS3(o.datastore) {
			s, err = openS3(o.datastore, o.timeout, "") // --timeout bounds its requests too
		} else {
			s, err = openStore(o.datastore)
		}
		if err != nil {
			return nil, err
		}
		r = localRepo{s}
	} else {
		if o.datastore != "" {
			return nil, fmt.Errorf("--datastore is for local paths; %s names a server", loc.addr)
		}
		var unseal func(catalog.Digest, []byte) ([]byte, bool, error)
		if sealer != nil {
			unseal = sealer.OpenShared
		}
		if r, err = dialRepo(o, loc.addr, unseal); err != nil {
			return nil, err
		}
	}
	if sealer != nil {
		r = sealedRepo{r, sealer}
	}
	return r, nil
}

// serverState is a datastore with the server's tokens and certificate,
// kept in dir/.auth: the datastore directory, or for an object store a
// local state directory (s3StateDir).
type serverState struct {
	store  store.Datastore
	dir    string
	tokens *auth.Tokens
	cert   tls.Certificate
}

// openServerState opens the datastore first, then its .auth (made on first
// use): the store refuses a directory that is not a datastore.
func openServerState(datastore string) (*serverState, error) {
	if isS3(datastore) {
		dir, err := s3StateDir(datastore)
		if err != nil {
			return nil, err
		}
		s, err := openS3(datastore, 0, s3CacheFile(dir))
		if err != nil {
			return nil, err
		}
		return serverStateOf(s, dir)
	}
	s, err := openDir(datastore)
	if err != nil {
		return nil, err
	}
	return serverStateOf(s.Datastore(), s.Dir())
}

func serverStateOf(s store.Datastore, dir string) (*serverState, error) {
	toks, err := auth.OpenTokens(dir)
	if err != nil {
		return nil, err
	}
	cert, err := auth.LoadOrCreateCert(dir)
	if err != nil {
		return nil, err
	}
	return &serverState{store: s, dir: dir, tokens: toks, cert: cert}, nil
}

// resolveTime turns a ref's TIME (a snapshot time or "latest") into a
// snapshot time that exists.
func resolveTime(s backup.Repository, r catalog.Ref) (time.Time, error) {
	snaps, err := s.Snapshots(r.Group())
	if err != nil {
		return time.Time{}, err
	}
	if len(snaps) == 0 {
		return time.Time{}, fmt.Errorf("%s: no snapshots", r.Group())
	}
	if r.Time == catalog.Latest {
		return snaps[len(snaps)-1], nil
	}
	t, err := catalog.ParseTime(r.Time)
	if err != nil {
		return t, err
	}
	for _, s := range snaps {
		if s.Equal(t) {
			return t, nil
		}
	}
	return t, fmt.Errorf("%s/%s: no such snapshot", r.Group(), r.Time)
}

// parseRef parses a repository path and checks it goes at least as deep
// as need ("group", "time", "archive"), and no deeper than limit.
func parseRef(s, need, limit string) (catalog.Ref, error) {
	r, err := catalog.ParseRef(s)
	if err != nil {
		return r, err
	}
	depth := map[string]int{"": 0, "type": 1, "group": 2, "time": 3, "archive": 4, "path": 5}
	parts := []string{r.Type, r.ID, r.Time, r.Archive, r.Path}
	got := 0
	for got < len(parts) && parts[got] != "" {
		got++
	}
	if got < depth[need] {
		return r, fmt.Errorf("%q: want a path down to the %s, e.g. /vm/100/latest/root.tree", s, need)
	}
	if got > depth[limit] {
		return r, fmt.Errorf("%q: too deep, want at most a %s", s, limit)
	}
	return r, nil
}
