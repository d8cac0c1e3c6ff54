package catalog

import "testing"

func TestIsZeroChunkSizes(t *testing.T) {
	odd := 128<<10 + 12345
	tests := []struct {
		name string
		d    Digest
		n    int
		want bool
	}{
		{"power of two", Sum(make([]byte, 64<<10)), 64 << 10, true},
		{"power of two, other size", Sum(make([]byte, 64<<10)), 32 << 10, false},
		{"not zeros", Sum([]byte("x")), 1, false},
		{"empty", Sum(nil), 0, true},
		{"negative", Digest{}, -1, false},
		{"too large", Digest{}, MaxChunkSize + 1, false},
		// An odd size is recognised only once ZeroDigest memoised it.
		{"odd size, not memoised", Sum(make([]byte, odd+1)), odd + 1, false},
	}
	for _, tt := range tests {
		if got := IsZeroChunk(tt.d, tt.n); got != tt.want {
			t.Errorf("%s: IsZeroChunk = %v, want %v", tt.name, got, tt.want)
		}
	}
	if d := ZeroDigest(odd); !IsZeroChunk(d, odd) || d != Sum(make([]byte, odd)) {
		t.Error("an odd size memoised by ZeroDigest is not recognised")
	}
}

func TestZeroMemoBounded(t *testing.T) {
	for n := 1; n < maxZeroMemo+100; n += 2 {
		if d := ZeroDigest(n); d != Sum(make([]byte, n)) {
			t.Fatalf("ZeroDigest(%d) wrong", n)
		}
	}
	zeroMemo.RLock()
	size := len(zeroMemo.m)
	zeroMemo.RUnlock()
	if size > maxZeroMemo {
		t.Fatalf("memo holds %d sizes, bound %d", size, maxZeroMemo)
	}
}
