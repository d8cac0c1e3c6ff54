package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// VerifyOptions selects what Verify checks: every snapshot, one group's,
// or one snapshot (Time requires Group). Workers is the number of chunks
// checked in parallel; 0 means GOMAXPROCS.
type VerifyOptions struct {
	Group   *catalog.Group
	Time    *time.Time
	Workers int
	// Unseal, when set, opens a sealed chunk's blob and checks its plain
	// bytes against its id (package seal, with the key whose fingerprint
	// is Key); it returns the plain length or an error wrapping
	// ErrCorrupt. It is used for the chunks of snapshots sealed with Key;
	// other sealed chunks, and all without it, are checked by their
	// header and CRC only (the store has no key).
	Unseal func(d catalog.Digest, blob []byte) (int, error)
	Key    string
	// Progress, if set, is called after each chunk checked, from the
	// checking goroutines (it must be safe for concurrent use).
	Progress func()
	// Outdated, if positive, skips the snapshots whose last clean verify
	// is more recent than that (Proxmox Backup's "re-verify after N
	// days"; a very long one verifies only snapshots never verified).
	// Every snapshot verified clean is marked with the time (Verified).
	Outdated time.Duration
}

// VerifyProblem is one thing found wrong. File is the manifest or index
// file concerned; Digest is set for a missing or bad chunk. Err wraps
// ErrNotFound (missing) or ErrCorrupt (failed a check).
type VerifyProblem struct {
	Group  catalog.Group
	Time   time.Time
	File   string
	Digest catalog.Digest
	Err    error
}

// VerifyStats counts a Verify run: snapshots looked at, distinct chunks
// checked, problems reported, plain bytes of the good chunks (a sealed
// chunk's only when Unseal opened it), and how many chunks were sealed.
type VerifyStats struct {
	Snapshots, Chunks, Bad, Sealed int
	Skipped                        int // snapshots verified within Outdated
	Bytes                          int64
}

// Verify checks snapshots: each manifest, each index file's size and
// SHA-256 against its manifest, and every referenced chunk by DecodeBlob
// (once per digest per run, in parallel). A chunk that fails is renamed to
// "<digest>.bad" so HasChunk reports it missing and the next backup that
// has its data stores it again. Each problem is passed to report (which
// may be nil; it is called from one goroutine at a time) once per snapshot
// it affects. The error is for failures to run (a listing that fails,
// cancellation), not for problems found.
func (s *Store) Verify(ctx context.Context, opt VerifyOptions, report func(VerifyProblem)) (VerifyStats, error) {
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	return RunVerify(ctx, dirVerify{s}, opt, report)
}

// VerifyBackend is what RunVerify reads and marks: the directory store
// (dirVerify) and the object store implement it, so both verify alike.
type VerifyBackend interface {
	Groups() ([]catalog.Group, error)
	Snapshots(g catalog.Group) ([]time.Time, error)
	Manifest(g catalog.Group, t time.Time) (*catalog.Manifest, error)
	// VerifiedIndex reads an index file of a published snapshot, checked
	// against its manifest entry, and decodes it.
	VerifiedIndex(g catalog.Group, t time.Time, f catalog.IndexFile) (catalog.Index, error)
	Chunk(d catalog.Digest) ([]byte, error)
	ReadBlob(d catalog.Digest, buf func(n int) []byte) ([]byte, error)
	// MarkBad records chunk d as failed: cause wraps ErrCorrupt (it is
	// set aside, unless a sound copy is there by now) or ErrNotFound (it
	// is listed, so a backup whose base references it uploads it again).
	MarkBad(d catalog.Digest, cause error) error
	// Verified returns when a snapshot was last verified clean (ok false:
	// never); SetVerified records it.
	Verified(g catalog.Group, t time.Time) (at time.Time, ok bool, err error)
	SetVerified(g catalog.Group, t time.Time, at time.Time) error
}

