// Command fusefloor mounts a directory read-only through go-fuse with
// backupfs's mount parameters (1 MiB reads and readahead, hour-long entry
// and attribute timeouts, 64 background requests). bench/run times the
// same operations through it as through backupfs.
//
//	fusefloor [-mem] DIR MOUNTPOINT
//
// By default it serves DIR through go-fuse's loopback file system: whatever
// that takes over local disk is what FUSE itself costs on this machine,
// with no network, cache, verification or decompression in the way.
//
// With -mem it first reads DIR's tree (names and attributes, no contents)
// into go-fuse inodes held in memory, then mounts it with the two helps
// backupfs's mount gives a walk: zero-message opendirs (fs.StatelessDirs,
// the mount's own) and a zero cpu_dma_latency request (fs package doc). A find over it sends the
// requests a find over backupfs sends, and each is answered from memory
// with no inode made on the way: the least such a walk costs through
// go-fuse here. Files have no contents (reads fail); it is for walks.
//
// It serves until SIGTERM or SIGINT, then unmounts.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

func main() {
	mem := flag.Bool("mem", false, "serve DIR's tree from memory, without contents")
	flag.Usage = func() { fmt.Fprintln(os.Stderr, "usage: fusefloor [-mem] DIR MOUNTPOINT") }
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *mem); err != nil {
		fmt.Fprintln(os.Stderr, "fusefloor:", err)
		os.Exit(1)
	}
}

func run(dir, mountpoint string, mem bool) error {
	opts := mountOptions()
	var srv *fuse.Server
	if mem {
		m, _, hold, err := mountMem(dir, mountpoint, opts)
		if err != nil {
			return err
		}
		defer hold.Close()
		srv = m
	} else {
		root, err := gofs.NewLoopbackRoot(dir)
		if err != nil {
			return err
		}
		if srv, err = gofs.Mount(mountpoint, root, opts); err != nil {
			return err
		}
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

// mountOptions are backupfs's mount parameters.
func mountOptions() *gofs.Options {
	long := time.Hour
	return &gofs.Options{
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
	}
}

// holdLatency asks for zero exit latency from idle CPUs until the file
// is closed, as backupfs's mount does while requests flow (root only).
func holdLatency() (*os.File, error) {
	f, err := os.OpenFile("/dev/cpu_dma_latency", os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("-mem holds a latency request: %w", err)
	}
	if _, err := f.Write([]byte{0, 0, 0, 0}); err != nil {
		f.Close()
		return nil, fmt.Errorf("-mem holds a latency request: %w", err)
	}
	return f, nil
}
