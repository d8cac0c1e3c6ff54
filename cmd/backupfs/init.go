package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/backupfs/backupfs/store"
)

func cmdInit(_ context.Context, e env, args []string) error {
	var datastore string
	fs := flags(e, "init")
	datastoreFlag(fs, &datastore)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("init takes no arguments")
	}
	return runInit(e, datastore)
}

// runInit creates a datastore in a missing or empty directory. One that
// exists already is left alone and reported, with exit 0 (init is safe to
// repeat in a script); a directory holding anything else is refused.
func runInit(e env, datastore string) error {
	if isS3(datastore) {
		return initS3(e, datastore)
	}
	dir, err := datastoreDir(datastore)
	if err != nil {
		return err
	}
	s, err := store.Init(dir, store.Options{})
	if errors.Is(err, store.ErrExists) {
		fmt.Fprintf(e.stdout, "datastore %s exists already\n", dir)
		return nil
	}
	if err != nil {
		return fmt.Errorf("datastore %s: %w", dir, err)
	}
	fmt.Fprintf(e.stdout, "created datastore %s\n", s.Dir())
	return nil
}

// demoServerState opens the demo's datastore: the default one is made if
// it does not exist (the quickstart is one command), a --datastore given
// by hand must exist, as for every other command.
func demoServerState(e env, datastore string) (*serverState, error) {
	if datastore == "" {
		dir, err := defaultDatastore()
		if err != nil {
			return nil, err
		}
		s, err := store.Init(dir, store.Options{})
		if err == nil {
			fmt.Fprintf(e.stdout, "created datastore %s\n", s.Dir())
			return serverStateOf(s.Datastore(), s.Dir())
		}
		if !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrNotDatastore) {
			return nil, fmt.Errorf("datastore %s: %w", dir, err)
		}
	}
	return openServerState(datastore)
}
