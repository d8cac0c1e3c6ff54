package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/backupfs/backupfs/jobs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/backupfs/backupfs/cache"
	"github.com/backupfs/backupfs/remote/server"
)

// Metrics. `serve --metrics-listen ADDR` and `mount --metrics-listen ADDR`
// serve GET /metrics in the Prometheus text exposition format (0.0.4)
// over plain HTTP on an address of their own (keep it on loopback or a
// management network: it needs no token): the server's requests, errors,
// bytes, connections, chunks and backups; the mount's cache statistics
// (what SIGUSR1 prints). Written by hand rather than with
// prometheus/client_golang: the format is three lines per metric, the
// counters already are atomics in the server and the cache, and the
// library would add about ten modules (client_model, common, procfs,
// protobuf...) for that; what it would add on top, go_* and process_*
// metrics, node_exporter covers per machine.

// metric is one exposed counter or gauge.
type metric struct {
	name, kind, help string
	value            func() int64
}

// serverMetrics are the server's metrics, read from srv at each scrape.
func serverMetrics(srv *server.Server, sched *jobs.Scheduler) []metric {
	s := func(f func(server.ServerStats) int64) func() int64 { return func() int64 { return f(srv.Stats()) } }
	a := func(f func(server.Activity) int64) func() int64 { return func() int64 { return f(srv.Activity()) } }
	const p = "backupfs_server_"
	return []metric{
		{p + "requests_total", "counter", "Requests received.", a(func(a server.Activity) int64 { return a.Requests })},
		{p + "request_errors_total", "counter", "Requests answered with an error (busy, denied, not found, canceled...).", a(func(a server.Activity) int64 { return a.Errors })},
		{p + "received_bytes_total", "counter", "Frame bytes read from clients after HELLO.", s(func(s server.ServerStats) int64 { return s.BytesReceived })},
		{p + "sent_bytes_total", "counter", "Frame bytes written to clients.", s(func(s server.ServerStats) int64 { return s.BytesSent })},
		{p + "connections_total", "counter", "Connections accepted.", s(func(s server.ServerStats) int64 { return s.Connections })},
		{p + "connections_open", "gauge", "Connections open now.", s(func(s server.ServerStats) int64 { return s.Open })},
		{p + "connections_handshaking", "gauge", "Connections open now that have not finished TLS and HELLO.", s(func(s server.ServerStats) int64 { return s.Handshaking })},
		{p + "connections_refused_total", "counter", "Connections closed at accept over a connection bound.", s(func(s server.ServerStats) int64 { return s.Refused })},
		{p + "chunks_served_total", "counter", "Chunks sent to readers.", s(func(s server.ServerStats) int64 { return s.ChunksServed })},
		{p + "chunks_missing_total", "counter", "Chunk requests answered MISSING.", s(func(s server.ServerStats) int64 { return s.ChunksMissing })},
		{p + "chunks_uploaded_new_total", "counter", "Uploaded chunks stored.", s(func(s server.ServerStats) int64 { return s.ChunksNew })},
		{p + "chunks_uploaded_known_total", "counter", "Uploaded chunks the datastore already had.", s(func(s server.ServerStats) int64 { return s.ChunksKnown })},
		{p + "backups_running", "gauge", "Backup sessions open now.", a(func(a server.Activity) int64 { return a.BackupsRunning })},
		{p + "backups_committed_total", "counter", "Backups published.", s(func(s server.ServerStats) int64 { return s.Snapshots })},
		{p + "backups_aborted_total", "counter", "Backup sessions ended without publishing (abort, disconnect, shutdown).", a(func(a server.Activity) int64 { return a.BackupsAborted })},
		{p + "job_failures_total", "counter", "Scheduled job runs (serve --job) that failed, or whose verify found bad chunks.", func() int64 { return int64(sched.Failures()) }},
	}
}

// mountMetrics are a mount's cache statistics, read from c at each scrape.
func mountMetrics(c *cache.Cache) []metric {
	s := func(f func(cache.Stats) int64) func() int64 { return func() int64 { return f(c.Stats()) } }
	const p = "backupfs_mount_cache_"
	return []metric{
		{p + "hits_total", "counter", "Demand reads served from memory.", s(func(s cache.Stats) int64 { return s.Hits })},
		{p + "misses_total", "counter", "Demand reads not in memory.", s(func(s cache.Stats) int64 { return s.Misses })},
		{p + "disk_hits_total", "counter", "Chunks loaded from the disk tier.", s(func(s cache.Stats) int64 { return s.DiskHits })},
		{p + "zero_hits_total", "counter", "All-zero chunks served without fetching.", s(func(s cache.Stats) int64 { return s.ZeroHits })},
		{p + "fetches_total", "counter", "Chunk fetches from the server or datastore.", s(func(s cache.Stats) int64 { return s.Fetches })},
		{p + "fetch_errors_total", "counter", "Chunk fetches that failed.", s(func(s cache.Stats) int64 { return s.FetchErrors })},
		{p + "fetched_bytes_total", "counter", "Plain bytes fetched.", s(func(s cache.Stats) int64 { return s.BytesFetched })},
		{p + "readahead_issued_total", "counter", "Fetches started by readahead.", s(func(s cache.Stats) int64 { return s.ReadaheadIssued })},
		{p + "readahead_used_total", "counter", "Readahead chunks a read then used.", s(func(s cache.Stats) int64 { return s.ReadaheadUsed })},
		{p + "evictions_total", "counter", "Chunks dropped from memory.", s(func(s cache.Stats) int64 { return s.Evictions })},
		{p + "bytes", "gauge", "Plain bytes in memory now.", s(func(s cache.Stats) int64 { return s.Bytes })},
	}
}

// writeMetrics formats ms in the text format.
func writeMetrics(b *bytes.Buffer, ms []metric) {
	for _, m := range ms {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", m.name, m.help, m.name, m.kind, m.name, m.value())
	}
}

// startMetrics serves ms at http://addr/metrics until the returned stop;
// with addr "" it serves nothing.
func startMetrics(addr string, ms []metric, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		writeMetrics(&b, ms)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Write(b.Bytes())
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	log.Info("metrics", "addr", ln.Addr().String(), "path", "/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	}, nil
}
