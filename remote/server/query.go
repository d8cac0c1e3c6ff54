package server

import (
	"slices"
	"sync"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
)

// The digest query (QUERY_CHUNKS, protocol version 3; issue 22).
//
// During a backup the client asks which of a batch of digests the
// datastore holds among the chunks of the groups its token may read; those
// the server answers yes to become usable in the session (store: Know), so
// the client references them without uploading. A digest is answered
// from the index of readable snapshots first: one that no snapshot of a
// readable group references is answered no without looking at the chunk
// files, exactly as one that exists nowhere, so the query is no oracle for
// other tenants' data (the time of a no does not depend on whether another
// group holds the chunk). Only a digest found in that index is looked up
// (and touched, see store.SnapshotWriter.Know); one that verify set aside
// or GC removed is answered no and gets uploaded.
//
// The index is the readable groups' snapshots, newest first, at most
// srvMaxGrants index files, built once per session on its first query
// from the server's digest cache (srvDigestCache: 32 bytes per digest,
// shared with GET_CHUNKS grants). A snapshot published after the first
// query is not in it.

// srvReadable is a session's index of readable chunks.
type srvReadable struct {
	once sync.Once
	mu   sync.Mutex // ck is not safe for concurrent use
	ck   *srvChecker
}

// readable returns the session's index, building it on first use.
func (c *srvConn) readable(b *srvBackup) *srvReadable {
	b.readable.once.Do(func() {
		keys := c.readableKeys()
		b.readable.ck = &srvChecker{dc: c.s.digests, keys: keys,
			tables: make([][]byte, len(keys)), loaded: make([]bool, len(keys))}
		c.log.Info("digest query index", "snapshot", b.label, "index_files", len(keys))
	})
	return &b.readable
}

// srvSnap names one snapshot of the readable index.
type srvSnap struct {
	g catalog.Group
	t time.Time
}

// readableKeys lists the index files of the readable groups' snapshots,
// newest snapshots first, at most srvMaxGrants. Snapshots whose manifest
// cannot be read are left out (their chunks are answered no).
func (c *srvConn) readableKeys() []srvFileKey {
	var keys []srvFileKey
	for _, s := range c.readableSnaps() {
		m, err := c.s.cfg.Store.Manifest(s.g, s.t)
		if err != nil {
			continue
		}
		for _, a := range m.Archives {
			for _, f := range a.Files {
				if len(keys) == srvMaxGrants {
					return keys
				}
				keys = append(keys, srvFileKey{srvSnapKey{s.g.String(), s.t.Unix()}, f.Name})
			}
		}
	}
	return keys
}

// readableSnaps lists the snapshots of the groups the token may read,
// newest first. Groups that cannot be listed are left out.
func (c *srvConn) readableSnaps() []srvSnap {
	st := c.s.cfg.Store
	groups, err := st.Groups()
	if err != nil {
		c.log.Warn("digest query: list groups", "err", err)
		return nil
	}
	var snaps []srvSnap
	for _, g := range groups {
		if !c.grant.Allows(auth.PermRead, g.String()) {
			continue
		}
		times, err := st.Snapshots(g)
		if err != nil {
			continue
		}
		for _, t := range times {
			snaps = append(snaps, srvSnap{g, t})
		}
	}
	slices.SortStableFunc(snaps, func(a, b srvSnap) int { return b.t.Compare(a.t) })
	return snaps
}

// has reports whether a readable snapshot references d.
func (r *srvReadable) has(d *catalog.Digest) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ck.allows(d)
}

// queryChunks answers QUERY_CHUNKS: decided inline against the session,
// answered concurrently; FINISH waits for it like for an upload.
func (c *srvConn) queryChunks(r *srvReq, m wire.QueryChunks) {
	b := c.activeBackup()
	if b == nil {
		c.fail(r, wire.CodeBadRequest, "QUERY_CHUNKS without a backup in progress")
		return
	}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		defer b.uploads.Done()
		idx := c.readable(b)
		ans := wire.KnownChunks{Known: make([]bool, len(m.Digests))}
		for i := range m.Digests {
			if !idx.has(&m.Digests[i]) {
				continue
			}
			ok, err := b.w.Know(m.Digests[i])
			if err != nil {
				c.failErr(r, "digest query", err)
				return
			}
			ans.Known[i] = ok
			if ok {
				b.known.Add(1)
			}
		}
		c.done(r, wire.Frame{Type: wire.TKnownChunks, Payload: ans.Append(nil)}, true)
	}()
}
