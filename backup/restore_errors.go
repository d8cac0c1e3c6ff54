package backup

import (
	"context"
	"errors"
	"fmt"
	"syscall"
)

// ErrIncomplete reports a tree restore that went on past entries it could
// not restore; the *IncompleteError wrapping it lists them.
var ErrIncomplete = errors.New("backup: restore incomplete")

// FailedEntry is an entry a tree restore could not restore: Path is where
// it would have gone (nothing is there; a directory may hold what of its
// contents was restored).
type FailedEntry struct {
	Path string
	Err  error
}

// IncompleteError is RestoreTree's error when some entries failed and the
// others were restored.
type IncompleteError struct {
	Failed []FailedEntry
}

func (e *IncompleteError) Error() string {
	if len(e.Failed) == 1 {
		return fmt.Sprintf("%v: %v", ErrIncomplete, e.Failed[0].Err)
	}
	return fmt.Sprintf("%v: %d entries failed, the first: %v", ErrIncomplete, len(e.Failed), e.Failed[0].Err)
}

func (e *IncompleteError) Unwrap() error { return ErrIncomplete }

// endsRestore says whether err would fail every entry after it too: the
// context ended (cancelled, or a source that timed out), or the target
// cannot take more.
func endsRestore(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS)
}
