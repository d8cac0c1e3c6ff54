package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestFileParts(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100) // 1000 bytes
	tests := []struct {
		name    string
		data    []byte
		maxData int
		sizes   []int
	}{
		{"empty file", nil, 10, []int{0}},
		{"one frame", data[:10], 10, []int{10}},
		{"exact split", data[:30], 10, []int{10, 10, 10}},
		{"short last", data[:25], 10, []int{10, 10, 5}},
		{"default size", data, 0, []int{1000}},
		{"negative is default", data, -1, []int{1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sizes []int
			a := NewFileAssembler(1 << 20)
			for fd, more := range FileParts(tt.data, tt.maxData) {
				if fd.Total != uint64(len(tt.data)) {
					t.Fatalf("total %d", fd.Total)
				}
				sizes = append(sizes, len(fd.Data))
				// Through the codec, as a peer would see it.
				got, err := DecodeUploadFile(UploadFile{Name: "x.fidx", FileData: fd}.Append(nil))
				if err != nil {
					t.Fatal(err)
				}
				done, err := a.Add(got.FileData, more)
				if err != nil || done == more {
					t.Fatalf("Add: done %v, more %v, %v", done, more, err)
				}
			}
			if !equalInts(sizes, tt.sizes) {
				t.Fatalf("frame sizes %v, want %v", sizes, tt.sizes)
			}
			if !bytes.Equal(a.Bytes(), tt.data) || a.Received() != uint64(len(tt.data)) || a.Total() != uint64(len(tt.data)) {
				t.Fatal("reassembled file differs")
			}
		})
	}
}

func TestFilePartsBounds(t *testing.T) {
	n := 0
	for fd := range FileParts(make([]byte, MaxFileData+1), MaxPayload) {
		if len(fd.Data) > MaxFileData {
			t.Fatalf("%d bytes in one frame", len(fd.Data))
		}
		if p := (UploadFile{Name: string(make([]byte, MaxFileNameLen)), FileData: fd}).Append(nil); len(p) > MaxPayload {
			t.Fatalf("payload of %d bytes", len(p))
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d frames, want 2", n)
	}
	for range FileParts(make([]byte, 100), 10) {
		break // stopping early must not panic
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type part struct {
	fd   FileData
	more bool
}

func fd(total, off uint64, data string, more bool) part {
	return part{FileData{Total: total, Offset: off, Data: []byte(data)}, more}
}

func TestFileAssembler(t *testing.T) {
	tests := []struct {
		name  string
		limit uint64
		parts []part
		want  error // of the last part; those before succeed
		file  string
	}{
		{"one frame", 10, []part{fd(3, 0, "abc", false)}, nil, "abc"},
		{"empty file", 10, []part{fd(0, 0, "", false)}, nil, ""},
		{"three frames", 10, []part{fd(6, 0, "ab", true), fd(6, 2, "cd", true), fd(6, 4, "ef", false)}, nil, "abcdef"},
		{"empty last frame", 10, []part{fd(2, 0, "ab", true), fd(2, 2, "", false)}, nil, "ab"},
		{"total at limit", 3, []part{fd(3, 0, "abc", false)}, nil, "abc"},
		{"total over limit", 3, []part{fd(4, 0, "abcd", false)}, ErrTooLarge, ""},
		{"4 GiB claim", MaxFileTotal, []part{fd(1<<32, 0, "a", true)}, ErrTooLarge, ""},
		{"first offset not 0", 10, []part{fd(3, 1, "bc", false)}, ErrProtocol, ""},
		{"gap", 10, []part{fd(4, 0, "ab", true), fd(4, 3, "d", false)}, ErrProtocol, ""},
		{"overlap", 10, []part{fd(4, 0, "ab", true), fd(4, 1, "bcd", false)}, ErrProtocol, ""},
		{"total changes", 10, []part{fd(4, 0, "ab", true), fd(5, 2, "cde", false)}, ErrProtocol, ""},
		{"data past total", 10, []part{fd(2, 0, "abc", false)}, ErrProtocol, ""},
		{"last short", 10, []part{fd(4, 0, "ab", false)}, ErrProtocol, ""},
		{"frame after last", 10, []part{fd(2, 0, "ab", false), fd(2, 2, "", false)}, ErrProtocol, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewFileAssembler(tt.limit)
			var done bool
			var err error
			for i, p := range tt.parts {
				done, err = a.Add(p.fd, p.more)
				if i < len(tt.parts)-1 && err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
			}
			if !errors.Is(err, tt.want) || (err == nil) != done {
				t.Fatalf("done %v, err %v; want err %v", done, err, tt.want)
			}
			if err == nil && string(a.Bytes()) != tt.file {
				t.Fatalf("file %q, want %q", a.Bytes(), tt.file)
			}
			if err != nil {
				if _, again := a.Add(fd(0, 0, "", false).fd, false); !errors.Is(again, tt.want) {
					t.Fatalf("after an error, Add returned %v", again)
				}
			}
		})
	}
}

// A peer announcing a 1 GiB file gets memory only as it sends data.
func TestFileAssemblerAllocatesAsReceived(t *testing.T) {
	allocs := testing.AllocsPerRun(10, func() {
		a := NewFileAssembler(MaxFileTotal)
		if _, err := a.Add(FileData{Total: MaxFileTotal, Data: []byte("x")}, true); err != nil {
			t.Fatal(err)
		}
		if c := cap(a.Bytes()); c > assemblerPrealloc {
			t.Fatalf("capacity %d after one byte", c)
		}
	})
	if allocs > 2 {
		t.Fatalf("%v allocations", allocs)
	}
}
