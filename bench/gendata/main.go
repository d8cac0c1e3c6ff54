// Command gendata writes deterministic benchmark data: an image file of a
// given size, alternating 4 MiB of pseudo-random bytes (incompressible) and
// 4 MiB of text taken from a source tree (compressible), with a 64 MiB hole.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	size := flag.Int64("size", 1<<30, "image size in bytes")
	text := flag.String("text", "", "directory whose files provide compressible text")
	flag.Parse()
	if flag.NArg() != 1 || *text == "" {
		fmt.Fprintln(os.Stderr, "usage: gendata -size N -text DIR OUTPUT")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *size, *text); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

func run(out string, size int64, textDir string) error {
	corpus, err := readText(textDir, 16<<20)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	const block = 4 << 20
	buf := make([]byte, block)
	for off := int64(0); off < size; off += block {
		n := min(block, size-off)
		switch blk := off / block; {
		case blk%32 == 16: // a 4 MiB hole every 128 MiB
			if err := w.Flush(); err != nil {
				return err
			}
			if _, err := f.Seek(n, 1); err != nil {
				return err
			}
			continue
		case blk%2 == 0:
			for i := range buf[:n] {
				buf[i] = byte(r.Uint32())
			}
		default:
			start := (off / 3) % int64(len(corpus)-block)
			copy(buf, corpus[start:start+n])
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Truncate(size)
}

// readText concatenates files under dir (sorted walk) up to max bytes.
func readText(dir string, max int) ([]byte, error) {
	var out []byte
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || len(out) >= max {
			return err
		}
		b, err := os.ReadFile(p)
		out = append(out, b...)
		return err
	})
	if len(out) < 8<<20 {
		return nil, fmt.Errorf("%s: only %d bytes of text, want at least 8 MiB", dir, len(out))
	}
	return out, err
}
