package replicate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// Source is where snapshots come from: a server (client.Client).
type Source interface {
	Groups() ([]catalog.Group, error)
	Snapshots(g catalog.Group) ([]time.Time, error)
	ReadFile(g catalog.Group, t time.Time, name string) ([]byte, error)
	Blobs(ctx context.Context, ds []catalog.Digest, got func(d catalog.Digest, blob []byte) error) error
}

// Target is the datastore snapshots are copied into (a store.Datastore).
type Target interface {
	Snapshots(g catalog.Group) ([]time.Time, error)
	HasChunk(d catalog.Digest) (bool, error)
	PutBlob(d catalog.Digest, blob []byte) (written bool, err error)
	Begin(g catalog.Group, t time.Time) (store.Writer, error)
	Forget(g catalog.Group, t time.Time) error
}

// Options select what a sync copies.
type Options struct {
	Type, ID     string   // the location: "" for every type, or every id of Type
	Groups       []string // path.Match patterns on "type/id"; none selects every group
	TransferLast int      // copy at most the newest N of each group's snapshots (0: all)
	// RemoveVanished forgets the target's snapshots of selected groups
	// that the source no longer has.
	RemoveVanished bool
	// MaxIndexBytes bounds the index files of one snapshot, summed as its
	// manifest declares them: they are held in memory until the snapshot
	// is published, so a larger one fails (ErrTooLarge) before any of
	// them is read. 0: no bound (a sync reads a source its operator
	// chose; a push's target sets it, package push).
	MaxIndexBytes  int64
	Batch          int                            // digests per fetch; 0 = 64
	Log            func(msg string)               // progress, one line per snapshot; nil discards
	hookAfterBlobs func(catalog.Group, time.Time) // tests: after a snapshot's chunks arrived
}

// Stats count a sync.
type Stats struct {
	Groups    int   // selected on the source
	Snapshots int   // copied
	Skipped   int   // already on the target
	Removed   int   // forgotten on the target (RemoveVanished)
	Chunks    int64 // fetched and stored
	Bytes     int64 // their blob bytes
	Present   int64 // referenced chunks the target had
}

// ErrPattern reports a bad group pattern.
var ErrPattern = errors.New("replicate: bad group pattern")

// ErrTooLarge reports a snapshot whose index files exceed
// Options.MaxIndexBytes.
var ErrTooLarge = errors.New("replicate: snapshot too large")

// Pull copies what opt selects from src into dst.
func Pull(ctx context.Context, src Source, dst Target, opt Options) (Stats, error) {
	var st Stats
	if err := opt.Check(); err != nil {
		return st, err
	}
	if opt.Batch <= 0 {
		opt.Batch = 64
	}
	if opt.Log == nil {
		opt.Log = func(string) {}
	}
	groups, err := src.Groups()
	if err != nil {
		return st, fmt.Errorf("source groups: %w", err)
	}
	for _, g := range groups {
		if !opt.Selects(g) {
			continue
		}
		st.Groups++
		if err := pullGroup(ctx, src, dst, g, opt, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// Check validates the group patterns (ErrPattern).
func (o *Options) Check() error {
	for _, p := range o.Groups {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%w: %q: %w", ErrPattern, p, err)
		}
	}
	return nil
}

// Selects reports whether the location and the patterns select g.
func (o *Options) Selects(g catalog.Group) bool {
	if (o.Type != "" && g.Type != o.Type) || (o.ID != "" && g.ID != o.ID) {
		return false
	}
	if len(o.Groups) == 0 {
		return true
	}
	for _, p := range o.Groups {
		if ok, _ := path.Match(p, g.String()); ok {
			return true
		}
	}
	return false
}

// pullGroup copies one group's missing snapshots, oldest first.
func pullGroup(ctx context.Context, src Source, dst Target, g catalog.Group, opt Options, st *Stats) error {
	theirs, err := src.Snapshots(g)
	if err != nil {
		return fmt.Errorf("source %s: %w", g, err)
	}
	ours, err := dst.Snapshots(g)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("target %s: %w", g, err)
	}
	want := theirs
	if opt.TransferLast > 0 && len(want) > opt.TransferLast {
		want = want[len(want)-opt.TransferLast:]
	}
	for _, t := range want {
		if err := ctx.Err(); err != nil {
			return err
		}
		if slices.ContainsFunc(ours, t.Equal) {
			st.Skipped++
			continue
		}
		if err := pullSnapshot(ctx, src, dst, g, t, opt, st); err != nil {
			return fmt.Errorf("%s/%s: %w", g, catalog.FormatTime(t), err)
		}
	}
	if !opt.RemoveVanished {
		return nil
	}
	for _, t := range ours {
		if !slices.ContainsFunc(theirs, t.Equal) {
			if err := dst.Forget(g, t); err != nil {
				return fmt.Errorf("remove vanished %s/%s: %w", g, catalog.FormatTime(t), err)
			}
			st.Removed++
			opt.Log(fmt.Sprintf("removed /%s/%s (gone from the source)", g, catalog.FormatTime(t)))
		}
	}
	return nil
}

// snapshotFiles are a snapshot's manifest and index files, checked.
type snapshotFiles struct {
	m       *catalog.Manifest
	names   []string
	data    [][]byte
	digests []catalog.Digest // distinct, in index order
}

// readSnapshot reads and checks a snapshot's manifest and index files
// (at most maxIndex bytes of them in all, 0: no bound).
func readSnapshot(src Source, g catalog.Group, t time.Time, maxIndex int64) (*snapshotFiles, error) {
	b, err := readFile(src, g, t, catalog.ManifestName, catalog.MaxManifestSize)
	if err != nil {
		return nil, err
	}
	m, err := catalog.DecodeManifest(b)
	if err != nil {
		return nil, err
	}
	if m.Group != g.String() || m.Time != catalog.FormatTime(t) {
		return nil, fmt.Errorf("%w: manifest names %s/%s", catalog.ErrFormat, m.Group, m.Time)
	}
	if err := checkIndexBytes(m, maxIndex); err != nil {
		return nil, err
	}
	f := &snapshotFiles{m: m}
	seen := map[catalog.Digest]bool{}
	for _, a := range m.Archives {
		for _, ix := range a.Files {
			data, err := readFile(src, g, t, ix.Name, ix.Size)
			if err != nil {
				return nil, err
			}
			if sum := sha256.Sum256(data); int64(len(data)) != ix.Size || !bytes.Equal(sum[:], ix.SHA256[:]) {
				return nil, fmt.Errorf("%s: %w: does not match the manifest", ix.Name, catalog.ErrChecksum)
			}
			x, err := decodeIndex(a.Kind, data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ix.Name, err)
			}
			for i := range x.NumChunks() {
				if _, _, d := x.Chunk(i); !seen[d] {
					seen[d] = true
					f.digests = append(f.digests, d)
				}
			}
			f.names, f.data = append(f.names, ix.Name), append(f.data, data)
		}
	}
	return f, nil
}

