package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

// Mount helper: /etc/fstab and `mount -t fuse.backupfs`.
//
// mount(8) runs mount.fuse3 for a type fuse.backupfs, and mount.fuse3 runs
// `backupfs SOURCE MOUNTPOINT -o OPTIONS` (it finds backupfs on its own
// PATH, /usr/local/bin, /usr/bin, /sbin...: mount(8) does not pass the
// caller's). run takes a first argument that is no command but a
// repository location (HOST[:PORT]:/... or /...) for this call.
//
// Each option maps to the mount command's flag of the same name, with _
// for - (cache_size=512MiB is --cache-size=512MiB, allow_other is
// --allow-other, token_file=, fingerprint=, timeout=, datastore=,
// cache_dir=, readahead=, log_format=...); log_file=PATH is the helper's
// own: where the mount's log goes (appended; without it the log is
// discarded, as a daemonized libfuse file system's is). These are taken
// as mount.fuse3 and mount(8) pass them and ignored: ro, rw, defaults,
// auto, noauto, user, users, nouser, owner, group, _netdev, nofail, exec,
// the atime family, sync/async, comment=, x-*. The mount is read-only and
// nosuid,nodev whatever rw, suid and dev say (mount.fuse3 adds dev,suid
// for root: a backup's setuid files and device nodes must never act on
// this machine). noexec is applied (a bind remount of the mountpoint once
// mounted). Any other option is refused with one line naming it; nothing
// is mounted then.
//
// The helper daemonizes: it starts `backupfs mount` in a new session
// (cwd /, stdin and stdout /dev/null) with a pipe the mount writes "ok"
// to once the kernel has the mount, or the error that stopped it. The
// helper exits 0 on "ok" (so mount(8) returns only once the mount is
// ready), or says the error and exits 32 (mount(8)'s "mount failure");
// a bad call or option exits 1. umount ends the mount process.

// mountReadyEnv names the descriptor a daemonized mount reports on.
const mountReadyEnv = "BACKUPFS_MOUNT_READY_FD"

// errMountOption is the error of an -o option the helper does not know.
var errMountOption = errors.New("unknown mount option")

// ignoredOptions are mount(8)'s and mount.fuse3's options the helper takes
// and ignores (see above).
var ignoredOptions = map[string]bool{
	"ro": true, "rw": true, "defaults": true, "auto": true, "noauto": true, "user": true, "users": true,
	"nouser": true, "owner": true, "group": true, "_netdev": true, "nofail": true, "suid": true,
	"nosuid": true, "dev": true, "nodev": true, "exec": true, "atime": true, "noatime": true,
	"relatime": true, "norelatime": true, "strictatime": true, "nodiratime": true, "diratime": true,
	"lazytime": true, "sync": true, "async": true,
}

// pathFlags are the mount flags naming files: made absolute, as the
// daemon runs in /.
var pathFlags = map[string]bool{"datastore": true, "token-file": true, "cache-dir": true}

// helperCall reports whether args are mount.fuse3's call of the helper.
func helperCall(args []string) bool {
	if len(args) < 2 {
		return false
	}
	if _, ok := commands[args[0]]; ok {
		return false
	}
	return strings.HasPrefix(args[0], "/") || strings.Contains(args[0], ":/")
}

// helperArgs are a helper call's source, mountpoint and what its options
// map to.
type helperArgs struct {
	source, mountpoint string
	flags              []string // the mount command's flags
	logFile            string
	noexec             bool
}

// runHelper mounts as mount.fuse3 asks and returns the exit code.
func runHelper(e env, args []string) int {
	h, err := parseHelper(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "backupfs: %v\n", err)
		return 1
	}
	if err := daemonize(h); err != nil {
		fmt.Fprintf(e.stderr, "backupfs: mount %s on %s: %v\n", h.source, h.mountpoint, err)
		return 32
	}
	return 0
}

