// Package badnames lists hostile group and file names for the hardening
// tests of both sides: the server's (sent raw on the wire, each must be
// refused without touching the datastore) and the client's (each must be
// refused before anything is sent). It is a leaf: it imports nothing of
// the project, so package server's own tests can use it (remotetest,
// which imports server, cannot be imported there).
package badnames

import "strings"

// Groups are group strings no request may resolve to a path.
var Groups = []string{
	"", "..", "../..", "/x", "host/..", "host/../../etc", "../host/a", "host/a/../../b",
	"host/a\x00b", "host\x00/a", strings.Repeat("a", 300), "host/" + strings.Repeat("b", 250),
	"host/\xff\xfe", "\xc0\xaf/a", "host/a\n", "host/.", "host/a/b", "/",
}

// Files are file names no GET_FILE may open.
var Files = []string{
	"", "..", "../manifest.json", "../../../etc/passwd", "/etc/passwd", "manifest.json\x00",
	"a\x00.fidx", ".fidx", "x/../disk.img.fidx", "sub/disk.img.fidx", strings.Repeat("a", 300) + ".fidx",
	"\xff\xfe.fidx", ".hidden.fidx", "disk.img", "manifest.json/",
}
