package fs

import (
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// StatelessDirs lets the kernel list directories without opening them.
// It wraps a go-fuse node file system (gofs.NewNodeFS); Offered, called
// with the kernel's INIT flags once mounted, turns it on. The mount uses
// it, and so does bench/fusefloor's in-memory floor, which must send the
// requests the mount sends.
//
// A kernel that offers CAP_NO_OPENDIR_SUPPORT stops sending OPENDIR and
// RELEASEDIR for the whole mount once an OPENDIR is answered ENOSYS; its
// READDIR(PLUS) requests then carry no handle (Fh 0), and it caches every
// listing (FOPEN_CACHE_DIR), checking a directory's mtime at offset 0.
// That saves two of the four requests a cold `find` sends per directory:
// each is a round trip between processes, tens of microseconds here.
//
// go-fuse's node bridge keeps a directory's position in a handle, so a
// handle-less read opens one, reads from the asked offset (the handles
// seek) and releases it, all inside this process. The directories above
// snapshots change; their mtime follows their listing (listCache.changed),
// so the kernel drops a cached listing when it goes stale.
type StatelessDirs struct {
	fuse.RawFileSystem
	on       atomic.Bool  // the kernel does zero-message opendirs
	opendirs atomic.Int64 // OPENDIRs the kernel sent
	reads    atomic.Int64 // handle-less READDIR(PLUS)es
}

// Offered turns zero-message opendirs on if the kernel's INIT flags
// offer them (Linux 5.1+).
func (s *StatelessDirs) Offered(flags uint64) {
	s.on.Store(flags&fuse.CAP_NO_OPENDIR_SUPPORT != 0)
}

// On reports whether zero-message opendirs are on.
func (s *StatelessDirs) On() bool { return s.on.Load() }

// OpenDirs is the number of OPENDIRs the kernel sent: one (answered
// ENOSYS) when zero-message opendirs are on.
func (s *StatelessDirs) OpenDirs() int64 { return s.opendirs.Load() }

func (s *StatelessDirs) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	s.opendirs.Add(1)
	if s.on.Load() {
		return fuse.ENOSYS
	}
	return s.RawFileSystem.OpenDir(cancel, in, out)
}

func (s *StatelessDirs) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return s.withHandle(cancel, in, func(in *fuse.ReadIn) fuse.Status {
		return s.RawFileSystem.ReadDir(cancel, in, out)
	})
}

func (s *StatelessDirs) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return s.withHandle(cancel, in, func(in *fuse.ReadIn) fuse.Status {
		return s.RawFileSystem.ReadDirPlus(cancel, in, out)
	})
}

// withHandle runs read with in's handle, or, for a handle-less request,
// with one opened for it and released after.
func (s *StatelessDirs) withHandle(cancel <-chan struct{}, in *fuse.ReadIn, read func(*fuse.ReadIn) fuse.Status) fuse.Status {
	if in.Fh != 0 {
		return read(in)
	}
	s.reads.Add(1)
	open := fuse.OpenIn{InHeader: in.InHeader, Flags: syscall.O_RDONLY | syscall.O_DIRECTORY}
	var opened fuse.OpenOut
	if st := s.RawFileSystem.OpenDir(cancel, &open, &opened); !st.Ok() {
		return st
	}
	defer s.RawFileSystem.ReleaseDir(&fuse.ReleaseIn{InHeader: in.InHeader, Fh: opened.Fh})
	withFh := *in
	withFh.Fh = opened.Fh
	return read(&withFh)
}
