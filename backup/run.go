package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/chunker"
)

// Spec is one archive to make: NAME.img from a file, a block device or
// standard input ("-"), or NAME.tree from a directory or several paths
// (see sources.go for the layout).
type Spec struct {
	Name  string   // NAME.img or NAME.tree
	Path  string   // the one source, or the list as given
	Paths []string // several sources of a tree; nil for one (Path)
}

// StdinPath is the image source path that reads standard input.
const StdinPath = "-"

// ParseSpec parses "NAME.img:PATH" (PATH "-" is standard input) or
// "NAME.tree:PATH[,PATH...]".
func ParseSpec(s string) (Spec, error) {
	name, path, ok := strings.Cut(s, ":")
	if !ok || path == "" {
		return Spec{}, fmt.Errorf("archive %q: want NAME.img:FILE, NAME.img:- or NAME.tree:DIR[,PATH...]", s)
	}
	kind, err := catalog.ArchiveKind(name)
	if err != nil {
		return Spec{}, err
	}
	sp := Spec{Name: name, Path: path}
	if kind != catalog.KindTree {
		return sp, nil
	}
	paths, err := splitSources(path)
	if err != nil {
		return Spec{}, fmt.Errorf("archive %q: %w", s, err)
	}
	if len(paths) > 1 {
		sp.Paths = paths
	}
	return sp, nil
}

// Options describe one backup.
type Options struct {
	Group     catalog.Group
	Time      time.Time // snapshot time; truncated to seconds, UTC
	Archives  []Spec
	Params    chunker.Params // tree streams; zero = chunker.DefaultParams
	FixedSize int            // image chunk size; 0 = chunker.DefaultFixedSize
	CreatedBy string
	// Previous is the snapshot a tree backup compares against (change
	// detection, see reuse.go): files unchanged since are not read. Nil
	// reads every file. Its archives are matched by name; a previous
	// snapshot that cannot be used is reported to Warn, never an error.
	Previous *Snapshot
	// Warn receives what the backup skips or notices (unreadable files,
	// sockets); nil discards.
	Warn func(error)
	// Select says what tree archives leave out (select.go).
	Select Selection
	// Stdin is read by an image archive whose path is "-"; StdinSize, if
	// positive, is the number of bytes it must give (0: up to EOF).
	Stdin     io.Reader
	StdinSize int64
	// DryRun walks the sources without reading file contents or images:
	// see DryRun. Set by that function.
	DryRun bool
	// List, if not nil, receives the path of every entry the backup takes
	// (NAME.tree/dir/file, or NAME.img), in walk order, before it is read.
	List func(path string)
	// Note and Tags go into the manifest (catalog.Manifest).
	Note string
	Tags []string
	// Seal, when set, makes a sealed snapshot (package seal): chunks get
	// keyed ids and are stored sealed, and the manifest names the key. A
	// Previous made without the same key is not used.
	Seal Sealer
}

// Sealer seals chunks for a sealed backup (seal.Sealer).
type Sealer interface {
	ID(plain []byte) catalog.Digest
	Seal(id catalog.Digest, plain []byte) ([]byte, error)
	Fingerprint() string
}

// Run makes one snapshot into sink: every archive, then the manifest, then
// Commit. Any error aborts the sink, so nothing becomes visible. Files that
// cannot be read do not fail the backup: they are left out, passed to
// opt.Warn and counted in stats.Unreadable, which the caller must check.
func Run(ctx context.Context, sink Sink, opt Options, stats *Stats) (*catalog.Manifest, error) {
	m, err := run(ctx, sink, opt, stats)
	if err != nil {
		if aerr := sink.Abort(); aerr != nil {
			err = errors.Join(err, fmt.Errorf("abort: %w", aerr))
		}
		return nil, err
	}
	return m, nil
}

