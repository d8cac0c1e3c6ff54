// Command fusefloor mounts a directory read-only through go-fuse's loopback
// file system with backupfs's mount parameters (1 MiB reads and readahead,
// hour-long entry and attribute timeouts, 64 background requests). bench/run
// times the same operations through it as through backupfs: whatever the
// loopback takes over local disk is what FUSE itself costs on this machine,
// with no network, cache, verification or decompression in the way.
//
//	fusefloor DIR MOUNTPOINT
//
// It serves until SIGTERM or SIGINT, then unmounts.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: fusefloor DIR MOUNTPOINT")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "fusefloor:", err)
		os.Exit(1)
	}
}

func run(dir, mountpoint string) error {
	root, err := gofs.NewLoopbackRoot(dir)
	if err != nil {
		return err
	}
	long := time.Hour
	srv, err := gofs.Mount(mountpoint, root, &gofs.Options{
		EntryTimeout:    &long,
		AttrTimeout:     &long,
		NegativeTimeout: &long,
		MountOptions: fuse.MountOptions{
			FsName:        "fusefloor",
			Name:          "fusefloor",
			Options:       []string{"ro", "default_permissions"},
			MaxReadAhead:  1 << 20,
			MaxWrite:      1 << 20,
			MaxBackground: 64,
			DirectMount:   os.Geteuid() == 0,
		},
	})
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		_ = srv.Unmount()
	}()
	srv.Wait()
	return nil
}
