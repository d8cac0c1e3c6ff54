package main

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/cache"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/fs"
	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/store"
)

type mountOptions struct {
	repoOptions
	cacheSize     sizeValue
	cacheDir      string
	cacheDirSize  sizeValue
	readahead     sizeValue
	allowOther    bool
	debug         bool
	background    int
	noXattrs      bool
	noLatencyHint bool
	metrics       string // --metrics-listen
}

// defaultCacheSize is the memory cache's default. Measured (GOROOT/src
// tree and a 1 GiB image over loopback TLS, dd of the image then cp -a of
// the tree, cold): the mount's peak RSS (VmHWM) is the cache plus about
// 35 MiB (go-fuse request buffers, package-level buffer pools, inodes,
// GC slack under the soft limit): 287 MiB at 256 MiB, 163-166 MiB at
// 128 MiB; with the larger bench/run tree (27,000 files) 230 MiB at 128 MiB
// and 163 MiB at 64 MiB (see the GC note in cmdMount), so 64 MiB is the
// default that keeps the mount under 192 MiB. A smaller cache
// costs no throughput for streaming reads (dd, cp -a: the cache only
// holds the readahead window, 32 MiB, and what was read); random reads
// of a warm working set larger than 64 MiB want --cache-size or
// --cache-dir.
const defaultCacheSize = 64 << 20

func cmdMount(ctx context.Context, e env, args []string) error {
	o := mountOptions{cacheSize: defaultCacheSize, cacheDirSize: 1 << 30, readahead: 32 << 20}
	readyFd() // close-on-exec
	f := flags(e, "mount")
	repoFlags(f, &o.repoOptions)
	f.Var(&o.cacheSize, "cache-size", "memory for cached chunks (e.g. 512MiB)")
	f.StringVar(&o.cacheDir, "cache-dir", "", "persistent chunk cache directory that survives remounts (default: none)")
	f.Var(&o.cacheDirSize, "cache-dir-size", "bound of --cache-dir (e.g. 10GiB)")
	f.Var(&o.readahead, "readahead", "largest readahead window for sequential reads (e.g. 32MiB; 0 disables)")
	f.BoolVar(&o.allowOther, "allow-other", false, "let other users in (kernel permission checks apply)")
	f.BoolVar(&o.debug, "debug", false, "log every FUSE request")
	f.IntVar(&o.background, "fuse-background", 64, "asynchronous FUSE requests in flight (go-fuse's default is 12)")
	f.BoolVar(&o.noXattrs, "no-xattrs", false, "hide extended attributes and ACLs (cp -a then sends 3 fewer requests per file)")
	f.BoolVar(&o.noLatencyHint, "no-latency-hint", false, "do not hold a zero CPU wake-up latency request (/dev/cpu_dma_latency, root only) while requests flow")
	f.StringVar(&o.metrics, "metrics-listen", "", "serve the cache statistics as Prometheus metrics at http://ADDR/metrics (default: off)")
	if err := f.Parse(args); err != nil {
		mountReady(err)
		return err
	}
	err := runMount(ctx, e, o, f.Args())
	mountReady(err) // a mount helper waiting for the mount hears why it failed
	return err
}

// runMount mounts a repository location read-only and serves it in the
// foreground until SIGINT/SIGTERM (or an external unmount); a busy mount
// is detached then and served until its last user lets go (endMount).
// SIGUSR1 prints cache statistics.
func runMount(ctx context.Context, e env, o mountOptions, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("want a repository path (HOST[:PORT]:/..., or /... with --datastore) and a mountpoint")
	}
	log := newLogger(e.stderr, o.logFormat, slog.LevelInfo)
	return logEnd(log, mountRepo(ctx, e, o, args, log))
}