func run(ctx context.Context, sink Sink, opt Options, stats *Stats) (*catalog.Manifest, error) {
	if ic, ok := sink.(ImageChunker); ok && opt.FixedSize == 0 {
		opt.FixedSize = ic.ImageChunkSize()
	}
	if err := opt.fill(); err != nil {
		return nil, err
	}
	now := opt.Time
	m := &catalog.Manifest{Version: catalog.ManifestVersion, Group: opt.Group.String(),
		Time: catalog.FormatTime(now), CreatedBy: opt.CreatedBy, Note: opt.Note, Tags: opt.Tags}
	dd := newDedup(sink, stats)
	if opt.Seal != nil {
		m.Key = opt.Seal.Fingerprint()
		dd.seal = opt.Seal
	}
	if opt.Previous != nil && opt.Previous.Manifest.Key != m.Key {
		opt.Warn(fmt.Errorf("previous snapshot %s/%s was made with another key (or none): every file is read",
			opt.Previous.Group, catalog.FormatTime(opt.Previous.Time)))
		opt.Previous = nil
	}
	for _, sp := range opt.Archives {
		var out *archiveOut
		var err error
		if strings.HasSuffix(sp.Name, "."+catalog.KindImage) {
			out, err = backupImage(ctx, dd, &opt, sp, now)
		} else {
			out, err = backupTree(ctx, dd, &opt, sp, now)
		}
		if err != nil {
			return nil, err
		}
		for i, name := range out.names {
			if err := sink.WriteFile(name, out.data[i]); err != nil {
				return nil, fmt.Errorf("write %s: %w", name, err)
			}
		}
		m.Archives = append(m.Archives, out.arch)
	}
	if err := sink.Commit(m); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return m, nil
}

func (o *Options) fill() error {
	if err := o.Group.Validate(); err != nil {
		return err
	}
	if len(o.Note) > catalog.MaxNoteLen || len(o.Tags) > catalog.MaxTags {
		return fmt.Errorf("backup: a note of at most %d bytes and at most %d tags", catalog.MaxNoteLen, catalog.MaxTags)
	}
	for _, t := range o.Tags {
		if err := catalog.ValidTag(t); err != nil {
			return err
		}
	}
	if len(o.Archives) == 0 {
		return errors.New("backup: no archives given")
	}
	if err := o.checkArchives(); err != nil {
		return err
	}
	if o.Params == (chunker.Params{}) {
		o.Params = chunker.DefaultParams
	}
	if err := o.Params.Validate(); err != nil {
		return err
	}
	if o.FixedSize == 0 {
		o.FixedSize = chunker.DefaultFixedSize
	}
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	o.Time = o.Time.UTC().Truncate(time.Second)
	if o.CreatedBy == "" {
		o.CreatedBy = fmt.Sprintf("backupfs (%s/%s)", runtime.GOOS, runtime.GOARCH)
	}
	if o.Warn == nil {
		o.Warn = func(error) {}
	}
	return nil
}

// checkArchives refuses unknown kinds, a name given twice, and standard
// input read by more than one archive (or without a reader).
func (o *Options) checkArchives() error {
	seen := map[string]bool{}
	stdin := ""
	for _, a := range o.Archives {
		if _, err := catalog.ArchiveKind(a.Name); err != nil {
			return err
		}
		if seen[a.Name] {
			return fmt.Errorf("backup: archive %s given twice", a.Name)
		}
		seen[a.Name] = true
		if a.Path != StdinPath || len(a.Paths) > 0 {
			continue
		}
		if !strings.HasSuffix(a.Name, "."+catalog.KindImage) {
			return fmt.Errorf("backup: %s: a tree cannot be read from standard input", a.Name)
		}
		if stdin != "" {
			return fmt.Errorf("backup: %s and %s both read standard input", stdin, a.Name)
		}
		if o.Stdin == nil {
			return fmt.Errorf("backup: %s reads standard input, but none was given", a.Name)
		}
		stdin = a.Name
	}
	return nil
}
