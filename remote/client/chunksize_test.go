package client_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/chunker"
	"github.com/backupfs/backupfs/remote/remotetest"
	"github.com/backupfs/backupfs/remote/server"
	"github.com/backupfs/backupfs/store"
)

// largeChunks is a datastore that asks for large image chunks, as the
// object store does.
type largeChunks struct{ store.Datastore }

func (largeChunks) ImageChunkSize() int { return chunker.LargeFixedSize }

// TestImageChunkSizeAdvice: a server over a datastore that asks for large
// image chunks says so in HELLO, and a backup through it cuts its image
// into chunker.LargeFixedSize chunks; over the directory datastore the
// default stays, and a size the caller gives wins over the advice.
func TestImageChunkSizeAdvice(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	data := make([]byte, 3<<20+5)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	g := catalog.Group{Type: "vm", ID: "1"}
	at := time.Unix(1767225600, 0).UTC()
	for _, tc := range []struct {
		name  string
		large bool
		given int
		want  uint32
	}{
		{"directory", false, 0, chunker.DefaultFixedSize},
		{"object store", true, 0, chunker.LargeFixedSize},
		{"object store, size given", true, 64 << 10, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := remotetest.Start(t, t.TempDir(), func(c *server.ServerConfig) {
				if tc.large {
					c.Store = largeChunks{c.Store}
				}
			})
			c := srv.Dial(srv.Token("t", "backup:*", "read:*"))
			defer c.Close()
			remotetest.Backup(t, c, backup.Options{Group: g, Time: at, FixedSize: tc.given,
				Archives: []backup.Spec{{Name: "disk.img", Path: img}}})
			snap, err := backup.OpenSnapshot(c, g, at)
			if err != nil {
				t.Fatal(err)
			}
			s, err := snap.Image("disk.img")
			if err != nil {
				t.Fatal(err)
			}
			fi, ok := s.Index().(*catalog.FixedIndex)
			if !ok || fi.ChunkSize() != tc.want {
				t.Fatalf("image index %T, chunk size %d; want %d", s.Index(), fi.ChunkSize(), tc.want)
			}
		})
	}
}
