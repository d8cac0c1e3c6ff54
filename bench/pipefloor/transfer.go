package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// frameHeader is a blob's length and digest ahead of it on the connection.
const frameHeader = 4 + catalog.DigestSize

type result struct {
	blobBytes  int64 // as read from the store and sent
	plainBytes int64 // decoded and verified
}

// transfer reads every digest's blob from st with nread readers, sends
// them over TLS on 127.0.0.1 and decodes and verifies them with ndec
// decoders. Any error (a missing or corrupt chunk, a broken connection)
// stops it.
func transfer(st *store.Store, digests []catalog.Digest, nread, ndec int) (result, error) {
	srvConf, cliConf, err := tlsConfigs()
	if err != nil {
		return result{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	defer ln.Close()
	g, ctx := errgroup.WithContext(context.Background())
	var sent int64
	var res result
	var srvErr, cliErr error
	g.Go(func() error {
		srvErr = end(ctx, ln.Accept, func(c net.Conn) *tls.Conn { return tls.Server(c, srvConf) }, func(conn *tls.Conn) (err error) {
			sent, err = serve(conn, st, digests, nread)
			return err
		})
		return srvErr
	})
	g.Go(func() error {
		dial := func() (net.Conn, error) { return net.Dial("tcp", ln.Addr().String()) }
		cliErr = end(ctx, dial, func(c net.Conn) *tls.Conn { return tls.Client(c, cliConf) }, func(conn *tls.Conn) (err error) {
			res, err = receive(conn, len(digests), ndec)
			return err
		})
		return cliErr
	})
	if g.Wait() != nil {
		// Both ends' errors: the one that failed first names the cause (a
		// missing or corrupt chunk), the other only saw the connection
		// close, and either may reach the group first.
		return result{}, errors.Join(srvErr, cliErr)
	}
	if res.blobBytes != sent {
		return result{}, fmt.Errorf("sent %d blob bytes, received %d", sent, res.blobBytes)
	}
	return res, nil
}

// end runs one end of the connection: it connects, wraps the connection in
// TLS and runs fn, closing the connection when ctx ends (the other end
// failed) so that fn's reads and writes return.
func end(ctx context.Context, connect func() (net.Conn, error), wrap func(net.Conn) *tls.Conn, fn func(*tls.Conn) error) error {
	raw, err := connect()
	if err != nil {
		return err
	}
	conn := wrap(raw)
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	return fn(conn)
}

// bufs recycles blob buffers on both ends, as the server and the client
// do (each keeps a wire.BufPool): a cold read allocates little.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

func getBuf(n int) *[]byte {
	bp := bufs.Get().(*[]byte)
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	*bp = (*bp)[:n]
	return bp
}

// readBlobs only reads the blobs (with their CRC check), with nread
// readers and no connection: the datastore's share of transfer.
func readBlobs(st *store.Store, digests []catalog.Digest, nread, _ int) (result, error) {
	n, err := serve(io.Discard, st, digests, nread)
	return result{blobBytes: n}, err
}

// serve is the server's side: nread goroutines read blobs (with their
// CRC check) into frames, one writer sends each as it is ready, flushing
// whenever none is waiting. It returns the blob bytes sent.
func serve(w io.Writer, st *store.Store, digests []catalog.Digest, nread int) (int64, error) {
	todo := make(chan catalog.Digest)
	frames := make(chan *[]byte, nread)
	var rg errgroup.Group
	quit := make(chan struct{})
	stop := sync.OnceFunc(func() { close(quit) })
	for range nread {
		rg.Go(func() error {
			for d := range todo {
				var bp *[]byte
				blob, err := st.ReadBlob(d, func(n int) []byte {
					bp = getBuf(frameHeader + n)
					return (*bp)[frameHeader:]
				})
				if err != nil {
					stop()
					return err
				}
				binary.LittleEndian.PutUint32(*bp, uint32(len(blob)))
				copy((*bp)[4:frameHeader], d[:])
				select {
				case frames <- bp:
				case <-quit:
					return nil
				}
			}
			return nil
		})
	}
	go func() {
		defer close(todo)
		for _, d := range digests {
			select {
			case todo <- d:
			case <-quit:
				return
			}
		}
	}()
	readErr := make(chan error, 1)
	go func() {
		readErr <- rg.Wait()
		close(frames)
	}()
	bw := bufio.NewWriterSize(w, 256<<10)
	var sent int64
	var werr error
	for bp := range frames {
		if werr == nil {
			_, werr = bw.Write(*bp)
			sent += int64(len(*bp) - frameHeader)
			if werr == nil && len(frames) == 0 {
				werr = bw.Flush()
			}
			if werr != nil {
				stop()
			}
		}
		bufs.Put(bp)
	}
	if werr == nil {
		werr = bw.Flush()
	}
	if err := <-readErr; err != nil {
		return sent, err
	}
	return sent, werr
}

// receive is the client's side: one goroutine reads frames off the
// connection, ndec decode and verify them.
func receive(r io.Reader, count, ndec int) (result, error) {
	type job struct {
		d  catalog.Digest
		bp *[]byte
	}
	jobs := make(chan job, ndec)
	var res result
	var mu sync.Mutex
	var dg errgroup.Group
	for range ndec {
		dg.Go(func() error {
			var err error
			for j := range jobs {
				if err == nil {
					var plain []byte
					plain, _, err = store.DecodeBlobShared(*j.bp, j.d)
					mu.Lock()
					res.plainBytes += int64(len(plain))
					mu.Unlock()
				}
				bufs.Put(j.bp)
			}
			return err
		})
	}
	br := bufio.NewReaderSize(r, 256<<10)
	var hdr [frameHeader]byte
	var rerr error
	for range count {
		if _, rerr = io.ReadFull(br, hdr[:]); rerr != nil {
			break
		}
		n := binary.LittleEndian.Uint32(hdr[:])
		if n > store.MaxBlobSize {
			rerr = fmt.Errorf("frame of %d bytes, more than a blob can be (%d)", n, store.MaxBlobSize)
			break
		}
		bp := getBuf(int(n))
		if _, rerr = io.ReadFull(br, *bp); rerr != nil {
			break
		}
		res.blobBytes += int64(n)
		jobs <- job{d: catalog.Digest(hdr[4:]), bp: bp}
	}
	close(jobs)
	derr := dg.Wait()
	if rerr != nil {
		return res, fmt.Errorf("receive: %w", rerr)
	}
	return res, derr
}

// tlsConfigs makes a throwaway P-256 certificate and the two ends'
// configurations (TLS 1.3, which picks AES-128-GCM on a CPU with AES-NI,
// as between backupfs's client and server).
func tlsConfigs() (srv, cli *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		DNSNames:     []string{"pipefloor"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	srv = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	cli = &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: "pipefloor"}
	return srv, cli, nil
}
