package main

import (
	"context"
	"fmt"
	"os"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/seal"
)

// keyFile is --keyfile, or BACKUPFS_KEYFILE.
func (o repoOptions) keyFile() string {
	if o.keyfile != "" {
		return o.keyfile
	}
	return os.Getenv("BACKUPFS_KEYFILE")
}

// openSealer opens the key file the options name (asking for its
// passphrase); nil, nil without one.
func openSealer(o repoOptions) (*seal.Sealer, error) {
	path := o.keyFile()
	if path == "" {
		return nil, nil
	}
	k, err := openKey(path, "passphrase of "+path)
	if err != nil {
		return nil, err
	}
	return seal.New(k)
}

// sealedRepo is a repository read and written with a key: backups are
// sealed, sealed snapshots of that key can be read (backup.Keyed), and a
// local datastore's chunks are opened here (a server's by the client,
// client.ClientConfig.Unseal).
type sealedRepo struct {
	repo
	s *seal.Sealer
}

func (r sealedRepo) KeyFingerprint() string { return r.s.Fingerprint() }

// Chunk opens a chunk of the local datastore (the client opens a
// server's itself).
func (r sealedRepo) Chunk(d catalog.Digest) ([]byte, error) {
	l, ok := r.repo.(localRepo)
	if !ok {
		return r.repo.Chunk(d)
	}
	blob, err := l.Datastore.ReadBlob(d, func(n int) []byte { return make([]byte, n) })
	if err != nil {
		return nil, err
	}
	plain, _, err := r.s.OpenShared(d, blob) // blob is ours alone
	if err != nil {
		return nil, fmt.Errorf("chunk %s: %w", d, err)
	}
	return plain, nil
}

// sealedChunks is the mount's chunk source over a local datastore with a key.
type sealedChunks struct{ r sealedRepo }

func (s sealedChunks) Chunk(ctx context.Context, d catalog.Digest, _ bool) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.r.Chunk(d)
}

// sealerOf is the repository's key, if it has one.
func sealerOf(r repo) backup.Sealer {
	if s, ok := r.(sealedRepo); ok {
		return s.s
	}
	return nil
}