// limitedSource is a Source that refuses a file larger than a limit
// before receiving its bytes (client.Client).
type limitedSource interface {
	ReadFileMax(g catalog.Group, t time.Time, name string, limit int64) ([]byte, error)
}

// readFile reads a file of at most limit bytes from src: a manifest is
// bounded by its format, an index file by the size its manifest declares,
// so a source cannot make the target receive more than that.
func readFile(src Source, g catalog.Group, t time.Time, name string, limit int64) ([]byte, error) {
	if ls, ok := src.(limitedSource); ok {
		return ls.ReadFileMax(g, t, name, limit)
	}
	return src.ReadFile(g, t, name)
}

// checkIndexBytes fails if the index files m declares total more than
// limit bytes (0: no bound).
func checkIndexBytes(m *catalog.Manifest, limit int64) error {
	if limit <= 0 {
		return nil
	}
	var sum int64
	for _, a := range m.Archives {
		for _, ix := range a.Files {
			if ix.Size < 0 || ix.Size > limit-sum {
				return fmt.Errorf("%w: its index files exceed %d bytes (the target's bound)", ErrTooLarge, limit)
			}
			sum += ix.Size
		}
	}
	return nil
}

func decodeIndex(kind string, b []byte) (catalog.Index, error) {
	if kind == catalog.KindImage {
		return catalog.DecodeFixedIndex(b)
	}
	return catalog.DecodeDynamicIndex(b)
}

// pullSnapshot copies one snapshot: the chunks the target lacks, then
// the snapshot, published by its commit.
func pullSnapshot(ctx context.Context, src Source, dst Target, g catalog.Group, t time.Time, opt Options, st *Stats) error {
	f, err := readSnapshot(src, g, t, opt.MaxIndexBytes)
	if err != nil {
		return err
	}
	var need []catalog.Digest
	for _, d := range f.digests {
		ok, err := dst.HasChunk(d)
		if err != nil {
			return err
		}
		if ok {
			st.Present++
		} else {
			need = append(need, d)
		}
	}
	var fetched, bytes int64
	for len(need) > 0 {
		n := min(opt.Batch, len(need))
		err := src.Blobs(ctx, need[:n], func(d catalog.Digest, blob []byte) error {
			if _, err := dst.PutBlob(d, blob); err != nil {
				return fmt.Errorf("store chunk %s: %w", d, err)
			}
			fetched++
			bytes += int64(len(blob))
			return nil
		})
		if err != nil {
			return err
		}
		need = need[n:]
	}
	st.Chunks += fetched
	st.Bytes += bytes
	if opt.hookAfterBlobs != nil {
		opt.hookAfterBlobs(g, t)
	}
	if err := publish(dst, g, t, f); err != nil {
		return err
	}
	st.Snapshots++
	opt.Log(fmt.Sprintf("copied /%s/%s: %d chunks fetched (%d bytes), %d present", g, catalog.FormatTime(t), fetched, bytes, len(f.digests)-int(fetched)))
	return nil
}

// publish writes the snapshot on the target under its own time.
func publish(dst Target, g catalog.Group, t time.Time, f *snapshotFiles) error {
	w, err := dst.Begin(g, t)
	if err != nil {
		return err
	}
	defer w.Abort()
	for i, name := range f.names {
		if err := w.WriteFile(name, f.data[i]); err != nil {
			return err
		}
	}
	return w.Commit(f.m)
}
