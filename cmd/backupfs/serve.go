package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/backupfs/backupfs/jobs"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/server"
	"github.com/backupfs/backupfs/replicate/push"
	"github.com/backupfs/backupfs/store"
	"github.com/backupfs/backupfs/store/objstore"
)

type serveOptions struct {
	datastore string
	listen    string
	verbose   bool
	logFormat logFormat
	metrics   string        // --metrics-listen
	limits    server.Limits // connection bounds; zero: the defaults
	jobs      []string      // --job specs (package jobs)
	noAdmin   bool          // --no-admin
	noPush    bool          // --no-push
}

func cmdServe(ctx context.Context, e env, args []string) error {
	o := serveOptions{}
	fs := flags(e, "serve")
	datastoreFlag(fs, &o.datastore)
	stateDirFlag(fs)
	fs.StringVar(&o.listen, "listen", fmt.Sprintf("127.0.0.1:%d", DefaultPort), "address to listen on")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "log every request")
	logFormatFlag(fs, &o.logFormat)
	fs.StringVar(&o.metrics, "metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics (plain HTTP, no token; default: off)")
	config := fs.String("config", "", "file of key = value lines for these flags (flags given here win)")
	fs.IntVar(&o.limits.MaxConns, "max-conns", 0, "most connections open at once (default from the open file limit, at most 4096)")
	fs.IntVar(&o.limits.MaxConnsPerSource, "max-conns-per-source", 0, "most connections open at once from one IPv4 address or IPv6 /64 (default max-conns/16, at least 4)")
	fs.IntVar(&o.limits.MaxHandshakes, "max-handshakes", 0, "most connections that have not finished TLS and HELLO (default max-conns/4, at least 8)")
	fs.DurationVar(&o.limits.HandshakeTimeout, "handshake-timeout", 0, "time a new connection has for TLS and HELLO (default 10s)")
	fs.BoolVar(&o.noAdmin, "no-admin", false, "refuse forget, prune, verify, gc and protect from clients (administer on this machine only)")
	fs.BoolVar(&o.noPush, "no-push", false, "refuse sync --push from clients (a pusher's snapshots are written here with its token's backup permission)")
	fs.StringArrayVar(&o.jobs, "job", nil, "a scheduled job, e.g. 'gc every 24h', 'verify every 168h', 'prune vm/* every 24h keep-daily=7' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *config != "" {
		if err := applyConfigFile(fs, *config); err != nil {
			return err
		}
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("serve takes no arguments")
	}
	l := o.limits
	if l.MaxConns < 0 || l.MaxConnsPerSource < 0 || l.MaxHandshakes < 0 || l.HandshakeTimeout < 0 {
		return fmt.Errorf("serve: --max-conns, --max-conns-per-source, --max-handshakes and --handshake-timeout must not be negative")
	}
	return runServe(ctx, e, o)
}

// runServe serves a datastore until ctx ends (SIGINT, SIGTERM), then
// shuts down gracefully: answers in flight finish, open backups abort.
func runServe(ctx context.Context, e env, o serveOptions) error {
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := newLogger(e.stderr, o.logFormat, level)
	return logEnd(log, serveStore(ctx, o, log))
}

// serveStore is runServe once its logger exists.
func serveStore(ctx context.Context, o serveOptions, log *slog.Logger) error {
	st, err := openServerState(o.datastore)
	if err != nil {
		return err
	}
	s, cert := st.store, st.cert
	defer func() { // last: after the shutdown (the object store keeps its existence cache)
		if err := s.Close(); err != nil {
			log.Warn("close datastore", "err", err)
		}
	}()
	var specs []jobs.Job
	for _, line := range o.jobs {
		j, err := jobs.Parse(line)
		if err != nil {
			return err
		}
		specs = append(specs, j)
	}
	if d := store.Unwrap(s); d != nil {
		// gc in another process would not see this server's backups.
		release, err := d.HoldForServer()
		if err != nil {
			return err
		}
		defer release()
	}
	sched := jobs.New(s, log, specs)
	srv, err := server.NewServer(server.ServerConfig{Store: s, Tokens: st.tokens, TLS: auth.ServerConfig(cert), Log: log, Limits: o.limits, Jobs: sched, NoAdmin: o.noAdmin,
		Push: push.Handler(s), NoPush: o.noPush})
	if err != nil {
		return err
	}
	jctx, stopJobs := context.WithCancel(ctx)
	jobsDone := make(chan struct{})
	go func() { sched.Run(jctx); close(jobsDone) }()
	defer func() { stopJobs(); <-jobsDone }()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	stopMetrics, err := startMetrics(o.metrics, serverMetrics(srv, sched), log)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopMetrics()
	lim := srv.Limits()
	log.Info("serving", "datastore", s.String(), "listen", ln.Addr().String(), "fingerprint", auth.Fingerprint(cert),
		"max_conns", lim.MaxConns, "max_conns_per_source", lim.MaxConnsPerSource, "max_handshakes", lim.MaxHandshakes)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	sdNotify("READY=1")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if r, ok := s.(interface{ Requests() *objstore.Requests }); ok {
		log.Info("object store requests", "requests", r.Requests().String()) // bench/s3.sh reads it
	}
	if err != nil {
		return err
	}
	return <-errc
}
