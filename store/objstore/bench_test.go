package objstore

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/internal/s3test"
)

// BenchmarkReadBlob reads 128 KiB chunks (the image chunk size) from a
// real versitygw, p at a time, as the server's GET_CHUNKS slots do.
func BenchmarkReadBlob(b *testing.B) {
	srv := s3test.Start(b)
	s, err := Init(config(srv, "bench", nil))
	if err != nil {
		b.Fatal(err)
	}
	const n, size = 256, 128 << 10
	ds := make([]catalog.Digest, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range ds {
		plain := make([]byte, size)
		for j := range plain {
			plain[j] = byte(rng.Uint32())
		}
		ds[i] = catalog.Sum(plain)
		if _, err := s.PutChunk(ds[i], plain); err != nil {
			b.Fatal(err)
		}
	}
	for _, p := range []int{1, 8, 16, 32} {
		b.Run(fmt.Sprintf("p=%d", p), func(b *testing.B) {
			b.SetBytes(size)
			var next sync.Mutex
			i := 0
			var wg sync.WaitGroup
			b.ResetTimer()
			for range p {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						next.Lock()
						k := i
						i++
						next.Unlock()
						if k >= b.N {
							return
						}
						if _, err := s.ReadBlob(ds[k%n], func(n int) []byte { return make([]byte, n) }); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(s.c.n.Get.Load()), "gets")
			b.ReportMetric(float64(s.c.n.Conns.Load()), "conns")
		})
	}
}
