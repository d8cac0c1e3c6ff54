package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// Shell completion. `backupfs completion bash|zsh|fish` prints a script
// generated from the command table (commands and their summaries) and
// from each command's own flag set: the flag sets are collected by
// running every command with --help and a hook in env that keeps the set
// flags() made, so a flag added to a command is completed without more
// code. A command must therefore make its flag set with flags() and parse
// it before doing anything (every command does; TestCompletionFlagSets
// fails for one that does not). A flag whose value type reads "a|b"
// (--log-format's "text|json") completes those words; other flags taking
// a value, and arguments, complete file names. spf13/cobra would generate
// the same scripts, but only for commands moved to cobra, which is a
// rewrite of the CLI; the scripts here are short.

// errShell is the error of a shell completion does not know.
var errShell = errors.New("no completion for shell")

// compCommand is one command as completion sees it.
type compCommand struct {
	name, summary string
	flags         []*pflag.Flag
}

func cmdCompletion(_ context.Context, e env, args []string) error {
	f := flags(e, "completion")
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return fmt.Errorf("want one shell: bash, zsh or fish")
	}
	cmds, err := completionCommands()
	if err != nil {
		return err
	}
	switch f.Arg(0) {
	case "bash":
		return bashCompletion(e.stdout, cmds)
	case "zsh":
		return zshCompletion(e.stdout, cmds)
	case "fish":
		return fishCompletion(e.stdout, cmds)
	}
	return fmt.Errorf("%w %q: want bash, zsh or fish", errShell, f.Arg(0))
}

// completionCommands collects every command's flags (see the doc above),
// sorted by command name.
func completionCommands() ([]compCommand, error) {
	var out []compCommand
	for _, name := range commandNames() {
		fs, err := commandFlags(name)
		if err != nil {
			return nil, err
		}
		c := compCommand{name: name, summary: commands[name].summary}
		fs.VisitAll(func(fl *pflag.Flag) { c.flags = append(c.flags, fl) })
		out = append(out, c)
	}
	return out, nil
}

// commandFlags is the flag set of a command in the table, collected by
// running it with --help (see the doc above).
func commandFlags(name string) (*pflag.FlagSet, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a command that ran anyway stops at once
	var got *pflag.FlagSet
	e := env{stdout: io.Discard, stderr: io.Discard, flagSet: func(fs *pflag.FlagSet) { got = fs }}
	if err := commands[name].run(ctx, e, []string{"--help"}); !errors.Is(err, pflag.ErrHelp) || got == nil {
		return nil, fmt.Errorf("command %s does not parse its flags with flags() first (%v)", name, err)
	}
	return got, nil
}

// commandNames is the command table's names, sorted.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// takesValue reports whether fl needs a value (bools do not).
func takesValue(fl *pflag.Flag) bool { return fl.NoOptDefVal == "" }

// choices are the words a flag's value may be ("a|b" value types), or nil
// for any (a file name).
func choices(fl *pflag.Flag) []string {
	if t := fl.Value.Type(); strings.Contains(t, "|") {
		return strings.Split(t, "|")
	}
	return nil
}

// positional are the fixed words a command's arguments complete to.
var positional = map[string][]string{
	"completion": {"bash", "zsh", "fish"},
	"token":      {"create", "list", "revoke"},
}
