package keyfile

import (
	"runtime"
	"time"

	"golang.org/x/crypto/argon2"
)

// DefaultMemoryKiB is the memory Calibrate gives argon2id.
const DefaultMemoryKiB = 64 << 10

// Calibrate picks argon2id parameters that take about target on this
// machine: DefaultMemoryKiB, one thread per CPU (at most 4), and the
// number of passes one pass's measured time says reaches target (at least
// 1, at most 64).
func Calibrate(target time.Duration) Params {
	p := Params{Time: 1, MemoryKiB: DefaultMemoryKiB, Threads: uint8(min(runtime.NumCPU(), 4))}
	start := time.Now()
	argon2.IDKey([]byte("calibrate"), make([]byte, saltSize), p.Time, p.MemoryKiB, p.Threads, 32)
	one := time.Since(start)
	if one <= 0 {
		one = time.Millisecond
	}
	p.Time = uint32(min(max(int64(target/one), 1), maxTime))
	return p
}
