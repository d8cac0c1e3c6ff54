package server

import "sync/atomic"

// Activity counts requests and backup sessions since NewServer, for
// monitoring (backupfs serve --metrics-listen); with Stats it is what the
// server exposes.
type Activity struct {
	Requests       int64 // requests received (UPLOAD_FILE data frames are not requests)
	Errors         int64 // requests answered with ERROR (BUSY, DENIED, NOT_FOUND, CANCELED... all codes)
	BackupsBegun   int64 // backup sessions started (BACKUP_READY sent)
	BackupsAborted int64 // backup sessions that ended without publishing (abort, disconnect, shutdown)
	BackupsRunning int64 // sessions open now: begun - published (Stats.Snapshots) - aborted
}

// srvActivity are the atomics behind Activity.
type srvActivity struct{ requests, errors, begun, aborted atomic.Int64 }

// Activity returns the server's request and backup counters.
func (s *Server) Activity() Activity {
	a := &s.act
	begun, aborted := a.begun.Load(), a.aborted.Load()
	return Activity{Requests: a.requests.Load(), Errors: a.errors.Load(), BackupsBegun: begun,
		BackupsAborted: aborted, BackupsRunning: begun - s.stats.published.Load() - aborted}
}
