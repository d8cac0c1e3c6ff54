package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/backupfs/backupfs/remote/auth"
)

type tokenOptions struct {
	datastore string
	allow     []string
}

func cmdToken(_ context.Context, e env, args []string) error {
	var o tokenOptions
	fs := flags(e, "token")
	datastoreFlag(fs, &o.datastore)
	stateDirFlag(fs)
	fs.StringArrayVar(&o.allow, "allow", nil, "with create: read:PATTERN or backup:PATTERN (repeatable); PATTERN is a group glob: *, vm/*, host/web1")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return runToken(e, o, fs.Args())
}

// runToken manages the server's tokens: create NAME, list, revoke NAME.
// A running server sees the change without a restart.
func runToken(e env, o tokenOptions, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("want create NAME, list, or revoke NAME")
	}
	st, err := openServerState(o.datastore)
	if err != nil {
		return err
	}
	toks := st.tokens
	switch {
	case args[0] == "create" && len(args) == 2:
		if len(o.allow) == 0 {
			return fmt.Errorf("token create: give at least one --allow read:PATTERN or --allow backup:PATTERN")
		}
		var rules []auth.Rule
		for _, a := range o.allow {
			r, err := auth.ParseRule(a)
			if err != nil {
				return err
			}
			rules = append(rules, r)
		}
		secret, err := toks.Create(args[1], rules)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "token %s created; the secret is shown only now (use it as BACKUPFS_TOKEN):\n", args[1])
		fmt.Fprintln(e.stdout, secret)
		return nil
	case args[0] == "list" && len(args) == 1:
		list, err := toks.List()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
		for _, t := range list {
			rules := make([]string, len(t.Rules))
			for i, r := range t.Rules {
				rules[i] = r.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Created.UTC().Format("2006-01-02T15:04:05Z"), strings.Join(rules, " "))
		}
		return tw.Flush()
	case args[0] == "revoke" && len(args) == 2:
		if err := toks.Revoke(args[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "token %s revoked\n", args[1])
		return nil
	}
	return fmt.Errorf("want create NAME, list, or revoke NAME")
}

func cmdFingerprint(_ context.Context, e env, args []string) error {
	var datastore string
	fs := flags(e, "fingerprint")
	datastoreFlag(fs, &datastore)
	stateDirFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("fingerprint takes no arguments")
	}
	st, err := openServerState(datastore)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, auth.Fingerprint(st.cert))
	return nil
}
