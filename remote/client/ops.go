package client

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// Client-side bounds on what a server may send.
const (
	maxFileSize  = 1 << 30 // an index of a 4 TiB image at 128 KiB chunks
	maxGroups    = 1 << 17 // two full GROUPS frames; ~25 MiB of names at most
	maxFileFrame = 1 << 20 // data bytes per FILE_DATA/UPLOAD_FILE frame we send
)

// Sentinel errors a caller can branch on (besides store.ErrNotFound and
// store.ErrCorrupt, which server answers map to).
var (
	ErrDenied      = errors.New("remote: denied")
	ErrFingerprint = auth.ErrFingerprint
	ErrBusy        = errors.New("remote: server busy")
)

// ServerError is an ERROR answer.
type ServerError struct {
	Code    wire.Code
	Message string
}

// Error reads as a sentence: "server: invalid or revoked token (denied)".
func (e *ServerError) Error() string {
	return fmt.Sprintf("server: %s (%s)", e.Message, strings.ToLower(strings.ReplaceAll(e.Code.String(), "_", " ")))
}

// Unwrap maps the code to the sentinel callers branch on.
func (e *ServerError) Unwrap() error {
	switch e.Code {
	case wire.CodeNotFound:
		return store.ErrNotFound
	case wire.CodeDenied:
		return ErrDenied
	case wire.CodeCorrupt:
		return store.ErrCorrupt
	case wire.CodeVersion:
		return wire.ErrVersion
	case wire.CodeBusy:
		return ErrBusy
	case wire.CodeExists:
		return store.ErrExists
	}
	return nil
}

func decodeServerError(payload []byte) error {
	m, err := wire.DecodeError(payload)
	if err != nil {
		return fmt.Errorf("server error frame: %w", err)
	}
	return &ServerError{Code: m.Code, Message: m.Message}
}

func wireGoodbye() wire.Frame { return wire.Frame{Type: wire.TGoodbye} }

// answerError turns an unexpected answer frame into an error: ERROR
// frames become a ServerError (BUSY is retried like a lost connection).
func answerError(f wire.Frame, want wire.Type) error {
	if f.Type == wire.TError {
		err := decodeServerError(f.Payload)
		if errors.Is(err, ErrBusy) {
			return errConn{err}
		}
		return err
	}
	return fmt.Errorf("%w: got %s, want %s", wire.ErrProtocol, f.Type, want)
}

// validFileName refuses names that are no snapshot file before asking.
func validFileName(name string) error {
	if name == catalog.ManifestName {
		return nil
	}
	ok := strings.HasSuffix(name, catalog.FixedIndexSuffix) || strings.HasSuffix(name, catalog.MetaIndexSuffix) ||
		strings.HasSuffix(name, catalog.PayloadIndexSuffix)
	if !ok || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") || len(name) > 255 {
		return fmt.Errorf("%w: snapshot file name %q", catalog.ErrName, name)
	}
	return nil
}

// roundTrip sends one request and waits for its single answer frame.
func (cc *clientConn) roundTrip(ctx context.Context, f wire.Frame, want wire.Type) (wire.Frame, error) {
	c, id, err := cc.start(f)
	if err != nil {
		return wire.Frame{}, err
	}
	a, err := c.next(ctx)
	if err != nil {
		cc.cancel(id)
		return a, err
	}
	cc.forget(id)
	if a.Type != want {
		return a, answerError(a, want)
	}
	return a, nil
}

func (cc *clientConn) listGroups(ctx context.Context) ([]catalog.Group, error) {
	c, id, err := cc.start(wire.Frame{Type: wire.TListGroups})
	if err != nil {
		return nil, err
	}
	defer cc.forget(id)
	var out []catalog.Group
	for {
		f, err := c.next(ctx)
		if err != nil {
			cc.cancel(id)
			return nil, err
		}
		if f.Type != wire.TGroups {
			return nil, answerError(f, wire.TGroups)
		}
		m, err := wire.DecodeGroups(f.Payload)
		if err != nil {
			return nil, err
		}
		if len(out)+len(m.Groups) > maxGroups {
			return nil, fmt.Errorf("%w: more than %d groups", wire.ErrProtocol, maxGroups)
		}
		for _, s := range m.Groups {
			g, err := catalog.ParseGroup(s)
			if err != nil {
				return nil, fmt.Errorf("server listed %w", err)
			}
			out = append(out, g)
		}
		if f.Flags&wire.FlagMore == 0 {
			sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
			return out, nil
		}
	}
}

func (cc *clientConn) listSnapshots(ctx context.Context, g catalog.Group) ([]time.Time, error) {
	req := wire.ListSnapshots{Group: g.String()}
	f, err := cc.roundTrip(ctx, wire.Frame{Type: wire.TListSnapshots, Payload: req.Append(nil)}, wire.TSnapshots)
	if err != nil {
		return nil, err
	}
	m, err := wire.DecodeSnapshots(f.Payload)
	if err != nil {
		return nil, err
	}
	out := make([]time.Time, len(m.Times))
	for i, s := range m.Times {
		out[i] = time.Unix(s, 0).UTC()
		if i > 0 && !out[i].After(out[i-1]) {
			return nil, fmt.Errorf("%w: snapshots not oldest first", wire.ErrProtocol)
		}
	}
	return out, nil
}

// getFile downloads a file of at most limit bytes.
func (cc *clientConn) getFile(ctx context.Context, k fileKey, limit uint64) ([]byte, error) {
	req := wire.GetFile{Group: k.group, Time: k.time, Name: k.name}
	c, id, err := cc.start(wire.Frame{Type: wire.TGetFile, Payload: req.Append(nil)})
	if err != nil {
		return nil, err
	}
	defer cc.forget(id)
	asm := wire.NewFileAssembler(limit)
	for {
		f, err := c.next(ctx)
		if err != nil {
			cc.cancel(id)
			return nil, err
		}
		if f.Type != wire.TFileData {
			return nil, answerError(f, wire.TFileData)
		}
		fd, err := wire.DecodeFileData(f.Payload)
		if err != nil {
			return nil, err
		}
		done, err := asm.Add(fd, f.Flags&wire.FlagMore != 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.name, err)
		}
		if done {
			return asm.Bytes(), nil
		}
	}
}

// getChunk fetches and verifies one chunk.
func (cc *clientConn) getChunk(ctx context.Context, d catalog.Digest, demand bool) ([]byte, error) {
	var out []byte
	var derr error
	err := cc.getChunks(ctx, []catalog.Digest{d}, demand, func(_ catalog.Digest, data []byte, err error) {
		out, derr = data, err
	})
	if err != nil {
		return nil, err
	}
	return out, derr
}
