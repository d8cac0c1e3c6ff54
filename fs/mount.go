package fs

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Mount parameters: reads of up to 1 MiB, 1 MiB kernel readahead (the
// cache reads further ahead), and many requests in flight so the cache's
// concurrency is used. The kernel caps a FUSE mount's readahead at its
// backing device's read_ahead_kb (128 KiB by default) whatever INIT asks
// for, so as root the mount raises that to maxRead (raiseReadahead): dd
// bs=1M of the bench image 378-400 -> 410-428 MiB/s, of the random file
// 294-300 -> 319-337 (2026-12-07, two runs each, cold); 2 and 4 MiB gave
// no more.
const (
	maxRead       = 1 << 20
	maxBackground = 64
)

// Mount checks that mountpoint is an empty directory that is not already
// mounted, then mounts the file system read-only and serves it. The caller
// calls Wait or Unmount on the server. As root it mounts with mount(2)
// directly; otherwise through fusermount3.
func Mount(mountpoint string, o Options) (*fuse.Server, error) {
	m, err := mount(mountpoint, o)
	if err != nil {
		return nil, err
	}
	return m.srv, nil
}

// mounted is a mount's server, root node (benchmarks invalidate kernel
// caches through it), directory layer (tests count its OPENDIRs) and
// latency hint (nil when off).
type mounted struct {
	srv  *fuse.Server
	root gofs.InodeEmbedder
	dirs *StatelessDirs
	hint *latencyHint
}

// mount is Mount, returning the parts tests and benchmarks look into.
func mount(mountpoint string, o Options) (*mounted, error) {
	if err := checkMountpoint(mountpoint); err != nil {
		return nil, err
	}
	fsys, err := newFilesys(o)
	if err != nil {
		return nil, err
	}
	root, err := fsys.root(o)
	if err != nil {
		return nil, err
	}
	opts := mountOptions(o)
	dirs := &StatelessDirs{RawFileSystem: gofs.NewNodeFS(root, opts)}
	var raw fuse.RawFileSystem = dirs
	var hint *latencyHint
	if !o.NoLatencyHint {
		hint = newLatencyHint(dirs, cpuLatencyDevice, latencyProbe, latencyIdle, fsys.log)
		raw = hint
	}
	srv, err := fuse.NewServer(raw, mountpoint, &opts.MountOptions)
	if err != nil {
		if hint != nil {
			hint.stop()
		}
		return nil, fmt.Errorf("fs: mount %s: %w", mountpoint, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		return nil, fmt.Errorf("fs: mount %s: %w", mountpoint, err)
	}
	raiseReadahead(mountpoint, fsys.log)
	offered := srv.KernelSettings().Flags64()
	fsys.noOpen.Store(offered&fuse.CAP_NO_OPEN_SUPPORT != 0)
	dirs.Offered(offered)
	return &mounted{srv: srv, root: root, dirs: dirs, hint: hint}, nil
}

// raiseReadahead sets the kernel readahead of the file system mounted at
// mountpoint (its backing device's read_ahead_kb in sysfs) to maxRead if
// it is less. Only root may; anyone else keeps the kernel's default, and
// a failure only costs speed, so it is logged at debug level.
func raiseReadahead(mountpoint string, log *slog.Logger) {
	var st syscall.Stat_t
	if err := syscall.Stat(mountpoint, &st); err != nil {
		log.Debug("readahead: stat", "err", err)
		return
	}
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	b, err := os.ReadFile(p)
	if err != nil {
		log.Debug("readahead", "err", err)
		return
	}
	if kb, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && kb >= maxRead>>10 {
		return
	}
	if err := os.WriteFile(p, []byte(strconv.Itoa(maxRead>>10)), 0); err != nil {
		log.Debug("readahead", "err", err)
	}
}

// Detach unmounts mountpoint lazily (umount -l, MNT_DETACH): the mount
// leaves the namespace at once, so the mountpoint is an ordinary empty
// directory again, while processes that have a file open or their working
// directory in it keep using it; the kernel ends the file system (and the
// server's Wait returns) when the last of them lets go. As root it calls
// umount2(2), otherwise fusermount3 -u -z (or fusermount).
func Detach(mountpoint string) error {
	if os.Geteuid() == 0 {
		if err := syscall.Unmount(mountpoint, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("fs: detach %s: %w", mountpoint, err)
		}
		return nil
	}
	bin, err := exec.LookPath("fusermount3")
	if err != nil {
		bin, err = exec.LookPath("fusermount")
	}
	if err != nil {
		return fmt.Errorf("fs: detach %s: %w", mountpoint, err)
	}
	if out, err := exec.Command(bin, "-u", "-z", mountpoint).CombinedOutput(); err != nil {
		return fmt.Errorf("fs: detach %s: %w: %s", mountpoint, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// mountOptions are the kernel cache timeouts and FUSE parameters.
func mountOptions(o Options) *gofs.Options {
	long := longTimeout
	opts := &gofs.Options{
		EntryTimeout:    &long,
		AttrTimeout:     &long,
		NegativeTimeout: &long,
		NullPermissions: true, // mode 0 stays 0
		MountOptions: fuse.MountOptions{
			FsName:        "backupfs",
			Name:          "backupfs",
			Options:       []string{"ro", "default_permissions"},
			AllowOther:    o.AllowOther,
			MaxReadAhead:  maxRead,
			MaxWrite:      maxRead, // go-fuse sets max_read and max_pages from it
			MaxBackground: cmp.Or(o.Background, maxBackground),
			// Snapshots never change: the kernel may cache symlink
			// targets ("latest" changes inode when it moves).
			EnableSymlinkCaching: true,
			// Reads answer bytes held in memory, which splice cannot
			// move: with splice on, go-fuse still tried it for every READ
			// (a pipe, a resize and a write of the header, then the
			// ordinary write), and a 1 MiB READ failed to resize the pipe
			// past /proc/sys/fs/pipe-max-size and logged "trySplice"
			// each time (2,138 lines in one bench/run).
			DisableSplice: true,
			DirectMount:   os.Geteuid() == 0,
			Debug:         o.Debug,
		},
	}
	if o.Log != nil {
		// Both go-fuse's node layer and its server (--debug's request
		// lines, its warnings) log through slog: gofs.Options.Logger
		// shadows MountOptions.Logger, and setting only the first left the
		// server printing to stderr past the log format.
		opts.Logger = log.New(&slogWriter{o: o}, "", 0)
		opts.MountOptions.Logger = opts.Logger
	}
	return opts
}

// slogWriter sends go-fuse's log lines to the slog logger.
type slogWriter struct{ o Options }

func (w *slogWriter) Write(p []byte) (int, error) {
	w.o.Log.Info("fuse: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// checkMountpoint refuses a mountpoint that is missing, not a directory,
// not empty, or already mounted (including a dead FUSE mount).
func checkMountpoint(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, syscall.ENOTCONN) {
		return fmt.Errorf("fs: mountpoint %s: a dead FUSE mount is there (fusermount3 -u %s)", dir, dir)
	}
	if err != nil {
		return fmt.Errorf("fs: mountpoint: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("fs: mountpoint %s is not a directory", dir)
	}
	if mounted, err := isMounted(dir); err != nil {
		return err
	} else if mounted {
		return fmt.Errorf("fs: mountpoint %s is already mounted (umount it first)", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fs: mountpoint: %w", err)
	}
	defer f.Close()
	if names, err := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("fs: mountpoint %s is not empty", dir)
	} else if err != nil && err != io.EOF {
		return fmt.Errorf("fs: mountpoint: %w", err)
	}
	return nil
}

// isMounted reports whether dir is a mount point: listed in
// /proc/self/mountinfo, or on another device than its parent.
func isMounted(dir string) (bool, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return false, fmt.Errorf("fs: mountpoint: %w", err)
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) > 4 && unescapeMountinfo(fields[4]) == abs {
				return true, nil
			}
		}
	}
	var st, pst syscall.Stat_t
	if syscall.Stat(abs, &st) != nil || syscall.Stat(filepath.Dir(abs), &pst) != nil {
		return false, nil
	}
	return abs != "/" && st.Dev != pst.Dev, nil
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return len(s) == 3
}
