package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/backupfs/backupfs/store"
	"github.com/backupfs/backupfs/store/objstore"
)

// An s3://BUCKET/PREFIX datastore is reached with the usual AWS
// environment: AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3), AWS_REGION (or
// AWS_DEFAULT_REGION, default us-east-1), AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY; path-style addressing always (self-hosted
// stores). --s3-endpoint and --s3-region override the first two for the
// process; credentials come from the environment only (a flag would show
// them in ps). A command with --timeout (mount, backup, restore, ls) run
// on an s3:// datastore directly takes it as the object store's request
// deadline unless --s3-timeout (BACKUPFS_S3_TIMEOUT) says otherwise: a
// local mount's read of a store that is down or hangs then fails with EIO
// within --timeout, as through a server.

// isS3 reports whether a --datastore value names an object store.
func isS3(spec string) bool { return strings.HasPrefix(spec, "s3://") }

// s3Flags adds --s3-endpoint and --s3-region, which set their variable in
// the process's environment (the flag wins over it).
func s3Flags(fs *pflag.FlagSet) {
	fs.Var(envFlag("AWS_ENDPOINT_URL"), "s3-endpoint", "object store endpoint for an s3:// --datastore (default $AWS_ENDPOINT_URL)")
	fs.Var(envFlag("AWS_REGION"), "s3-region", "object store region for an s3:// --datastore (default $AWS_REGION, us-east-1)")
	fs.Var(envFlag("BACKUPFS_S3_TIMEOUT"), "s3-timeout", "how long one object store request may retry before it fails (default $BACKUPFS_S3_TIMEOUT, else --timeout where the command has one, 60s)")
}

type envFlag string

func (f envFlag) String() string     { return "" }
func (f envFlag) Type() string       { return "string" }
func (f envFlag) Set(v string) error { return os.Setenv(string(f), v) }

// s3Config is the objstore configuration for spec, from the environment;
// timeout (if not 0) is the request deadline when BACKUPFS_S3_TIMEOUT is
// not set.
func s3Config(spec string, timeout time.Duration) (objstore.Config, error) {
	first := func(names ...string) string {
		for _, n := range names {
			if v := os.Getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	cfg := objstore.Config{
		Endpoint:  first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
		Region:    first("AWS_REGION", "AWS_DEFAULT_REGION"),
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		Timeout:   timeout,
	}
	if v := os.Getenv("BACKUPFS_S3_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("--s3-timeout / BACKUPFS_S3_TIMEOUT %q: want a positive duration, e.g. 30s", v)
		}
		cfg.Timeout = d
	}
	return cfg, cfg.ParseURL(spec)
}

// openS3 opens an object store datastore; like a directory, it must have
// been made by init. timeout is s3Config's; cacheFile, if set, keeps the
// store's chunk existence cache between runs (serve).
func openS3(spec string, timeout time.Duration, cacheFile string) (store.Datastore, error) {
	cfg, err := s3Config(spec, timeout)
	if err != nil {
		return nil, err
	}
	cfg.CacheFile = cacheFile
	s, err := objstore.Open(cfg)
	if errors.Is(err, store.ErrNoDatastore) {
		return nil, fmt.Errorf("datastore %s does not exist (create it with `backupfs init --datastore %s`): %w", spec, spec, err)
	}
	if err != nil {
		return nil, fmt.Errorf("datastore %s: %w", spec, err)
	}
	return s, nil
}

// initS3 is init for an object store datastore.
func initS3(e env, spec string) error {
	cfg, err := s3Config(spec, 0)
	if err != nil {
		return err
	}
	_, err = objstore.Init(cfg)
	if errors.Is(err, store.ErrExists) {
		fmt.Fprintf(e.stdout, "datastore %s exists already\n", spec)
		return nil
	}
	if err != nil {
		return fmt.Errorf("datastore %s: %w", spec, err)
	}
	fmt.Fprintf(e.stdout, "created datastore %s\n", spec)
	return nil
}

// s3StateDir is where serve, token and fingerprint keep the server's
// tokens and certificate for an object store datastore, and serve the
// store's chunk existence cache (s3CacheFile): they are this server's, not
// data, and stay on its disk (0700):
// $BACKUPFS_STATE_DIR (--state-dir) or
// $XDG_DATA_HOME/backupfs/s3/BUCKET/PREFIX.
func s3StateDir(spec string) (string, error) {
	dir := os.Getenv("BACKUPFS_STATE_DIR")
	if dir == "" {
		def, err := defaultDatastore() // .../backupfs/datastore
		if err != nil {
			return "", err
		}
		dir = filepath.Join(filepath.Dir(def), "s3", filepath.FromSlash(strings.TrimPrefix(spec, "s3://")))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("state directory for %s: %w", spec, err)
	}
	return dir, nil
}

// stateDirFlag adds --state-dir (serve, token, fingerprint).
func stateDirFlag(fs *pflag.FlagSet) {
	fs.Var(envFlag("BACKUPFS_STATE_DIR"), "state-dir", "for an s3:// --datastore: the local directory holding the server's tokens and certificate (default $BACKUPFS_STATE_DIR, $XDG_DATA_HOME/backupfs/s3/BUCKET/PREFIX)")
}

// s3CacheFile is the existence cache file in a state directory: a
// second backup after a restart need not list every chunk of the store.
func s3CacheFile(stateDir string) string { return filepath.Join(stateDir, "existence-cache") }
