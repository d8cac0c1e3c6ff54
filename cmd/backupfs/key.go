package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/keyfile"
)

// keyOptions are the flags of backupfs key.
type keyOptions struct {
	kdfTime     uint32
	kdfMemory   sizeValue
	newPassFile string
}

// cmdKey manages key files (package keyfile): create, passwd, paperkey,
// recover, fingerprint.
func cmdKey(_ context.Context, e env, args []string) error {
	var o keyOptions
	f := flags(e, "key")
	f.Uint32Var(&o.kdfTime, "kdf-time", 0, "argon2id passes (default: calibrated to about 0.5 s here)")
	f.Var(&o.kdfMemory, "kdf-memory", "argon2id memory (default 64MiB)")
	f.StringVar(&o.newPassFile, "new-password-file", "", "passwd: read the new passphrase from this file's first line (default: ask on the terminal)")
	if err := f.Parse(args); err != nil {
		return err
	}
	args = f.Args()
	if len(args) != 2 {
		return fmt.Errorf("want create|passwd|paperkey|recover|fingerprint FILE")
	}
	verb, path := args[0], args[1]
	switch verb {
	case "create":
		k, err := keyfile.New()
		if err != nil {
			return err
		}
		return writeKey(e, o, path, k, false)
	case "recover":
		text, err := io.ReadAll(io.LimitReader(os.Stdin, 4096))
		if err != nil {
			return fmt.Errorf("read the paper key from standard input: %w", err)
		}
		k, err := keyfile.ParsePaperKey(string(text))
		if err != nil {
			return err
		}
		return writeKey(e, o, path, k, false)
	case "passwd":
		k, err := openKey(path, "current passphrase")
		if err != nil {
			return err
		}
		return writeKey(e, o, path, k, true)
	case "paperkey":
		k, err := openKey(path, "passphrase")
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "backupfs key %s\n%s", k.Fingerprint(), k.PaperKey())
		return nil
	case "fingerprint":
		b, err := readKeyFile(path)
		if err != nil {
			return err
		}
		fp, err := keyfile.Fingerprint(b)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintln(e.stdout, fp)
		return nil
	}
	return fmt.Errorf("unknown key command %q: want create, passwd, paperkey, recover or fingerprint", verb)
}

// writeKey seals k under a new passphrase (asked twice on a terminal) into
// path: a new file, or (replace) over the existing one, atomically.
func writeKey(e env, o keyOptions, path string, k *keyfile.Key, replace bool) error {
	if !replace {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s exists: a key file is never overwritten (use key passwd to change its passphrase)", path)
		}
	}
	var pass []byte
	var err error
	switch {
	case o.newPassFile != "":
		pass, err = firstLine(o.newPassFile)
	case replace: // BACKUPFS_PASSWORD* hold the current one
		pass, err = askTerminal("new passphrase", true)
	default:
		pass, err = passphrase("new passphrase", true)
	}
	if err != nil {
		return err
	}
	p := keyfile.Calibrate(500 * time.Millisecond)
	if o.kdfTime > 0 {
		p.Time = o.kdfTime
	}
	if o.kdfMemory > 0 {
		p.MemoryKiB = uint32(min(int64(o.kdfMemory)>>10, 1<<32-1))
	}
	b, err := keyfile.Seal(k, pass, p)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write key file: %w", err)
	}
	fmt.Fprintf(e.stdout, "key %s in %s (argon2id: %d passes, %d MiB, %d threads)\n", k.Fingerprint(), path, p.Time, p.MemoryKiB>>10, p.Threads)
	return nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, keyfile.MaxFileSize+1))
}

// openKey opens the key file at path with a passphrase from the usual
// places (see passphrase).
func openKey(path, prompt string) (*keyfile.Key, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	if _, err := keyfile.Fingerprint(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pass, err := passphrase(prompt, false)
	if err != nil {
		return nil, err
	}
	k, err := keyfile.Open(b, pass)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// passphrase comes from BACKUPFS_PASSWORD_FILE (its first line), then
// BACKUPFS_PASSWORD, then a prompt on the terminal (asked twice when
// confirm). An empty passphrase is refused.
func passphrase(prompt string, confirm bool) ([]byte, error) {
	if p := os.Getenv("BACKUPFS_PASSWORD_FILE"); p != "" {
		return firstLine(p)
	}
	if p, ok := os.LookupEnv("BACKUPFS_PASSWORD"); ok {
		return nonEmpty([]byte(p))
	}
	return askTerminal(prompt, confirm)
}

// firstLine reads a passphrase file: its first line.
func firstLine(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return nonEmpty(bytes.TrimSuffix(line, []byte("\r")))
}

// askTerminal asks on the terminal (twice when confirm).
func askTerminal(prompt string, confirm bool) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errors.New("no passphrase: set BACKUPFS_PASSWORD_FILE or BACKUPFS_PASSWORD (key passwd: --new-password-file), or run on a terminal")
	}
	defer tty.Close()
	p, err := askHidden(tty, prompt+": ")
	if err != nil || !confirm {
		return p, err
	}
	again, err := askHidden(tty, "again: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p, again) {
		return nil, errors.New("the passphrases differ")
	}
	return p, nil
}

func nonEmpty(p []byte) ([]byte, error) {
	if len(p) == 0 {
		return nil, errors.New("empty passphrase")
	}
	return p, nil
}

// askHidden prompts on tty and reads a line with echo off.
func askHidden(tty *os.File, prompt string) ([]byte, error) {
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	defer func() {
		_ = unix.IoctlSetTermios(fd, unix.TCSETS, old)
		fmt.Fprintln(tty)
	}()
	fmt.Fprint(tty, prompt)
	line, err := bufio.NewReader(tty).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	return nonEmpty(bytes.TrimRight(line, "\r\n"))
}
