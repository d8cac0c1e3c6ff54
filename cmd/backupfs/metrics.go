package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/backupfs/backupfs/remote/server"
)

// Metrics. `serve --metrics-listen ADDR` serves GET /metrics in the
// Prometheus text exposition format (0.0.4) over plain HTTP on a separate
// address (keep it on loopback or a management network: it needs no
// token). Written by hand rather than with prometheus/client_golang: the
// format is a few lines of text per counter, all counters already live in
// the server as atomics, and the library would add about ten modules
// (client_model, common, procfs, protobuf...) for that; what it would add
// on top, go_* and process_* metrics, node_exporter covers per machine.

// metric is one exposed counter or gauge.
type metric struct {
	name, kind, help string
	value            func(server.ServerStats, server.Activity) int64
}

var serverMetrics = []metric{
	{"backupfs_server_requests_total", "counter", "Requests received.", func(_ server.ServerStats, a server.Activity) int64 { return a.Requests }},
	{"backupfs_server_request_errors_total", "counter", "Requests answered with an error (busy, denied, not found, canceled...).", func(_ server.ServerStats, a server.Activity) int64 { return a.Errors }},
	{"backupfs_server_received_bytes_total", "counter", "Frame bytes read from clients after HELLO.", func(s server.ServerStats, _ server.Activity) int64 { return s.BytesReceived }},
	{"backupfs_server_sent_bytes_total", "counter", "Frame bytes written to clients.", func(s server.ServerStats, _ server.Activity) int64 { return s.BytesSent }},
	{"backupfs_server_connections_total", "counter", "Connections accepted.", func(s server.ServerStats, _ server.Activity) int64 { return s.Connections }},
	{"backupfs_server_connections_open", "gauge", "Connections open now.", func(s server.ServerStats, _ server.Activity) int64 { return s.Open }},
	{"backupfs_server_connections_handshaking", "gauge", "Connections open now that have not finished TLS and HELLO.", func(s server.ServerStats, _ server.Activity) int64 { return s.Handshaking }},
	{"backupfs_server_connections_refused_total", "counter", "Connections closed at accept over a connection bound.", func(s server.ServerStats, _ server.Activity) int64 { return s.Refused }},
	{"backupfs_server_chunks_served_total", "counter", "Chunks sent to readers.", func(s server.ServerStats, _ server.Activity) int64 { return s.ChunksServed }},
	{"backupfs_server_chunks_missing_total", "counter", "Chunk requests answered MISSING.", func(s server.ServerStats, _ server.Activity) int64 { return s.ChunksMissing }},
	{"backupfs_server_chunks_uploaded_new_total", "counter", "Uploaded chunks stored.", func(s server.ServerStats, _ server.Activity) int64 { return s.ChunksNew }},
	{"backupfs_server_chunks_uploaded_known_total", "counter", "Uploaded chunks the datastore already had.", func(s server.ServerStats, _ server.Activity) int64 { return s.ChunksKnown }},
	{"backupfs_server_backups_running", "gauge", "Backup sessions open now.", func(_ server.ServerStats, a server.Activity) int64 { return a.BackupsRunning }},
	{"backupfs_server_backups_committed_total", "counter", "Backups published.", func(s server.ServerStats, _ server.Activity) int64 { return s.Snapshots }},
	{"backupfs_server_backups_aborted_total", "counter", "Backup sessions ended without publishing (abort, disconnect, shutdown).", func(_ server.ServerStats, a server.Activity) int64 { return a.BackupsAborted }},
}

// writeMetrics formats the server's counters in the text format.
func writeMetrics(b *bytes.Buffer, s server.ServerStats, a server.Activity) {
	for _, m := range serverMetrics {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", m.name, m.help, m.name, m.kind, m.name, m.value(s, a))
	}
}

// startMetrics serves /metrics on addr until the returned stop.
func startMetrics(addr string, srv *server.Server, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		writeMetrics(&b, srv.Stats(), srv.Activity())
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
