package objstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// Verify checks snapshots as the directory store does: each manifest,
// each index file against it, and every referenced chunk by DecodeBlob,
// once per digest per run, in parallel. A corrupt chunk is moved aside to
// bad/<digest> (so HasChunk reports it missing and the next backup stores
// it again); a missing one is listed there too (empty), so a backup whose
// base references it uploads it again.
func (s *Store) Verify(ctx context.Context, opt store.VerifyOptions, report func(store.VerifyProblem)) (store.VerifyStats, error) {
	if report == nil {
		report = func(store.VerifyProblem) {}
	}
	if opt.Workers <= 0 {
		opt.Workers = 4 * runtime.GOMAXPROCS(0) // requests wait on the network
	}
	snaps, err := s.verifyTargets(opt)
	if err != nil {
		return store.VerifyStats{}, err
	}
	v := &verifyRun{s: s, opt: opt, report: report, results: make(map[catalog.Digest]error)}
	for _, sn := range snaps {
		if err := ctx.Err(); err != nil {
			return v.st, err
		}
		if err := v.snapshot(ctx, sn.g, sn.t); err != nil {
			return v.st, err
		}
	}
	return v.st, nil
}

type snapRef struct {
	g catalog.Group
	t time.Time
}

func (s *Store) verifyTargets(opt store.VerifyOptions) ([]snapRef, error) {
	if opt.Time != nil && opt.Group == nil {
		return nil, fmt.Errorf("%w: verify: a time needs a group", store.ErrInvalid)
	}
	if opt.Time != nil {
		t := opt.Time.UTC().Truncate(time.Second)
		if _, err := s.Manifest(*opt.Group, t); errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return []snapRef{{*opt.Group, t}}, nil
	}
	groups := []catalog.Group{}
	if opt.Group != nil {
		groups = append(groups, *opt.Group)
	} else {
		var err error
		if groups, err = s.Groups(); err != nil {
			return nil, err
		}
	}
	var out []snapRef
	for _, g := range groups {
		times, err := s.Snapshots(g)
		if err != nil {
			return nil, err
		}
		for _, t := range times {
			out = append(out, snapRef{g, t})
		}
	}
	return out, nil
}

type verifyRun struct {
	s           *Store
	opt         store.VerifyOptions
	sealedByKey bool // the snapshot being checked is sealed with opt.Key
	report      func(store.VerifyProblem)
	mu          sync.Mutex
	results     map[catalog.Digest]error
	st          store.VerifyStats
}

func (v *verifyRun) problem(p store.VerifyProblem) {
	v.st.Bad++
	v.report(p)
}

func (v *verifyRun) snapshot(ctx context.Context, g catalog.Group, t time.Time) error {
	v.st.Snapshots++
	bad := func(file string, err error) { v.problem(store.VerifyProblem{Group: g, Time: t, File: file, Err: err}) }
	m, err := v.s.Manifest(g, t)
	if err != nil {
		bad(catalog.ManifestName, err)
		return nil
	}
	v.sealedByKey = v.opt.Unseal != nil && m.Key != "" && m.Key == v.opt.Key
	fileOf := make(map[catalog.Digest]string)
	var order []catalog.Digest
	for _, a := range m.Archives {
		for _, f := range a.Files {
			idx, err := v.s.index(g, t, f)
			if err != nil {
				bad(f.Name, err)
				continue
			}
			for i := range idx.NumChunks() {
				if _, _, d := idx.Chunk(i); fileOf[d] == "" {
					fileOf[d] = f.Name
					order = append(order, d)
				}
			}
		}
	}
	if err := v.checkChunks(ctx, order); err != nil {
		return err
	}
	for _, d := range order {
		if err := v.results[d]; err != nil {
			v.problem(store.VerifyProblem{Group: g, Time: t, File: fileOf[d], Digest: d, Err: err})
		}
	}
	return nil
}

// checkChunks checks the digests not checked yet in this run, in parallel.
func (v *verifyRun) checkChunks(ctx context.Context, ds []catalog.Digest) error {
	work := make(chan catalog.Digest)
	var wg sync.WaitGroup
	for range v.opt.Workers {
		wg.Go(func() {
			for d := range work {
				n, sealed, err := v.checkChunk(d)
				v.mu.Lock()
				v.results[d] = err
				v.st.Chunks++
				if sealed {
					v.st.Sealed++
				}
				v.st.Bytes += n
				v.mu.Unlock()
			}
		})
	}
	var err error
	for _, d := range ds {
		v.mu.Lock()
		_, done := v.results[d]
		if !done {
			v.results[d] = nil // claimed; the worker sets the outcome
		}
		v.mu.Unlock()
		if done {
			continue
		}
		select {
		case work <- d:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	return err
}

// checkChunk reads and decodes one chunk (a sealed one: header and CRC,
// and opened with opt.Unseal for a snapshot of its key); a corrupt or
// missing one is marked bad.
func (v *verifyRun) checkChunk(d catalog.Digest) (n int64, sealed bool, err error) {
	plain, err := v.s.Chunk(d)
	if err == nil {
		return int64(len(plain)), false, nil
	}
	if errors.Is(err, store.ErrSealed) {
		if !v.sealedByKey {
			return 0, true, nil
		}
		blob, rerr := v.s.ReadBlob(d, func(n int) []byte { return make([]byte, n) })
		if rerr != nil {
			return 0, true, rerr
		}
		m, uerr := v.opt.Unseal(d, blob)
		if uerr != nil {
			return 0, true, fmt.Errorf("objstore: chunk %s: %w", d, uerr) // reported, never moved: the key may be wrong
		}
		return int64(m), true, nil
	}
	if errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrNotFound) {
		if merr := v.s.markBad(d); merr != nil {
			err = fmt.Errorf("%w (marking it bad failed: %v)", err, merr)
		}
	}
	return 0, false, err
}

// markBad moves a chunk that fails its checks to bad/<digest> (or lists a
// missing one there, empty). Under the chunk's lock it is read again
// first: a good copy stored since is left alone.
func (s *Store) markBad(d catalog.Digest) error {
	mu := s.lockChunk(d)
	mu.Lock()
	defer mu.Unlock()
	blob, err := s.c.get(chunkKey(d), store.MaxBlobSize, func(n int) []byte { return make([]byte, n) })
	if err == nil {
		if _, derr := store.DecodeBlob(blob, d); derr == nil || errors.Is(derr, store.ErrSealed) {
			return nil // sound, or sealed with a sound CRC
		}
	} else if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrCorrupt) {
		return err
	}
	// Listed first: a writer whose base references it must find it on
	// the list before the chunk goes.
	if err := s.c.put(badPfx+d.String(), blob, false); err != nil {
		return err
	}
	s.known.drop(d)
	return s.c.del(chunkKey(d))
}
