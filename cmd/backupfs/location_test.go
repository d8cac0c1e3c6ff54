package main

import "testing"

func TestParseLocation(t *testing.T) {
	for _, c := range []struct {
		in, addr, path string
		ok             bool
	}{
		{"/vm/100", "", "/vm/100", true},
		{"", "", "", true},
		{"127.0.0.1:7464:/vm/100", "127.0.0.1:7464", "/vm/100", true},
		{"backup.example:/vm/100/latest", "backup.example:7464", "/vm/100/latest", true},
		{"nas:9000:/", "nas:9000", "/", true},
		{"[::1]:7000:/host/a", "[::1]:7000", "/host/a", true},
		{"[::1]:/host/a", "[::1]:7464", "/host/a", true},
		{"nas:99999:/vm", "", "", false},
		{"nas:x:/vm", "", "", false},
		{"vm/100", "", "", false},
		{":/vm/100", "", "", false},
	} {
		l, err := parseLocation(c.in)
		if (err == nil) != c.ok || l.addr != c.addr || l.path != c.path {
			t.Errorf("parseLocation(%q) = %+v, %v; want addr %q path %q ok %v", c.in, l, err, c.addr, c.path, c.ok)
		}
	}
}
