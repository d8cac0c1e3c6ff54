package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// completionScript runs `backupfs completion SHELL` in-process and writes
// the script to a file.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), env{stdout: &out, stderr: &errb}, []string{"completion", shell}); code != 0 {
		t.Fatalf("completion %s: exit %d: %s", shell, code, errb.String())
	}
	p := filepath.Join(t.TempDir(), "backupfs."+shell)
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCompletionFlagSets: the flags of every command in the table are
// collected from its own flag set.
func TestCompletionFlagSets(t *testing.T) {
	cmds, err := completionCommands()
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != len(commands) {
		t.Fatalf("completion knows %d commands, the table has %d", len(cmds), len(commands))
	}
	for _, c := range cmds {
		if c.name == "mount" && !slices.ContainsFunc(c.flags, func(f *pflag.Flag) bool { return f.Name == "cache-size" }) {
			t.Errorf("mount's flags lack --cache-size")
		}
	}
}

// TestCompletionBash: the bash script parses (bash -n), and the function
// it registers completes, with COMP_WORDS set as bash sets them: a
// command from its start, a command's flag, a flag's choices (both
// --flag VALUE and --flag=VALUE), a subcommand word and a file name.
func TestCompletionBash(t *testing.T) {
	script := completionScript(t, "bash")
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	dir := t.TempDir() // file names complete from here
	os.WriteFile(filepath.Join(dir, "cfile"), nil, 0o644)
	for _, tc := range []struct {
		words string // COMP_WORDS, the last one being completed
		want  []string
	}{
		{`backupfs sn`, []string{"snapshots"}},
		{`backupfs mount --cache-s`, []string{"--cache-size"}},
		{`backupfs serve --log-format ""`, []string{"text", "json"}},
		{`backupfs serve --log-format = j`, []string{"json"}},
		{`backupfs token c`, []string{"create", "cfile"}},
		{`backupfs mount --datastore c`, []string{"cfile"}},
		{`backupfs completion f`, []string{"fish"}},
	} {
		n := strconv.Itoa(len(strings.Fields(tc.words)) - 1)
		cmd := exec.Command("bash", "-c", `source "$1"; COMP_WORDS=(`+tc.words+`); COMP_CWORD=`+n+
			`; _backupfs; printf '%s\n' "${COMPREPLY[@]}"`, "bash", script)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		got := strings.Fields(string(out))
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("completing %q: got %q (%v), want %q", tc.words, got, err, tc.want)
		}
	}
}

// TestCompletionZshFish: the zsh script parses (zsh -n); the fish script
// parses (fish -n) and completes a command and a flag (complete -C). Both
// shells are needed (apt-get install zsh fish).
func TestCompletionZshFish(t *testing.T) {
	zsh := completionScript(t, "zsh")
	if out, err := exec.Command("zsh", "-n", zsh).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	// zsh's completion system needs a terminal; with its functions
	// stubbed to print what they are given, _backupfs shows it offers the
	// commands for the second word and a command's flag specs after it.
	for _, tc := range []struct{ words, current, want string }{
		{"backupfs sn", "2", "snapshots:list snapshots with their size and new bytes"},
		{"backupfs mount --cache-s", "3", "--cache-size=[memory for cached chunks (e.g. 512MiB)]:cache-size:_files"},
		{"backupfs serve --log-format ''", "4", "--log-format=[log line format on stderr: text or json]:log-format:(text json)"},
	} {
		out, err := exec.Command("zsh", "-f", "-c", `compdef(){}; _describe(){ print -l -- ${(P)4} }; _arguments(){ print -l -- "$@" }; `+
			`source $1; words=(`+tc.words+`); CURRENT=`+tc.current+`; _backupfs`, "zsh", zsh).CombinedOutput()
		if err != nil || !slices.Contains(strings.Split(string(out), "\n"), tc.want) {
			t.Errorf("zsh completing %q: %v, want a line %q in:\n%s", tc.words, err, tc.want, out)
		}
	}
	fish := completionScript(t, "fish")
	if out, err := exec.Command("fish", "-n", fish).CombinedOutput(); err != nil {
		t.Fatalf("fish -n: %v\n%s", err, out)
	}
	for line, want := range map[string]string{
		"backupfs sn":              "snapshots",
		"backupfs mount --cache-s": "--cache-size",
		"backupfs serve --log-f":   "--log-format",
	} {
		out, err := exec.Command("fish", "-c", `source $argv[1]; complete -C "`+line+`"`, fish).CombinedOutput()
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			got = append(got, strings.SplitN(l, "\t", 2)[0])
		}
		if err != nil || !slices.Equal(got, []string{want}) {
			t.Errorf("fish completing %q: got %q (%v), want %q", line, got, err, want)
		}
	}
}

// TestCompletionUnknownShell: a shell it has no script for is one clear
// error.
func TestCompletionUnknownShell(t *testing.T) {
	err := cmdCompletion(context.Background(), env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}, []string{"tcsh"})
	if !errors.Is(err, errShell) || !strings.Contains(err.Error(), "bash, zsh or fish") {
		t.Errorf("completion tcsh: %v", err)
	}
}
