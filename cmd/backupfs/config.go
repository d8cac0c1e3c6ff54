package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// Config file. `serve --config FILE` reads the server's settings from a
// file beside the flags: one `key = value` a line, the key a serve flag's
// name (- or _ alike: max_conns is --max-conns), the value bare or in
// double quotes (then \" and \\ are escapes); blank lines and lines
// starting with # are skipped, and so is a # after a space that ends a
// bare value; an optional [serve] header line is allowed (TOML-like),
// another section is an error. A flag given on the command line wins over
// the file. An unknown key, a key twice, a bad value or a line that is
// none of these is an error naming FILE:LINE; the server does not start.

// errConfig is the error of a config file line that does not parse.
var errConfig = errors.New("config")

// configEntry is one key = value line.
type configEntry struct {
	key, value string
	line       int
}

// repeatableKeys may be given on several lines, one value each (flags that
// take a list: serve --job).
var repeatableKeys = map[string]bool{"job": true}

// maxConfigLine bounds a config line.
const maxConfigLine = 64 << 10

// parseConfig reads a config file's entries.
func parseConfig(r io.Reader) ([]configEntry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxConfigLine)
	var out []configEntry
	seen := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l == "[serve]" {
			continue
		}
		e, err := parseConfigLine(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if prev, dup := seen[e.key]; dup && !repeatableKeys[e.key] {
			return nil, fmt.Errorf("line %d: %w: %s set again (first on line %d)", n, errConfig, e.key, prev)
		}
		seen[e.key] = n
		e.line = n
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	return out, nil
}

// parseConfigLine parses one trimmed, non-blank, non-comment line.
func parseConfigLine(l string) (configEntry, error) {
	k, v, ok := strings.Cut(l, "=")
	if !ok {
		return configEntry{}, fmt.Errorf("%w: want key = value, got %q", errConfig, l)
	}
	k = strings.ReplaceAll(strings.TrimSpace(k), "_", "-")
	if k == "" || strings.TrimLeft(k, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return configEntry{}, fmt.Errorf("%w: bad key %q", errConfig, k)
	}
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, `"`) {
		s, rest, err := unquoteConfig(v)
		if err != nil {
			return configEntry{}, fmt.Errorf("%w: %s: %w", errConfig, k, err)
		}
		if rest = strings.TrimSpace(rest); rest != "" && rest[0] != '#' {
			return configEntry{}, fmt.Errorf("%w: %s: text after the closing quote: %q", errConfig, k, rest)
		}
		return configEntry{key: k, value: s}, nil
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	} else if i := strings.Index(v, "\t#"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return configEntry{key: k, value: v}, nil
}

// unquoteConfig reads a double-quoted value at the start of v and returns
// it and what follows the closing quote.
func unquoteConfig(v string) (string, string, error) {
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch c := v[i]; c {
		case '"':
			return b.String(), v[i+1:], nil
		case '\\':
			if i+1 == len(v) || (v[i+1] != '"' && v[i+1] != '\\') {
				return "", "", errors.New(`in quotes only \" and \\ are escapes`)
			}
			i++
			b.WriteByte(v[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("no closing quote")
}

// quoteConfig is the quoted form of s that unquoteConfig reads back.
func quoteConfig(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// applyConfigFile sets the flags of fs the file names and the command
// line did not set.
func applyConfigFile(fs *pflag.FlagSet, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	entries, err := parseConfig(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { onCommandLine[f.Name] = true })
	for _, e := range entries {
		fl := fs.Lookup(e.key)
		if fl == nil || e.key == "config" || e.key == "help" {
			return fmt.Errorf("%s:%d: %w: unknown key %s", path, e.line, errConfig, e.key)
		}
		if onCommandLine[e.key] {
			continue // the command line wins
		}
		if err := fs.Set(e.key, e.value); err != nil {
			return fmt.Errorf("%s:%d: %s = %s: %w", path, e.line, e.key, strconv.Quote(e.value), err)
		}
	}
	return nil
}
