// Command gentree makes bench/run's file tree deterministically and changes
// 1% of it for the second backup. It never reads outside the sources it is
// given and never writes outside its output directory.
//
//	gentree copy -bytes N -out DIR SRC...  copy sorted SRC walks until N bytes
//	gentree big -out DIR                   256 MiB random, 64 MiB base64, 32 MiB zeros, links
//	gentree change DIR                     rewrite every 100th file (sorted walk)
//
// copy takes each source in the order given and, inside it, entries in
// lexical order (filepath.WalkDir), so the same machine gives the same
// selection every run. It keeps modes, owners, mtimes and symlinks, skips
// sockets, devices, unreadable files and files over -max, and stops at the
// first file boundary past -bytes. change replaces files instead of writing
// through them, so a tree made of hardlinks to a cached copy (cp -al) is
// changed without touching the cache.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "copy":
		err = runCopy(args)
	case "big":
		err = runBig(args)
	case "change":
		err = runChange(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gentree:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gentree copy -bytes N -out DIR SRC... | big -out DIR | change DIR")
	os.Exit(2)
}

func runCopy(args []string) error {
	fl := flag.NewFlagSet("copy", flag.ExitOnError)
	budget := fl.Int64("bytes", 560<<20, "stop after this many bytes of file data")
	maxFile := fl.Int64("max", 32<<20, "skip files larger than this")
	out := fl.String("out", "", "output directory (must not exist)")
	_ = fl.Parse(args)
	if *out == "" || fl.NArg() == 0 {
		usage()
	}
	c := &copier{budget: *budget, max: *maxFile}
	if err := c.copyAll(*out, fl.Args()); err != nil {
		return err
	}
	fmt.Printf("%d files, %d bytes\n", c.files, c.bytes)
	return nil
}

func runBig(args []string) error {
	fl := flag.NewFlagSet("big", flag.ExitOnError)
	out := fl.String("out", "", "output directory")
	var sz bigSizes
	fl.Int64Var(&sz.random, "random", 256<<20, "size of random.bin")
	fl.Int64Var(&sz.text, "text", 64<<20, "size of text.b64")
	fl.Int64Var(&sz.zeros, "zeros", 32<<20, "size of zeros.bin")
	_ = fl.Parse(args)
	if *out == "" || fl.NArg() != 0 {
		usage()
	}
	return writeBig(*out, sz)
}

func runChange(args []string) error {
	if len(args) != 1 {
		usage()
	}
	n, err := changeTree(args[0], 100)
	if err != nil {
		return err
	}
	fmt.Printf("%d files changed\n", n)
	return nil
}
