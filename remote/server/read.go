package server

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// srvCode maps a store or catalog error to an error code.
func srvCode(err error) wire.Code {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return wire.CodeNotFound
	case errors.Is(err, store.ErrCorrupt):
		return wire.CodeCorrupt
	case errors.Is(err, store.ErrInvalid), errors.Is(err, catalog.ErrName),
		errors.Is(err, catalog.ErrFormat), errors.Is(err, catalog.ErrVersion):
		return wire.CodeBadRequest
	case errors.Is(err, store.ErrExists):
		return wire.CodeExists
	case errors.Is(err, store.ErrUnknownChunks):
		return wire.CodeDenied
	}
	return wire.CodeGeneric
}

// listGroups answers LIST_GROUPS with the groups the token may read.
func (c *srvConn) listGroups(r *srvReq) {
	groups, err := c.s.cfg.Store.Groups()
	if err != nil {
		c.failErr(r, "list groups", err)
		return
	}
	names := make([]string, 0, len(groups))
	for _, g := range groups {
		if s := g.String(); c.grant.Allows(auth.PermRead, s) {
			names = append(names, s)
		}
	}
	for len(names) > wire.MaxGroups {
		m := wire.Groups{Groups: names[:wire.MaxGroups]}
		if c.send(r, wire.Frame{Type: wire.TGroups, Flags: wire.FlagMore, Payload: m.Append(nil)}, true) != nil {
			return
		}
		names = names[wire.MaxGroups:]
	}
	m := wire.Groups{Groups: names}
	c.done(r, wire.Frame{Type: wire.TGroups, Payload: m.Append(nil)}, true)
}

// readableGroup parses a group the token must be able to read. Unreadable
// and malformed groups get the same NOT_FOUND as missing ones.
func (c *srvConn) readableGroup(r *srvReq, group string) (catalog.Group, bool) {
	g, err := catalog.ParseGroup(group)
	if err != nil || !c.grant.Allows(auth.PermRead, group) {
		c.logDenied(err, "read", group)
		c.notFound(r, group)
		return g, false
	}
	return g, true
}

// logDenied logs a refused group: the client sees NOT_FOUND either way,
// the operator sees which token asked for what.
func (c *srvConn) logDenied(parseErr error, what, group string) {
	if parseErr != nil {
		c.log.Warn("bad group name", "op", what, "group", group)
		return
	}
	c.log.Warn("denied "+what, "group", group)
}

func (c *srvConn) notFound(r *srvReq, group string) {
	c.fail(r, wire.CodeNotFound, "no group %q readable with token %q", group, c.grant.Name)
}

// listSnapshots answers LIST_SNAPSHOTS.
func (c *srvConn) listSnapshots(r *srvReq, m wire.ListSnapshots) {
	g, ok := c.readableGroup(r, m.Group)
	if !ok {
		return
	}
	times, err := c.s.cfg.Store.Snapshots(g)
	if errors.Is(err, store.ErrNotFound) {
		c.notFound(r, m.Group)
		return
	}
	if err != nil {
		c.failErr(r, "list snapshots", err)
		return
	}
	if len(times) > wire.MaxSnapshots {
		c.fail(r, wire.CodeGeneric, "group %s has %d snapshots, the protocol lists at most %d", m.Group, len(times), wire.MaxSnapshots)
		return
	}
	out := wire.Snapshots{Times: make([]int64, len(times))}
	for i, t := range times {
		out.Times[i] = t.Unix()
	}
	c.done(r, wire.Frame{Type: wire.TSnapshots, Payload: out.Append(nil)}, true)
}

// getFile answers GET_FILE in FILE_DATA frames. An index file read with
// read permission grants its chunks to this connection before the first
// frame goes out.
func (c *srvConn) getFile(r *srvReq, m wire.GetFile) {
	key := srvFileKey{srvSnapKey{m.Group, m.Time}, m.Name}
	readable := c.grant.Allows(auth.PermRead, m.Group)
	c.mu.Lock()
	prev := c.backup != nil && c.prevFiles == key.srvSnapKey
	c.mu.Unlock()
	g, err := catalog.ParseGroup(m.Group)
	if err != nil || !(readable || prev) {
		c.logDenied(err, "read", m.Group)
		c.notFound(r, m.Group)
		return
	}
	b, err := c.s.cfg.Store.ReadFile(g, time.Unix(m.Time, 0).UTC(), m.Name)
	if err != nil {
		c.failErr(r, fmt.Sprintf("get %s/%d/%s", m.Group, m.Time, m.Name), err)
		return
	}
	if readable && m.Name != catalog.ManifestName {
		c.grantIndex(key, b)
	}
	for fd, more := range wire.FileParts(b, 0) {
		f := wire.Frame{Type: wire.TFileData, Payload: fd.Append(nil)}
		if !more {
			c.done(r, f, true)
			return
		}
		f.Flags = wire.FlagMore
		if r.ctx.Err() != nil {
			c.done(r, wire.Frame{}, true)
			return
		}
		if c.send(r, f, true) != nil {
			return
		}
	}
}

