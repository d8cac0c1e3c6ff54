package main

import "testing"

func TestCacheReserve(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live, cached, want int64
	}{
		{80 * mib, 64 * mib, 4 * mib},    // 16 MiB besides the cache: 4 over the 12 allowed
		{70 * mib, 64 * mib, -6 * mib},   // under: nothing lent (SetReserve takes it as 0)
		{110 * mib, 64 * mib, 34 * mib},  // 27,000 inodes after cp -a
		{110 * mib, 30 * mib, 68 * mib},  // the same when the cache had already shrunk
		{0, 0, -(memHeadroom - gcSlack)}, // before the first collection
	} {
		if got := cacheReserve(tc.live, tc.cached); got != tc.want {
			t.Errorf("cacheReserve(%d MiB live, %d MiB cached) = %d MiB, want %d", tc.live/mib, tc.cached/mib, got/mib, tc.want/mib)
		}
	}
}
