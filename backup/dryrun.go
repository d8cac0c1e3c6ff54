package backup

import (
	"context"
	"strings"

	"github.com/backupfs/backupfs/catalog"
)

// DryRun walks what Run would back up with opt and calls opt.List for
// every entry taken, without reading file contents, images or standard
// input and without a sink: nothing is uploaded or stored, no snapshot is
// begun. stats counts files, directories, the files' sizes (DryRunBytes)
// and what the selection excludes. opt.Previous is ignored.
func DryRun(ctx context.Context, opt Options, stats *Stats) error {
	opt.DryRun, opt.Previous = true, nil
	if opt.Stdin == nil {
		opt.Stdin = strings.NewReader("") // never read: only its presence is checked
	}
	_, err := run(ctx, discardSink{}, opt, stats)
	return err
}

// discardSink takes the catalog chunks a dry run still makes and keeps
// nothing.
type discardSink struct{}

func (discardSink) PutChunk(catalog.Digest, []byte) (bool, error) { return false, nil }
func (discardSink) WriteFile(string, []byte) error                { return nil }
func (discardSink) Commit(*catalog.Manifest) error                { return nil }
func (discardSink) Abort() error                                  { return nil }