// grantIndex adds an index file's digests to the connection's grants.
func (c *srvConn) grantIndex(key srvFileKey, b []byte) {
	dc := c.s.digests
	dc.mu.Lock()
	_, cached := dc.m[key]
	dc.mu.Unlock()
	if !cached {
		idx, err := catalog.DecodeIndex(b)
		if err != nil {
			c.log.Warn("index file does not decode: no chunks granted", "group", key.group, "time", key.time, "file", key.name, "err", err)
			return
		}
		dc.put(key, srvSortedTable(idx))
	}
	c.mu.Lock()
	c.grants.add(key)
	c.mu.Unlock()
}

// getChunks answers GET_CHUNKS: one CHUNK or MISSING per digest, each
// queued as soon as its blob is read, so in any order. The blobs of one
// request are read concurrently, each holding one of the connection's
// slots of the request's priority until its frame is queued: a batch of
// readahead digests keeps the disk busy (a cold disk here reads 16 blob
// files at a time twice as fast as 4) and the memory held stays bounded.
func (c *srvConn) getChunks(r *srvReq, m wire.GetChunks, demand bool) {
	a := &srvAnswer{c: c, r: r, high: demand, left: len(m.Digests)}
	ck := c.checker()
	slots := c.slots[0]
	if demand {
		slots = c.slots[1]
	}
	var wg sync.WaitGroup
	denied := 0
	for i := range m.Digests {
		d := &m.Digests[i]
		if r.ctx.Err() != nil || a.stopped() {
			break
		}
		if !ck.allows(d) {
			c.s.stats.missing.Add(1)
			if denied++; denied == 1 {
				defer func() {
					c.log.Warn("denied chunks: no index file downloaded on this connection references them",
						"count", denied, "first", d.String())
				}()
			}
			a.put(srvItem{f: srvMissing(d, wire.CodeDenied)})
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-r.ctx.Done():
			continue // ends the loop
		}
		if i == len(m.Digests)-1 { // the last (or only) one: no goroutine to hand it to
			it, held := c.chunkFrame(d)
			a.put(it)
			c.blobBytes.Release(held)
			<-slots
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			it, held := c.chunkFrame(d)
			a.put(it)
			c.blobBytes.Release(held)
			<-slots
		}()
	}
	wg.Wait()
	a.end()
}

// srvAnswer queues the answer frames of one GET_CHUNKS from the
// goroutines reading its blobs: the last one ends the request.
type srvAnswer struct {
	c    *srvConn
	r    *srvReq
	high bool

	mu    sync.Mutex
	left  int  // digests not answered yet
	ended bool // the request ended (or its queue closed)
}

// put queues one digest's answer; the last one ends the request.
func (a *srvAnswer) put(it srvItem) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		it.release()
		return
	}
	if a.left--; a.left == 0 {
		a.ended = true
		a.c.doneItem(a.r, it, a.high)
		return
	}
	if a.c.sendItem(a.r, it, a.high) != nil {
		a.ended = true // the connection is closing
	}
}

func (a *srvAnswer) stopped() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ended
}

// end ends a request canceled before every digest was answered: done
// turns the empty frame into ERROR CANCELED.
func (a *srvAnswer) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.ended {
		a.ended = true
		a.c.done(a.r, wire.Frame{}, a.high)
	}
}

// chunkFrame reads one chunk and returns its CHUNK or MISSING item, and
// the bytes of c.blobBytes it holds (the caller releases them once the
// item is queued). A CHUNK is built in a pooled buffer with room for the
// frame header before the payload: the blob is read from its file straight
// into place and the writer sends header and payload in one write
// (srvItem.buf).
func (c *srvConn) chunkFrame(d *catalog.Digest) (srvItem, int64) {
	const pre = wire.HeaderSize + catalog.DigestSize
	var bp *[]byte
	var held int64
	blob, err := c.s.cfg.Store.ReadBlob(*d, func(n int) []byte {
		if c.blobBytes.Acquire(c.ctx, int64(pre+n)) != nil {
			return nil // the connection ends: the read fails
		}
		held = int64(pre + n)
		bp = frameBufs.Get(pre + n)
		return (*bp)[pre:]
	})
	if err != nil {
		if bp != nil {
			frameBufs.Put(bp)
		}
		code := srvCode(err)
		if code != wire.CodeNotFound {
			c.log.Error("serve chunk", "digest", d.String(), "err", err)
		}
		c.s.stats.missing.Add(1)
		return srvItem{f: srvMissing(d, code)}, held
	}
	c.s.stats.served.Add(1)
	copy((*bp)[wire.HeaderSize:pre], d[:])
	return srvItem{f: wire.Frame{Type: wire.TChunk, Payload: (*bp)[wire.HeaderSize : pre+len(blob)]}, buf: bp}, held
}

func srvMissing(d *catalog.Digest, code wire.Code) wire.Frame {
	return wire.Frame{Type: wire.TMissing, Payload: wire.Missing{Digest: *d, Code: code}.Append(nil)}
}
