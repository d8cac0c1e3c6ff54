package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// bigTime is the mtime of the generated files, fixed so reruns match.
var bigTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// bigSizes are the sizes of the generated files (issue 13's shape: 256 MiB
// random, 64 MiB of base64 text, 32 MiB of zeros); tests make them small.
type bigSizes struct{ random, text, zeros int64 }

// writeBig writes the large files that sit beside the real ones:
// random.bin (seeded PCG, incompressible), text.b64 (base64 of seeded PCG
// bytes in 76-column lines, as base64(1) writes: compressible to about
// 3/4), zeros.bin; a small notes.txt with a hardlink notes.hard; and the
// symlinks random.lnk -> random.bin and up.lnk -> .. (a directory).
// Every file and symlink gets bigTime as its mtime.
func writeBig(out string, sz bigSizes) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 0))
	if err := writeFile(filepath.Join(out, "random.bin"), sz.random, func(b []byte) { fillRandom(r, b) }); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(out, "text.b64"), sz.text, base64Filler(rand.New(rand.NewPCG(2, 0)))); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(out, "zeros.bin"), sz.zeros, func([]byte) {}); err != nil {
		return err
	}
	notes := []byte("backupfs bench: a small file with a second name (notes.hard)\n")
	if err := writeFile(filepath.Join(out, "notes.txt"), int64(len(notes)), func(b []byte) { copy(b, notes) }); err != nil {
		return err
	}
	if err := os.Link(filepath.Join(out, "notes.txt"), filepath.Join(out, "notes.hard")); err != nil {
		return err
	}
	for name, target := range map[string]string{"random.lnk": "random.bin", "up.lnk": ".."} {
		p := filepath.Join(out, name)
		if err := os.Symlink(target, p); err != nil {
			return err
		}
		ts := []unix.Timespec{unix.NsecToTimespec(bigTime.UnixNano()), unix.NsecToTimespec(bigTime.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

func fillRandom(r *rand.Rand, b []byte) {
	for j := 0; j+8 <= len(b); j += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[j+k] = byte(v >> (8 * k))
		}
	}
}

// base64Filler gives base64 text of r's bytes, 76 characters and a newline
// per line, continuing across blocks.
func base64Filler(r *rand.Rand) func([]byte) {
	const width = 76
	var line [width + 1]byte
	var raw [width / 4 * 3]byte
	pos := len(line) // nothing buffered yet
	return func(b []byte) {
		for i := range b {
			if pos == len(line) {
				fillRandom(r, raw[:len(raw)/8*8])
				for k := len(raw) / 8 * 8; k < len(raw); k++ {
					raw[k] = byte(r.Uint32())
				}
				base64.StdEncoding.Encode(line[:width], raw[:])
				line[width] = '\n'
				pos = 0
			}
			b[i] = line[pos]
			pos++
		}
	}
}

// writeFile writes size bytes, fill giving each 1 MiB block.
func writeFile(path string, size int64, fill func([]byte)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), size-off)]
		fill(b)
		if _, err := w.Write(b); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chtimes(path, bigTime, bigTime)
}
