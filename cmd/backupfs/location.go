package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultPort is where backupfs serve listens unless told otherwise.
const DefaultPort = 7464

// location is a repository argument: a path in the local datastore
// ("/vm/100/latest") or on a server ("HOST[:PORT]:/vm/100/latest").
type location struct {
	addr string // "host:port"; "" for the local datastore
	path string // "/TYPE/ID/..."
}

// parseLocation splits a repository argument. IPv6 hosts go in brackets:
// "[::1]:7464:/vm/100".
func parseLocation(arg string) (location, error) {
	if arg == "" || strings.HasPrefix(arg, "/") {
		return location{path: arg}, nil
	}
	i := strings.Index(arg, ":/")
	if i <= 0 {
		return location{}, fmt.Errorf("%q: want a path /TYPE/ID[/TIME...] or a server path HOST[:PORT]:/TYPE/ID[/TIME...]", arg)
	}
	hostport, path := arg[:i], arg[i+1:]
	host, port := hostport, strconv.Itoa(DefaultPort)
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return location{}, fmt.Errorf("%q: bad port %q", arg, port)
	}
	if host == "" || strings.ContainsAny(host, "/ \x00") {
		return location{}, fmt.Errorf("%q: bad host %q", arg, host)
	}
	return location{addr: net.JoinHostPort(host, port), path: path}, nil
}
