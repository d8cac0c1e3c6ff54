package backup

import "testing"

func TestIsZero(t *testing.T) {
	big := make([]byte, 1<<20)
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"empty", nil, true},
		{"one zero", []byte{0}, true},
		{"one byte", []byte{1}, false},
		{"all zero", big, true},
		{"last byte set", append(make([]byte, 4095), 1), false},
		{"first byte set", append([]byte{1}, make([]byte, 4095)...), false},
		{"all the same non-zero", []byte{7, 7, 7, 7}, false},
	}
	for _, tt := range tests {
		if got := isZero(tt.b); got != tt.want {
			t.Errorf("%s: isZero = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func BenchmarkIsZero(b *testing.B) {
	buf := make([]byte, 128<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if !isZero(buf) {
			b.Fatal("not zero")
		}
	}
}
