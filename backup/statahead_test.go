package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestStatAheadBatches: a directory of several batches, with an entry
// removed after listing, gives every entry's lstat in order, and the
// error for the removed one.
func TestStatAheadBatches(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for i := range 3*statBatchLen + 5 {
		n := fmt.Sprintf("f%04d", i)
		writeFile(t, filepath.Join(dir, n), make([]byte, i))
		names = append(names, n)
	}
	os.Remove(filepath.Join(dir, names[statBatchLen+1]))
	sa := startStatAhead(dir, names)
	for i := range names {
		r := sa.get(i)
		if i == statBatchLen+1 {
			if r.err == nil {
				t.Fatalf("entry %d removed before its lstat: no error", i)
			}
			continue
		}
		if r.err != nil || r.st.Size != int64(i) {
			t.Fatalf("entry %d: size %d, %v; want size %d", i, r.st.Size, r.err, i)
		}
	}
}
