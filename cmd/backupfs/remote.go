package main

import "fmt"

// dialRepo connects to a backupfs server.
func dialRepo(o repoOptions, addr string) (repo, error) {
	return nil, fmt.Errorf("%s: remote repositories are not supported yet", addr)
}
