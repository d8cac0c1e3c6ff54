package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/backup/exclude"
)

// selectOptions are backup's flags that choose what goes in (restic's
// names and meanings).
type selectOptions struct {
	exclude, excludeFile   []string
	iexclude, iexcludeFile []string
	excludeCaches          bool
	excludeIfPresent       []string
	excludeLargerThan      sizeValue
	oneFileSystem          bool
	dryRun                 bool
	stdinSize              sizeValue
}

func selectFlags(fs *pflag.FlagSet, o *selectOptions) {
	fs.StringArrayVar(&o.exclude, "exclude", nil, "leave out paths matching PATTERN (repeatable; ** spans directories; a leading / anchors at the file system root)")
	fs.StringArrayVar(&o.excludeFile, "exclude-file", nil, "read exclude patterns from FILE, one a line, # comments (repeatable)")
	fs.StringArrayVar(&o.iexclude, "iexclude", nil, "as --exclude, ignoring case")
	fs.StringArrayVar(&o.iexcludeFile, "iexclude-file", nil, "as --exclude-file, ignoring case")
	fs.BoolVar(&o.excludeCaches, "exclude-caches", false, "leave out directories holding a CACHEDIR.TAG with the standard signature")
	fs.StringArrayVar(&o.excludeIfPresent, "exclude-if-present", nil, "leave out directories holding an entry named NAME (repeatable)")
	fs.Var(&o.excludeLargerThan, "exclude-larger-than", "leave out files larger than SIZE (e.g. 1K, 10M, 2G)")
	fs.BoolVar(&o.oneFileSystem, "one-file-system", false, "do not descend into other file systems (their mount points stay, empty)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "list what would be backed up; read no contents, upload nothing, make no snapshot")
	fs.Var(&o.stdinSize, "stdin-size", "bytes NAME.img:- must read from standard input (default: up to EOF)")
}

// selection builds the backup's Selection from the flags; a bad pattern
// or an exclude file that cannot be read is an error naming it.
func (o *selectOptions) selection() (backup.Selection, error) {
	sel := backup.Selection{
		ExcludeCaches:     o.excludeCaches,
		ExcludeIfPresent:  o.excludeIfPresent,
		ExcludeLargerThan: int64(o.excludeLargerThan),
		OneFileSystem:     o.oneFileSystem,
	}
	for _, l := range []struct {
		pats, files []string
		fold        bool
	}{{o.exclude, o.excludeFile, false}, {o.iexclude, o.iexcludeFile, true}} {
		for _, s := range l.pats {
			p, err := exclude.Parse(s, l.fold)
			if err != nil {
				return sel, err
			}
			sel.Exclude = append(sel.Exclude, p)
		}
		for _, name := range l.files {
			set, err := readExcludeFile(name, l.fold)
			if err != nil {
				return sel, err
			}
			sel.Exclude = append(sel.Exclude, set...)
		}
	}
	for _, n := range o.excludeIfPresent {
		if n == "" || n == "." || n == ".." || strings.ContainsRune(n, '/') {
			return sel, fmt.Errorf("--exclude-if-present %q: want a file name", n)
		}
	}
	return sel, nil
}

func readExcludeFile(name string, fold bool) (exclude.Set, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("exclude file: %w", err)
	}
	defer f.Close()
	return exclude.ReadPatterns(f, name, fold)
}

// excludedSummary is the line saying what the selection left out.
func excludedSummary(st *backup.Stats) string {
	return fmt.Sprintf("excluded %d entries (%s in files; excluded directories are not walked)",
		st.Excluded.Load(), humanBytes(st.ExcludedBytes.Load()))
}

// selecting reports whether any option leaves something out.
func (o *selectOptions) selecting() bool {
	return len(o.exclude)+len(o.excludeFile)+len(o.iexclude)+len(o.iexcludeFile)+len(o.excludeIfPresent) > 0 ||
		o.excludeCaches || o.excludeLargerThan > 0 || o.oneFileSystem
}

// readsStdin reports whether an archive of opt reads standard input.
func readsStdin(opt *backup.Options) bool {
	for _, a := range opt.Archives {
		if a.Path == backup.StdinPath && len(a.Paths) == 0 {
			return true
		}
	}
	return false
}
