package wire

import (
	"fmt"
	"testing"
)

func TestBufClasses(t *testing.T) {
	tests := []struct {
		n, wantCap int
	}{
		{1, 4 << 10},
		{4 << 10, 4 << 10},
		{4<<10 + 1, 8 << 10},
		{128<<10 + 60, 256 << 10},
		{1 << 24, 1 << 24},
	}
	var p BufPool
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			bp := p.Get(tt.n)
			if len(*bp) != tt.n || cap(*bp) != tt.wantCap {
				t.Fatalf("get(%d): len %d cap %d, want len %d cap %d", tt.n, len(*bp), cap(*bp), tt.n, tt.wantCap)
			}
			p.Put(bp)
			again := p.Get(tt.wantCap/2 + 1)
			if len(*again) != tt.wantCap/2+1 || cap(*again) != tt.wantCap {
				t.Errorf("get after put: len %d cap %d", len(*again), cap(*again))
			}
		})
	}
	t.Run("over the largest class: allocated, never pooled", func(t *testing.T) {
		bp := p.Get(1<<24 + 1)
		if len(*bp) != 1<<24+1 {
			t.Fatalf("len %d", len(*bp))
		}
		p.Put(bp) // must not land in a class
		if got := p.Get(1 << 24); cap(*got) != 1<<24 {
			t.Errorf("cap %d after putting an oversized buffer", cap(*got))
		}
	})
	t.Run("a buffer of a foreign capacity is dropped", func(t *testing.T) {
		b := make([]byte, 5000, 6000)
		p.Put(&b)
		if got := p.Get(5000); cap(*got) != 8<<10 {
			t.Errorf("cap %d: a foreign buffer came back", cap(*got))
		}
	})
}
