package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// bigTime is the mtime of the generated files, fixed so reruns match.
var bigTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// writeBig writes random-0.bin and random-1.bin (seeded PCG, incompressible)
// and text.txt (text files of dir concatenated over and over, compressible).
func writeBig(out, dir string, size int64) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for i := range 2 {
		r := rand.New(rand.NewPCG(1, uint64(i)))
		err := writeFile(filepath.Join(out, fmt.Sprintf("random-%d.bin", i)), size, func(b []byte) {
			for j := 0; j+8 <= len(b); j += 8 {
				v := r.Uint64()
				for k := range 8 {
					b[j+k] = byte(v >> (8 * k))
				}
			}
		})
		if err != nil {
			return err
		}
	}
	text, err := readText(dir, 32<<20)
	if err != nil {
		return err
	}
	pos := 0
	return writeFile(filepath.Join(out, "text.txt"), size, func(b []byte) {
		for i := range b {
			b[i] = text[pos]
			pos = (pos + 1) % len(text)
		}
	})
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

// readText concatenates the .go, .h, .c, .txt and .html files under dir
// (sorted walk) up to max bytes.
func readText(dir string, max int) ([]byte, error) {
	var out []byte
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || len(out) >= max {
			return err
		}
		switch filepath.Ext(p) {
		case ".go", ".h", ".c", ".txt", ".html":
		default:
			return nil
		}
		b, err := os.ReadFile(p)
		out = append(out, b...)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(out) < 1<<20 {
		return nil, fmt.Errorf("%s: only %d bytes of text, want at least 1 MiB", dir, len(out))
	}
	return []byte(strings.ToValidUTF8(string(out), "?")), nil
}
