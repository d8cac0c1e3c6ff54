package cache

import "fmt"

// Stats are the cache's counters since New.
type Stats struct {
	Hits            int64 // demand reads served from memory
	Misses          int64 // demand reads not in memory (waited for the disk tier or a fetch)
	DiskHits        int64 // chunks loaded from the disk tier
	ZeroHits        int64 // all-zero chunks served without fetching
	Fetches         int64 // Source calls
	FetchErrors     int64 // Source calls that failed (or returned a wrong length)
	BytesFetched    int64 // plain bytes returned by the Source
	ReadaheadIssued int64 // fetches started by readahead
	ReadaheadUsed   int64 // readahead chunks a demand read then used (from memory, the disk tier or in flight)
	Promoted        int64 // readahead fetches in flight a demand read joined (Promoter told)
	Evictions       int64 // chunks dropped from memory
	Bytes           int64 // plain bytes in memory now
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	b := c.bytes
	c.mu.Unlock()
	return Stats{
		Hits:            c.st.hits.Load(),
		Misses:          c.st.misses.Load(),
		DiskHits:        c.st.diskHits.Load(),
		ZeroHits:        c.st.zeroHits.Load(),
		Fetches:         c.st.fetches.Load(),
		FetchErrors:     c.st.fetchErrors.Load(),
		BytesFetched:    c.st.bytesFetched.Load(),
		ReadaheadIssued: c.st.readaheadIssued.Load(),
		ReadaheadUsed:   c.st.readaheadUsed.Load(),
		Promoted:        c.st.promoted.Load(),
		Evictions:       c.st.evictions.Load(),
		Bytes:           b,
	}
}

// String formats the statistics on one line (for SIGUSR1).
func (s Stats) String() string {
	return fmt.Sprintf("hits=%d misses=%d disk_hits=%d zero_hits=%d fetches=%d fetch_errors=%d "+
		"bytes_fetched=%s readahead_issued=%d readahead_used=%d promoted=%d evictions=%d in_memory=%s",
		s.Hits, s.Misses, s.DiskHits, s.ZeroHits, s.Fetches, s.FetchErrors,
		human(s.BytesFetched), s.ReadaheadIssued, s.ReadaheadUsed, s.Promoted, s.Evictions, human(s.Bytes))
}

// human formats a byte count in binary units.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, u := float64(n), 0
	for v >= unit && u < 4 {
		v /= unit
		u++
	}
	return fmt.Sprintf("%.1f%ciB", v, "KMGT"[u-1])
}