// parseHelper parses SOURCE MOUNTPOINT [-o OPTIONS]... and checks the
// flags the options map to.
func parseHelper(args []string) (helperArgs, error) {
	var h helperArgs
	var pos, opts []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o" && i+1 < len(args):
			i++
			opts = append(opts, args[i])
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			opts = append(opts, a[2:])
		case strings.HasPrefix(a, "-"):
			return h, fmt.Errorf("mount helper: unknown argument %q (want SOURCE MOUNTPOINT -o OPTIONS)", a)
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return h, fmt.Errorf("mount helper: want SOURCE MOUNTPOINT -o OPTIONS, got %d arguments", len(pos))
	}
	h.source = pos[0]
	mp, err := filepath.Abs(pos[1])
	if err != nil {
		return h, err
	}
	h.mountpoint = mp
	fs, err := commandFlags("mount")
	if err != nil {
		return h, err
	}
	for _, o := range strings.Split(strings.Join(opts, ","), ",") {
		if err := h.option(o, fs); err != nil {
			return h, err
		}
	}
	if err := fs.Parse(h.flags); err != nil {
		return h, fmt.Errorf("mount options: %w", err)
	}
	return h, nil
}

// option maps one -o option.
func (h *helperArgs) option(o string, fs *pflag.FlagSet) error {
	key, val, hasVal := strings.Cut(o, "=")
	switch {
	case o == "" || (ignoredOptions[key] && !hasVal) || strings.HasPrefix(key, "x-") || key == "comment":
		return nil
	case key == "noexec" && !hasVal:
		h.noexec = true
		return nil
	case key == "log_file" && val != "":
		p, err := filepath.Abs(val)
		h.logFile = p
		return err
	}
	name := strings.ReplaceAll(key, "_", "-")
	fl := fs.Lookup(name)
	if fl == nil || strings.Contains(key, "-") {
		return fmt.Errorf("%w %q (see backupfs mount --help: an option is a flag's name with _ for -)", errMountOption, o)
	}
	switch {
	case !takesValue(fl) && !hasVal:
		h.flags = append(h.flags, "--"+name)
		return nil
	case !hasVal || val == "":
		return fmt.Errorf("mount option %s needs a value (%s=VALUE)", key, key)
	case pathFlags[name]:
		p, err := filepath.Abs(val)
		if err != nil {
			return err
		}
		val = p
	}
	h.flags = append(h.flags, "--"+name+"="+val)
	return nil
}

// daemonize starts the mount in a new session and waits until it reports
// the mount ready or fails.
func daemonize(h helperArgs) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(exe, append(append([]string{"mount"}, h.flags...), "--", h.source, h.mountpoint)...)
	cmd.Env = append(os.Environ(), mountReadyEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if h.logFile != "" {
		f, err := os.OpenFile(h.logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			w.Close()
			return fmt.Errorf("log_file: %w", err)
		}
		defer f.Close()
		cmd.Stderr = f
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(r) // until the mount reports and closes it, or ends
	if string(msg) != "ok\n" {
		werr := cmd.Wait()
		if m, ok := strings.CutPrefix(string(msg), "error: "); ok {
			return errors.New(strings.TrimSpace(m))
		}
		return fmt.Errorf("the mount process ended before mounting (%v)", werr)
	}
	cmd.Process.Release()
	if h.noexec {
		return remountNoexec(h.mountpoint)
	}
	return nil
}

// remountNoexec adds noexec to a mount (a bind remount keeping ro,
// nosuid, nodev); it unmounts it if that fails.
func remountNoexec(mp string) error {
	err := unix.Mount("", mp, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	if err != nil {
		unix.Unmount(mp, 0)
		return fmt.Errorf("noexec: remount: %w (unmounted it again)", err)
	}
	return nil
}

var readyOnce sync.Once

// readyFd is the descriptor of mountReadyEnv, or -1; it is made
// close-on-exec so that no process the mount starts (fusermount3) holds
// the helper's pipe.
func readyFd() int {
	fd, err := strconv.Atoi(os.Getenv(mountReadyEnv))
	if err != nil || fd < 3 {
		return -1
	}
	syscall.CloseOnExec(fd)
	return fd
}

// mountReady tells a waiting helper that the mount is ready (err nil) or
// failed; without a helper (no mountReadyEnv) it does nothing. Only the
// first call counts.
func mountReady(err error) {
	fd := readyFd()
	if fd < 0 {
		return
	}
	readyOnce.Do(func() {
		os.Unsetenv(mountReadyEnv)
		f := os.NewFile(uintptr(fd), "mount-ready")
		msg := "ok\n"
		if err != nil {
			msg = "error: " + strings.ReplaceAll(err.Error(), "\n", "; ") + "\n"
		}
		f.WriteString(msg)
		f.Close()
	})
}
