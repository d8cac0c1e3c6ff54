package client

import (
	"context"
	"fmt"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
)

var _ backup.KnownSink = (*Backup)(nil)

// Known answers the digest query (backup.KnownSink): for each digest,
// whether the backup may reference it without uploading it. The previous
// snapshot's chunks (not lacking) are answered at once; the rest are asked
// of the server in QUERY_CHUNKS requests of at most wire.MaxQueryChunks,
// which answers from the chunks of the groups the token may read and
// makes those usable in this session.
func (b *Backup) Known(ds []catalog.Digest) ([]bool, error) {
	out := make([]bool, len(ds))
	var ask []int // indexes into ds
	for i, d := range ds {
		if b.isKnown(d) {
			out[i] = true
			b.Skipped.Add(1)
			continue
		}
		ask = append(ask, i)
	}
	if b.cc.features&wire.FeatureDigestQuery == 0 {
		return out, nil // a server without the query: upload the rest
	}
	for len(ask) > 0 {
		n := min(len(ask), wire.MaxQueryChunks)
		if err := b.query(ds, ask[:n], out); err != nil {
			return nil, err
		}
		ask = ask[n:]
	}
	return out, nil
}

// query asks the server about ds[i] for i in idx and fills out.
func (b *Backup) query(ds []catalog.Digest, idx []int, out []bool) error {
	q := wire.QueryChunks{Digests: make([]catalog.Digest, len(idx))}
	for j, i := range idx {
		q.Digests[j] = ds[i]
	}
	ctx, cancel := context.WithTimeout(b.c.base, b.c.cfg.Timeout)
	defer cancel()
	f, err := b.cc.roundTrip(ctx, wire.Frame{Type: wire.TQueryChunks, Payload: q.Append(nil)}, wire.TKnownChunks)
	if err != nil {
		return fmt.Errorf("digest query: %w", err)
	}
	k, err := wire.DecodeKnownChunks(f.Payload)
	if err == nil && len(k.Known) != len(idx) {
		err = fmt.Errorf("%w: %d answers to %d digests", wire.ErrProtocol, len(k.Known), len(idx))
	}
	if err != nil {
		return fmt.Errorf("digest query: %w", err)
	}
	for j, i := range idx {
		if out[i] = k.Known[j]; out[i] {
			b.found.Add(1)
		}
	}
	return nil
}

// FoundByQuery reports how many chunks the server answered known to the
// digest query (not counting the previous snapshot's).
func (b *Backup) FoundByQuery() int64 { return b.found.Load() }
