package main

import (
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

func TestModeString(t *testing.T) {
	for _, c := range []struct {
		typ  catalog.EntryType
		mode uint32
		want string
	}{
		{catalog.TypeDir, 0o755, "drwxr-xr-x"},
		{catalog.TypeSymlink, 0o777, "lrwxrwxrwx"},
		{catalog.TypeFile, 0o4755, "-rwsr-xr-x"},
		{catalog.TypeFile, 0o2644, "-rw-r-Sr--"},
		{catalog.TypeDir, 0o1777, "drwxrwxrwt"},
		{catalog.TypeDir, 0o1776, "drwxrwxrwT"},
		{catalog.TypeCharDev, 0o666, "crw-rw-rw-"},
		{catalog.TypeBlockDev, 0o660, "brw-rw----"},
		{catalog.TypeFifo, 0o600, "prw-------"},
		{catalog.TypeHardlink, 0o400, "-r--------"},
	} {
		if got := modeString(catalog.Entry{Type: c.typ, Mode: c.mode}); got != c.want {
			t.Errorf("modeString(%v, %#o) = %q, want %q", c.typ, c.mode, got, c.want)
		}
	}
}
