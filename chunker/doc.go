// Package chunker cuts a byte stream into chunks: by content for tree
// archives (so that an edit changes only the chunks around it), or at fixed
// offsets for image archives.
//
// # Contract
//
// A Writer (NewWriter, NewFixedWriter) is push-style: the backup code writes
// a stream into it (for a tree archive, file contents concatenated in catalog
// order) and receives every completed chunk through its emit function; Close
// emits the last, short chunk. Split is the pull-style equivalent over an
// io.Reader.
//
//   - Cut points depend only on the bytes and the Params, never on how the
//     stream was divided into Write calls (tested byte by byte, in random
//     pieces and all at once, and fuzzed by FuzzWriter).
//   - Every chunk is within [Min, Max] except the last of a stream, which may
//     be shorter; no chunk is empty; the chunks concatenate to the input.
//   - One internal buffer of Max bytes; a chunk lying inside one Write is
//     emitted from the caller's slice without a copy. No allocation per
//     chunk. The emitted slice is valid only during the emit call and must
//     not be modified or retained.
//   - The package must not hash chunks for identity, compress, do I/O
//     (except reading Split's reader), start goroutines, or panic on input.
//     Digests and uploads are the caller's business.
//   - The gear table (from splitmix64 with a fixed seed, generated here) and
//     the cut rule are part of the format: changing either moves every cut
//     point and loses dedup against all existing backups. TestGolden pins
//     them.
//
// # Algorithm: gear with normalized chunking (FastCDC)
//
// The rolling hash is gear: h = h<<1 + table[byte], so a byte's influence
// leaves the 64-bit state after 64 bytes and only the high bits see all of
// them; cut conditions therefore test the top bits. The first Min bytes of a
// chunk are not hashed at all (no cut can fall there). Normalized chunking,
// level 2: until offset Avg the mask has log2(Avg)+2 bits (cuts 4x rarer),
// from Avg on log2(Avg)-2 bits (4x likelier), and the chunk is cut at Max at
// the latest. This squeezes sizes around Avg (measured mean 1.15-1.2*Avg
// with Min = Avg/4).
//
// The alternative measured in the same run was buzhash (cyclic polynomial,
// 64-byte window, as in borg and casync) with the classic unnormalized rule:
// skip Min bytes, cut where the low log2(Avg) bits are zero. It stays in
// buzhash_test.go as the comparison. Same data, same Params
// (Min = Avg/4, Max = 4*Avg), AMD EPYC with SHA-NI, 2 shared cores:
//
//	                       gear (chosen)      buzhash
//	cut loop, MB/s         2100-2400          1500-1600   (BenchmarkGear, BenchmarkBuzhash)
//	GOROOT/src, avg 128K:
//	  mean / stddev        153K / 60K         177K / 138K
//	  chunks cut at Max    5                  43
//	  byte-weighted median 157K               263K        (size of the chunk a random read fetches)
//	  stored per 100-byte
//	  insert               137 KiB            229 KiB
//	random, avg 128K:
//	  mean / stddev        147K / 44K         159K / 118K
//	  stored per insert    140 KiB            380 KiB
//
// Gear wins on every count: ~50% faster, a stddev two to three times
// smaller (so fewer chunks cut at Max, whose cut points are not content
// defined), a byte-weighted median much closer to Avg (which is what a
// random read pays for), and less stored again per insert at every avg up
// to 1M on both corpora. Buzhash stores fewer bytes in some whole-file
// rewrite cases (random corpus, avg 128K: 0.75% vs 1.05%; avg 4M: 5.5% vs
// 7.1%), a side effect of its wider size spread rather than a better cut
// rule; it does not outweigh the rest.
//
// # Defaults by measurement
//
// Reproduce with (about 15 s of one core; reads $(go env GOROOT)/src):
//
//	BACKUPFS_MEASURE=1 go test -run TestMeasure -v ./chunker
//
// Corpora: GOROOT/src of Go 1.26 concatenated in sorted walk order (11478
// files, 121 MiB) and a 256 MiB pseudo-random tree (407 files, sizes
// log-uniform 4 KiB..4 MiB). Edits: (a) 100 random bytes inserted in the
// middle of 1% of the files (114 resp. 4 files); (b) 1% of the files
// rewritten with new content of the same size (0.89% resp. 0.52% of the
// bytes). "ins" is the fraction of chunks new after (a) and the KiB stored
// per insert; "rw" the fraction of chunks and of bytes new after (b). Gear,
// Min = Avg/4, Max = 4*Avg (8 MiB at most):
//
//	corpus   avg   chunks/GiB  mean  sd    atMax  wmed   ins %ch / KiB  rw %ch / %bytes
//	goroot    64K  14082        74K   27K  6        77K   5.9 /   70     8.1 /  8.4
//	goroot   128K   6860       153K   60K  5       157K  11.3 /  137    12.4 / 13.3
//	goroot   256K   3485       301K  134K  3       310K  20.1 /  254    22.5 / 23.2
//	goroot     1M    901      1164K  392K  0      1210K  46.7 /  534    54.2 / 56.4
//	goroot     4M    236      4449K 1788K  2      4776K  85.7 /  978    89.3 / 96.1
//	random    64K  14420        73K   22K  0        75K   0.1 /   65     0.8 /  0.8
//	random   128K   7128       147K   44K  0       152K   0.2 /  140     1.1 /  1.1
//	random   256K   3620       290K   91K  0       302K   0.4 /  222     1.1 /  1.2
//	random     1M    920      1140K  314K  0      1183K   1.7 / 1242     2.2 /  2.1
//	random     4M    240      4369K 1473K  0      4913K   6.7 / 3164     6.7 /  7.1
//
// (GOROOT's files average 11 KB, so at 1 MiB and above nearly every chunk
// holds an edited file and dedup collapses: rewriting 0.9% of the bytes
// stores 56% of them again at 1M, 13% at 128K, 8% at 64K.)
//
// Cost of a cold random 4 KiB read, beyond the request itself: the client
// decodes the chunk (zstd, default level, as the store keeps it; raw when
// zstd does not shrink it) and checks its SHA-256. Median microseconds,
// same command:
//
//	size   GOROOT text (ratio ~3): zstd + sha = total   random (kept raw): sha
//	 64K                             48 +   35 =    83                       35
//	128K                            118 +   70 =   189                       70
//	256K                            190..277 + 140 = 330..419               139
//	512K                            407 +  280 =   707                      279
//	  1M                            717 +  562 =  1291                      564
//	  2M                           1381 + 1138 =  2534                     1142
//	  4M                           2995 + 2306 =  5275                     2301
//	  8M                           5831 + 4666 = 10485                     4584
//
// The mount must serve a cold random 4 KiB read at p50 <= 0.5 ms. That also
// pays the request round trip, the server's read of the blob, the transfer
// and FUSE, so the rule applied is: decode + verify of the chunk a random
// read lands in (the byte-weighted median, wmed above) may take at most half
// the budget, 0.25 ms, on compressible data. On CPUs without SHA extensions
// SHA-256 is several times slower, which argues for margin, not less.
//
// DefaultParams = {Min 32K, Avg 128K, Max 512K}. Its wmed is ~155K, about
// 0.23-0.25 ms (interpolated); avg 256K (wmed 310K, ~0.4-0.5 ms) would use the whole budget
// before the request is even sent, and 1M or more is 3-20x over. Against
// 64K, 128K halves the chunk count (6.9k chunks/GiB: ~270 KiB of dynamic
// index per GiB at 40 bytes per entry, ~7k chunk files and requests per GiB
// read) for about twice the bytes stored per small edit (137 vs 70 KiB).
// Max = 4*Avg bounds the worst chunk at 512K (~0.7 ms) while normalized
// chunking makes reaching it rare (5 chunks in 121 MiB of GOROOT, all in
// low-entropy runs).
//
// DefaultFixedSize = 128K for images, not 4 MiB: a 4 MiB chunk costs
// 5.3 ms (compressible) or 2.3 ms (raw) per cold random read, 5-10x the whole
// budget; 256K (0.33-0.42 ms) leaves almost nothing for the request; 128K
// (0.19 ms) fits the half-budget rule. The price is a larger fixed index,
// 32 bytes per chunk: 256 KiB per GiB of image (25 MiB for a 100 GiB disk,
// against 0.8 MiB at 4M), and 8k requests per GiB read sequentially, which
// the mount's concurrent readahead hides. All-zero chunks are recognised by
// digest and never fetched, so sparse images cost index entries only.
//
// Checked end to end with bench/run (1 GiB ext4 image of real files over
// loopback TLS, cold, fio psync 4 KiB random reads for 10 s, dd bs=1M;
// the two builds back to back, `bench/run --repeat 1 --only img,fio`):
//
//	image chunk            64K (experiment)   128K (default)
//	rand 1 job  p50 / p99  0.34 / 1.04 ms     0.43 / 1.29 ms
//	rand 8 jobs IOPS       8521               5370
//	dd of the image        362 MB/s (0.27x)   448 MB/s (0.33x local)
//
// Both meet the random-read targets (p50 <= 0.5 ms, p99 <= 2 ms); 64K
// would buy random latency with a fifth of the sequential throughput,
// which is the further one from its target, so images stay at 128K.
//
// Writer throughput (go test -run '^$' -bench . ./chunker): content-defined
// ~2.1-2.4 GB/s with 4 KiB or 1 MiB writes, 3 allocations per Writer and
// none per chunk; fixed-size is a copy (4 KiB writes) or nothing at all.
package chunker
