package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/client"
)

// remoteRepo is a server as a repo.
type remoteRepo struct{ *client.Client }

func (r remoteRepo) Begin(g catalog.Group, t time.Time) (backup.Sink, error) {
	return r.Client.Begin(g, t)
}

// dialRepo connects to a backupfs server with the token and fingerprint
// from the flags or the environment.
func dialRepo(o repoOptions, addr string, unseal func(catalog.Digest, []byte) ([]byte, bool, error)) (repo, error) {
	cfg, err := clientConfig(o, addr)
	if err != nil {
		return nil, err
	}
	cfg.Unseal = unseal
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return remoteRepo{c}, nil
}

// clientConfig is how to reach the server at addr: the token and
// fingerprint from the flags or the environment.
func clientConfig(o repoOptions, addr string) (client.ClientConfig, error) {
	token := os.Getenv("BACKUPFS_TOKEN")
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return client.ClientConfig{}, fmt.Errorf("token file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	fp := o.fingerprint
	if fp == "" {
		fp = os.Getenv("BACKUPFS_FINGERPRINT")
	}
	if token == "" || fp == "" {
		return client.ClientConfig{}, fmt.Errorf("%s: need a token (BACKUPFS_TOKEN or --token-file) and the server fingerprint (BACKUPFS_FINGERPRINT or --fingerprint; backupfs fingerprint on the server prints it)", addr)
	}
	var w io.Writer = os.Stderr
	if o.stderr != nil {
		w = o.stderr
	}
	log := newLogger(w, o.logFormat, slog.LevelInfo) // reconnect warnings: a stalled command says why
	return client.ClientConfig{Addr: addr, Token: token, Fingerprint: fp, Timeout: o.timeout, Log: log}, nil
}
