// Package objstore is the backupfs datastore on an S3-compatible object
// store (AWS S3, MinIO, versitygw, Ceph RGW, ...): the same contract as the
// directory store (store.Datastore, proved by store/storetest against a
// real versitygw), with the same blob format (store.EncodeBlob) and the
// same names and checks (store.ValidIndexName, store.DecodeIndexFile).
//
// # Client
//
// aws-sdk-go-v2's S3 client: PutObject has IfNoneMatch (the conditional
// PUT publishing rests on), path-style addressing for self-hosted stores,
// and a standard retryer. Every request runs under Config.Timeout
// (60 s) with up to Config.MaxAttempts (8) attempts, backoff with jitter
// up to 5 s, on 5xx, 503 SlowDown, throttling and connection errors, with
// the SDK's client-side retry quota off (a store that is down is retried
// until the deadline). Then it fails with one error wrapping
// ErrUnavailable; a refusal (403: wrong credentials) wraps ErrAccess and
// is found at Open, which asks for the bucket (HeadBucket) first. Init
// creates a missing bucket. Payloads are sent UNSIGNED-PAYLOAD (the
// signature covers the request; a blob carries its own CRC and digest), so
// neither end hashes every chunk once more for SigV4. Requests are counted
// by kind, and the connections opened (Store.Requests; serve logs them at
// shutdown, bench/s3.sh reports them). The HTTP client keeps up to 128
// idle connections: the SDK's default of 10 per host is fewer than the
// reads remote/server keeps in flight, which the store sets with
// ReadConcurrency (64: each read is a round trip). A self-hosted store
// must keep connections alive too (versitygw: --keep-alive).
//
// Every chunk is an object, so every chunk read is a GET, and on a small
// machine the object store's work per request, not the bytes, bounds a
// sequential read: bench/s3.sh's dd of a 1 GiB image through serve took
// 5,700 GETs, and versitygw spent 3.2 CPU s on them, more than the
// server (2.3-2.6) or the mount (2.7-3.0). So the store asks backups for
// 1 MiB image chunks (ImageChunkSize, chunker.LargeFixedSize; a server
// passes the advice on in HELLO, wire.FeatureLargeChunks): 8x fewer
// objects and requests per GiB, billed or served, for ~1.3 ms more decode
// per cold random read, small beside a GET. Tree streams keep their
// 128 KiB average.
//
// # Layout (under s3://BUCKET/PREFIX/)
//
//	backupfs-datastore                    marker, put by Init with If-None-Match
//	chunks/<first 4 hex>/<64 hex>         chunk blobs, one object each
//	touched/<first 4 hex>/<64 hex>        empty: the chunk's last touch (below)
//	snapshots/<type>/<id>/<time>/<file>   index files, manifest.json, and
//	                                      "writing" while a writer holds it
//	holds/<type>/<id>/<time>/<random>     a backup holds the snapshot as its base
//	forgetting/<type>/<id>/<time>         a Forget is under way
//	bad/<64 hex>                          chunks Verify found corrupt (the blob) or missing (empty)
//	gc-clock                              rewritten at each GC start: the store's "now"
//
// No key is a "directory" of another (versitygw's POSIX backend cannot
// hold both a and a/b). Chunks are not packed (the lead's decision, after
// issue 13 found the server's disk is not the limit of the read path).
//
// # Publishing
//
// Begin puts the snapshot's "writing" object with If-None-Match (one
// writer per snapshot, across processes: ErrExists). Index files go under
// the snapshot's final prefix; the writer keeps their bytes for Commit's
// checks. Commit checks as the directory store does, touches every chunk
// not in the base (MissingChunksError), puts manifest.json last with
// If-None-Match, and deletes "writing". A snapshot is visible (Snapshots,
// Groups, ReadFile) only when its manifest exists; ReadFile serves an
// index file only after seeing the manifest. Forget deletes the manifest
// first. A writer that dies leaves objects without a manifest: invisible,
// and removed by GC once none is younger than the grace; its "writing"
// object keeps Begin of the same snapshot refused until then (the
// directory store can reclaim it at once, seeing no flock; S3 has no
// liveness to ask). Abort deletes the snapshot's objects; the chunks it
// stored are left for GC (the directory store removes them at once).
//
// # GC's clock and touching
//
// GC's cut-off is (LastModified of gc-clock, written at GC start) minus
// the grace: the store's time, never this machine's. A chunk's age is that
// of the newer of its object and its touch object. Touching a chunk (a put
// of a stored chunk, Commit's check) writes its empty touch object: on AWS
// a copy of an object onto itself would move LastModified, but versitygw's
// POSIX backend keeps the file's mtime then (tested: TestTouchObject), and
// an empty PUT costs the same everywhere. The sweep lists touched/ and
// chunks/, and takes each candidate (unmarked, both older than the
// cut-off) again with HEADs under the chunk's lock before deleting it, so
// a touch in this process between the listing and the delete keeps it.
// The mark phase reads every index object of every snapshot prefix,
// published or in progress, and marks in memory; it touches nothing
// (the sweep consults the marks, and a snapshot published after the
// listing had its chunks touched by its Commit, or held its base). As
// with the directory store, GC must run in the process that runs the
// backups (the server): the chunk locks do not span processes.
//
// # The existence cache
//
// A bounded set of the chunks known stored (Config.CacheEntries, 4 Mi
// entries, ~100 bytes each), filled by one listing of chunks/ at the first
// put and kept up to date by this process's puts, GC and Verify. While it
// is complete, a chunk it lacks is put at once (one PUT, no lookup); a
// chunk this process wrote or touched less than touchWindow (10 min, by
// its own clock: a duration, never compared with the store's times) ago
// is not touched again, which shortens the effective grace by at most
// that. A wrong entry costs a request or rewrites a chunk, never loses
// one: Commit never takes the cache's word that a chunk is missing, and
// HasChunk always asks. With Config.CacheFile (serve: in its state
// directory) the set outlives the process: Close writes it, the next run
// reads it instead of listing every chunk (cachefile.go).
//
// # The index file cache
//
// Published index files read are kept in a byte-bounded LRU
// (Config.FileCacheBytes, 64 MiB; filecache.go): they never change until
// Forget, which drops them. Manifests are never cached, so a snapshot
// forgotten by another process stops being served at its manifest.
//
// # Bases across processes
//
// See base.go: a hold object and a forgetting marker, each written before
// the other is looked for, so a base cannot be forgotten under a backup in
// any process.
//
// # What it must not do
//
// Never make a snapshot visible before its manifest is put, never put a
// manifest whose chunks were not all found stored (touched) or in a held
// base, never return a chunk's bytes unchecked, never delete a chunk a
// published snapshot references.
package objstore
