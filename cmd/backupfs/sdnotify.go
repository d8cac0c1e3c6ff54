package main

import (
	"net"
	"os"
)

// sdNotify sends state (e.g. "READY=1") to systemd's notify socket if the
// process runs under a Type=notify unit (NOTIFY_SOCKET set); otherwise, or
// if sending fails, it does nothing: readiness is a courtesy to systemd,
// never a reason to fail. serve says READY=1 once it listens, mount once
// the kernel has the mount (contrib/systemd's units are Type=notify).
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}