// RunVerify is Verify over any backend (opt.Workers must be set).
func RunVerify(ctx context.Context, b VerifyBackend, opt VerifyOptions, report func(VerifyProblem)) (VerifyStats, error) {
	if report == nil {
		report = func(VerifyProblem) {}
	}
	snaps, err := verifyTargets(b, opt)
	if err != nil {
		return VerifyStats{}, err
	}
	v := &verifyRun{s: b, opt: opt, report: report, results: make(map[catalog.Digest]error)}
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

// dirVerify is the directory store as a VerifyBackend.
type dirVerify struct{ *Store }

func (d dirVerify) VerifiedIndex(g catalog.Group, t time.Time, f catalog.IndexFile) (catalog.Index, error) {
	return d.publishedIndex(g, t, f)
}

func (d dirVerify) MarkBad(dg catalog.Digest, cause error) error {
	if errors.Is(cause, ErrNotFound) {
		return d.recordBad(dg)
	}
	_, err := d.markBad(dg)
	return err
}

type snapRef struct {
	g catalog.Group
	t time.Time
}

// verifyTargets lists the snapshots opt selects.
func verifyTargets(s VerifyBackend, opt VerifyOptions) ([]snapRef, error) {
	if opt.Time != nil && opt.Group == nil {
		return nil, fmt.Errorf("%w: verify: a time needs a group", ErrInvalid)
	}
	if opt.Time != nil {
		t := opt.Time.UTC().Truncate(time.Second)
		if _, err := s.Manifest(*opt.Group, t); errors.Is(err, ErrNotFound) {
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
	s           VerifyBackend
	opt         VerifyOptions
	sealedByKey bool // the snapshot being checked is sealed with opt.Key
	report      func(VerifyProblem)
	results     map[catalog.Digest]error // nil: good; guarded by mu while workers run
	mu          sync.Mutex
	st          VerifyStats
}

func (v *verifyRun) problem(p VerifyProblem) {
	v.st.Bad++
	v.report(p)
}

// snapshot verifies one snapshot.
func (v *verifyRun) snapshot(ctx context.Context, g catalog.Group, t time.Time) error {
	now := time.Now()
	if v.opt.Outdated > 0 {
		at, ok, err := v.s.Verified(g, t)
		if err == nil && ok && now.Sub(at) < v.opt.Outdated {
			v.st.Skipped++
			return nil
		}
	}
	v.st.Snapshots++
	badBefore := v.st.Bad
	defer func() {
		if v.st.Bad == badBefore && ctx.Err() == nil {
			_ = v.s.SetVerified(g, t, now) // best effort: a failed mark only means verifying again
		}
	}()
	bad := func(file string, err error) { v.problem(VerifyProblem{Group: g, Time: t, File: file, Err: err}) }
	m, err := v.s.Manifest(g, t)
	if err != nil {
		bad(catalog.ManifestName, err)
		return nil
	}
	v.sealedByKey = v.opt.Unseal != nil && m.Key != "" && m.Key == v.opt.Key
	fileOf := make(map[catalog.Digest]string) // first index file naming each chunk
	var order []catalog.Digest
	for _, a := range m.Archives {
		for _, f := range a.Files {
			idx, err := v.s.VerifiedIndex(g, t, f)
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
			v.problem(VerifyProblem{Group: g, Time: t, File: fileOf[d], Digest: d, Err: err})
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
				if v.opt.Progress != nil {
					v.opt.Progress()
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

// checkChunk reads and decodes one chunk; a corrupt one is marked bad.
func (v *verifyRun) checkChunk(d catalog.Digest) (n int64, sealed bool, err error) {
	plain, err := v.s.Chunk(d)
	if err == nil {
		return int64(len(plain)), false, nil
	}
	if errors.Is(err, ErrSealed) { // header and CRC are sound
		if !v.sealedByKey {
			return 0, true, nil
		}
		if n, err = v.unseal(d); err == nil {
			return n, true, nil
		}
	}
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) {
		// A missing one is listed so a backup whose base references it
		// uploads it again (base.go); a chunk stored again later is not
		// lacking.
		if merr := v.s.MarkBad(d, err); merr != nil {
			err = fmt.Errorf("%w (marking it bad failed: %v)", err, merr)
		}
	}
	return 0, false, err
}

// unseal opens a sealed chunk with the key (opt.Unseal).
func (v *verifyRun) unseal(d catalog.Digest) (int64, error) {
	blob, err := v.s.ReadBlob(d, func(n int) []byte { return make([]byte, n) })
	if err != nil {
		return 0, err
	}
	n, err := v.opt.Unseal(d, blob)
	if err != nil {
		return 0, fmt.Errorf("store: chunk %s: %w", d, err)
	}
	return int64(n), nil
}

// VerifiedName is the file (object) in a published snapshot that holds
// the time of its last clean verify.
const VerifiedName = "verified"

// Verified returns when a snapshot was last verified clean.
func (d dirVerify) Verified(g catalog.Group, t time.Time) (time.Time, bool, error) {
	return DecodeVerified(readBounded(filepath.Join(d.snapPath(g, t), VerifiedName), 64))
}

// DecodeVerified reads a verified marker as either backend read it (its
// bytes, or the error of reading them): a missing marker is "never
// verified", as is one that does not parse; other errors are returned.
func DecodeVerified(b []byte, err error) (time.Time, bool, error) {
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	at, err := time.Parse(time.RFC3339, string(b))
	if err != nil {
		return time.Time{}, false, nil // unreadable: as never verified
	}
	return at, true, nil
}

// EncodeVerified is a verified marker's content: the time, RFC 3339 UTC.
func EncodeVerified(at time.Time) []byte { return []byte(at.UTC().Format(time.RFC3339)) }

// SetVerified records a clean verify of a snapshot at at.
func (d dirVerify) SetVerified(g catalog.Group, t time.Time, at time.Time) error {
	return writeFileAtomic(filepath.Join(d.snapPath(g, t), VerifiedName), EncodeVerified(at), d.now())
}
