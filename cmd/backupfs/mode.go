package main

import "github.com/backupfs/backupfs/catalog"

// modeString writes an entry's type and permissions as ls -l does:
// "drwxr-xr-x", "lrwxrwxrwx", "-rwsr-xr-x", "crw-rw-rw-".
func modeString(e catalog.Entry) string {
	typ := map[catalog.EntryType]byte{
		catalog.TypeDir: 'd', catalog.TypeSymlink: 'l', catalog.TypeCharDev: 'c',
		catalog.TypeBlockDev: 'b', catalog.TypeFifo: 'p',
	}[e.Type]
	if typ == 0 {
		typ = '-'
	}
	b := []byte{typ}
	special := []struct {
		bit  uint32
		x, s byte
	}{{0o4000, 'x', 's'}, {0o2000, 'x', 's'}, {0o1000, 'x', 't'}}
	for i := range 3 {
		shift := uint(6 - 3*i)
		rwx := []byte("---")
		if e.Mode>>shift&4 != 0 {
			rwx[0] = 'r'
		}
		if e.Mode>>shift&2 != 0 {
			rwx[1] = 'w'
		}
		sp, exec := special[i], e.Mode>>shift&1 != 0
		switch {
		case e.Mode&sp.bit != 0 && exec:
			rwx[2] = sp.s
		case e.Mode&sp.bit != 0:
			rwx[2] = sp.s - 'a' + 'A'
		case exec:
			rwx[2] = 'x'
		}
		b = append(b, rwx...)
	}
	return string(b)
}