// mountRepo is runMount once its logger exists.
func mountRepo(ctx context.Context, e env, o mountOptions, args []string, log *slog.Logger) error {
	loc, err := parseLocation(args[0])
	if err != nil {
		return err
	}
	ref, err := parseRef(loc.path, "", "time")
	if err != nil {
		return err
	}
	r, err := openRepo(o.repoOptions, loc)
	if err != nil {
		return err
	}
	defer r.Close()
	ra := int64(o.readahead)
	if ra == 0 {
		ra = -1 // the flag's 0 means off; the cache's 0 means its default
	}
	src, err := chunkSource(r)
	if err != nil {
		return err
	}
	c, err := cache.New(src, cache.Options{Size: int64(o.cacheSize), Readahead: ra,
		Dir: o.cacheDir, DirSize: int64(o.cacheDirSize), Log: log})
	if err != nil {
		return err
	}
	defer c.Close() // after the unmount: stops readahead and flushes the disk tier
	setMemoryLimits(int64(o.cacheSize))
	lctx, stopLending := context.WithCancel(ctx)
	defer stopLending()
	go lendCache(lctx, c)
	stopMetrics, err := startMetrics(o.metrics, mountMetrics(c), log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	// SIGUSR1 is caught before the mount appears: one sent as soon as it
	// is there (a script, a test) is never lost to Go's default of
	// ignoring it.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	srv, err := fs.Mount(args[1], fs.Options{Repo: notExistRepo{r}, Cache: c, Ref: ref, Log: log, AllowOther: o.allowOther, Debug: o.debug, Background: o.background, NoXattrs: o.noXattrs, NoLatencyHint: o.noLatencyHint})
	if err != nil {
		return err
	}
	log.Info("mounted", "repository", args[0], "mountpoint", args[1])
	mountReady(nil)
	sdNotify("READY=1")
	return serveMount(ctx, e, args[1], srv, c, log, usr1)
}

// unmounter is the part of the FUSE server serveMount uses.
type unmounter interface {
	Wait()
	Unmount() error
}

// serveMount waits for the end (a signal or an external unmount) and
// prints statistics on each SIGUSR1 that usr1 receives.
func serveMount(ctx context.Context, e env, mountpoint string, srv unmounter, c *cache.Cache, log *slog.Logger, usr1 <-chan os.Signal) error {
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	for {
		select {
		case <-usr1:
			cacheStats(e, log, c.Stats())
		case <-done:
			return nil
		case <-ctx.Done():
			return endMount(e, mountpoint, srv, done, log)
		}
	}
}

// endMount ends the mount after SIGINT or SIGTERM, never leaving a dead
// one ("Transport endpoint is not connected") behind. Unused, it is
// unmounted. Busy (a process has a file open or its working directory in
// it), it is detached lazily (fs.Detach, as umount -l): the mountpoint is
// free at once, and the processes still in the mount keep reading it
// until they let go, then the process ends; a second signal ends it at
// once (their reads then fail). If even detaching fails, it keeps serving
// and tries again on the next signal. Each step is said on stderr.
func endMount(e env, mountpoint string, srv unmounter, done <-chan struct{}, log *slog.Logger) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	log.Info("unmounting")
	for {
		if err := srv.Unmount(); err == nil {
			<-done
			return nil
		}
		err := fs.Detach(mountpoint)
		if err == nil {
			notice(e, log, "backupfs mount: %s is busy (a process has a file open or its working directory in it): "+
				"detached it (as umount -l); serving those processes until they let go; "+
				"a second Ctrl-C or SIGTERM ends now (their reads then fail)", mountpoint)
			select {
			case <-done:
			case <-sig:
				log.Info("ending while the detached mount is still in use")
			}
			return nil
		}
		select {
		case <-done: // unmounted from outside meanwhile
			return nil
		default:
		}
		notice(e, log, "backupfs mount: %s is busy and could not be detached (%v); still serving it: "+
			"close what uses it or run umount -l %s, then Ctrl-C or SIGTERM again", mountpoint, err, mountpoint)
		select {
		case <-done:
			return nil
		case <-sig:
		}
	}
}

// notExistRepo is the repository as fs reads it: a group, snapshot or
// file the datastore or the server does not have (store.ErrNotFound) also
// reads as io/fs.ErrNotExist, which fs branches on.
type notExistRepo struct{ r repo }

func (n notExistRepo) Groups() ([]catalog.Group, error) {
	gs, err := n.r.Groups()
	return gs, notExist(err)
}

func (n notExistRepo) Snapshots(g catalog.Group) ([]time.Time, error) {
	ts, err := n.r.Snapshots(g)
	return ts, notExist(err)
}

func (n notExistRepo) ReadFile(g catalog.Group, t time.Time, name string) ([]byte, error) {
	b, err := n.r.ReadFile(g, t, name)
	return b, notExist(err)
}

// KeyFingerprint passes on the repository's key (backup.Keyed).
func (n notExistRepo) KeyFingerprint() string {
	if k, ok := n.r.(backup.Keyed); ok {
		return k.KeyFingerprint()
	}
	return ""
}

func notExist(err error) error {
	if errors.Is(err, store.ErrNotFound) && !errors.Is(err, iofs.ErrNotExist) {
		return notFoundError{err}
	}
	return err
}

// notFoundError is an error that is also io/fs.ErrNotExist; its text is
// the original's.
type notFoundError struct{ error }

func (e notFoundError) Unwrap() error        { return e.error }
func (e notFoundError) Is(target error) bool { return target == iofs.ErrNotExist }

// chunkSource adapts a repository to the cache's chunk source: the network
// client fetches with a priority and a context; the local store reads from
// disk.
func chunkSource(r repo) (cache.Source, error) {
	if s, ok := r.(sealedRepo); ok {
		if _, local := s.repo.(localRepo); local {
			return sealedChunks{s}, nil
		}
		r = s.repo // the client opens sealed chunks itself
	}
	switch v := r.(type) {
	case remoteRepo:
		return remoteChunks{v.Client}, nil
	case localRepo:
		return localChunks{v.Datastore}, nil
	}
	return nil, fmt.Errorf("repository %T cannot be mounted", r)
}

type remoteChunks struct{ c *client.Client }

func (r remoteChunks) Chunk(ctx context.Context, d catalog.Digest, demand bool) ([]byte, error) {
	return r.c.ChunkContext(ctx, d, demand)
}

// Promote lets a demand read that joins a queued readahead fetch send it
// at once, at demand priority.
func (r remoteChunks) Promote(d catalog.Digest) { r.c.Promote(d) }

type localChunks struct{ s store.Datastore }

func (l localChunks) Chunk(ctx context.Context, d catalog.Digest, _ bool) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return l.s.Chunk(d)
}
