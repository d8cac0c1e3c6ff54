package main

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestHelperCall: only a location as the first word is mount.fuse3's
// call; a mistyped command stays an unknown command.
func TestHelperCall(t *testing.T) {
	for args, want := range map[string]bool{
		"h:7464:/vm/100 /mnt -o ro": true,
		"/vm/100 /mnt":              true,
		"snapshot /vm/100":          false,
		"mount h:/vm/100 /mnt":      false,
		"/vm/100":                   false,
	} {
		if got := helperCall(strings.Fields(args)); got != want {
			t.Errorf("helperCall(%s) = %v, want %v", args, got, want)
		}
	}
	var errb bytes.Buffer
	if code := run(context.Background(), env{stdout: &bytes.Buffer{}, stderr: &errb}, []string{"snapshot", "/vm/100"}); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Errorf("backupfs snapshot /vm/100: exit %d, %q", code, errb.String())
	}
}

// TestParseHelper: options map to the mount command's flags, paths made
// absolute; ignored options vanish; unknown ones and missing values fail.
func TestParseHelper(t *testing.T) {
	h, err := parseHelper([]string{"h:/vm/100", "/mnt", "-o", "rw,dev,suid,allow_other,cache_size=512MiB,token_file=/etc/t,fingerprint=ab:cd,x-systemd.automount,noexec"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--allow-other", "--cache-size=512MiB", "--token-file=/etc/t", "--fingerprint=ab:cd"}
	if !slices.Equal(h.flags, want) || !h.noexec || h.source != "h:/vm/100" || h.mountpoint != "/mnt" {
		t.Errorf("got %+v, want flags %q and noexec", h, want)
	}
	for _, opts := range []string{"bogus", "cache-size=1M", "cache_size", "cache_size=lots", "serve"} {
		_, err := parseHelper([]string{"h:/vm/100", "/mnt", "-o", opts})
		if err == nil {
			t.Errorf("-o %s: no error", opts)
		}
		if opts == "bogus" && !errors.Is(err, errMountOption) {
			t.Errorf("-o bogus: %v, want errMountOption", err)
		}
	}
}
