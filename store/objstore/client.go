package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/backupfs/backupfs/store"
)

// client is the bucket and prefix with the few S3 calls the store makes.
// Every call runs under its own deadline (Config.Timeout) and the SDK's
// standard retryer (backoff with jitter on 5xx, SlowDown and throttling
// answers, and connection errors), then gives one error wrapping
// ErrUnavailable, or a store sentinel for answers that are not failures.
type client struct {
	n       Requests // counted before each call (retries are one)
	s3      *s3.Client
	bucket  string
	prefix  string // "" or ending in "/"
	timeout time.Duration
}

func newClient(cfg Config) (*client, error) {
	if cfg.Endpoint == "" {
		return nil, fmt.Errorf("%w: no endpoint (set AWS_ENDPOINT_URL or --s3-endpoint)", store.ErrInvalid)
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, fmt.Errorf("%w: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", store.ErrInvalid)
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	attempts := cfg.MaxAttempts
	if attempts <= 0 {
		attempts = 8
	}
	c := &client{bucket: cfg.Bucket, prefix: cfg.Prefix}
	c.s3 = s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: true,
		HTTPClient:   newHTTPClient(&c.n.Conns),
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = 5 * time.Second
			o.RateLimiter = noRateLimit{}
		}),
		// Checksums only where S3 requires them: versitygw and other
		// self-hosted stores differ in what trailing checksums they take.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		// UNSIGNED-PAYLOAD: the signature covers the request, not a
		// SHA-256 of the body, which both ends would compute for every
		// chunk (the blob has its own CRC, and its digest is checked on
		// every read).
		APIOptions: []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware},
	})
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	c.timeout = timeout
	return c, nil
}

// maxIdleConns is how many idle connections to the store the client
// keeps. The SDK's default keeps 10 per host, fewer than the requests the
// server has in flight (remote/server reads ReadConcurrency, 64,
// readahead and 16 demand blobs at a time per connection), so every GET
// beyond 10 opened a new TCP connection and closed it after one answer.
const maxIdleConns = 128

// newHTTPClient is the SDK's HTTP client keeping maxIdleConns idle
// connections to the store, counting the connections it opens in dials.
func newHTTPClient(dials *atomic.Int64) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = maxIdleConns
		tr.MaxIdleConnsPerHost = maxIdleConns
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dial(ctx, network, addr)
		}
	})
}

// Requests counts the requests a Store made, by kind (a request retried
// counts once), and the connections it opened.
type Requests struct {
	Get, Put, Head, Delete, List atomic.Int64
	Conns                        atomic.Int64 // connections opened
}

// String is "get=N put=N head=N delete=N list=N conns=N".
func (r *Requests) String() string {
	return fmt.Sprintf("get=%d put=%d head=%d delete=%d list=%d conns=%d",
		r.Get.Load(), r.Put.Load(), r.Head.Load(), r.Delete.Load(), r.List.Load(), r.Conns.Load())
}

// noRateLimit turns off the retryer's client-side retry quota: a store that
// is down for a while must be retried until the deadline, not given up on
// after a burst of failures.
type noRateLimit struct{}

func (noRateLimit) GetToken(context.Context, uint) (func() error, error) {
	return func() error { return nil }, nil
}
func (noRateLimit) AddTokens(uint) error { return nil }

func (c *client) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.timeout)
}

func (c *client) key(k string) string { return c.prefix + k }

// classify maps an S3 error to the store's sentinels: 404 ErrNotFound,
// 412 ErrExists, 403 ErrAccess, anything not an answer ErrUnavailable.
func classify(op, key string, err error) error {
	var re interface{ HTTPStatusCode() int }
	var ae smithy.APIError
	switch {
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound:
		return fmt.Errorf("%w: %s", store.ErrNotFound, key)
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed,
		errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed":
		return fmt.Errorf("%w: %s", store.ErrExists, key)
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden:
		return fmt.Errorf("%w: %s %s: %v", ErrAccess, op, key, err)
	case errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500:
		return fmt.Errorf("objstore: %s %s: %w", op, key, err)
	}
	return fmt.Errorf("%w: %s %s: %v", ErrUnavailable, op, key, err)
}

// get reads an object whole into buf(n) (n its size, at most max).
func (c *client) get(k string, max int64, buf func(n int) []byte) ([]byte, error) {
	c.n.Get.Add(1)
	ctx, cancel := c.ctx()
	defer cancel()
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.bucket, Key: aws.String(c.key(k))})
	if err != nil {
		return nil, classify("get", k, err)
	}
	defer out.Body.Close()
	n := aws.ToInt64(out.ContentLength)
	if n < 0 || n > max {
		return nil, fmt.Errorf("%w: %s: %d bytes, at most %d", store.ErrCorrupt, k, n, max)
	}
	b := buf(int(n))
	if len(b) != int(n) {
		return nil, fmt.Errorf("objstore: read %s: buffer of %d bytes for %d", k, len(b), n)
	}
	if _, err := io.ReadFull(out.Body, b); err != nil {
		return nil, fmt.Errorf("%w: get %s: %v", ErrUnavailable, k, err)
	}
	return b, nil
}

// getPrefix reads the first n bytes of an object (fewer if it is shorter).
func (c *client) getPrefix(k string, n int) ([]byte, error) {
	c.n.Get.Add(1)
	ctx, cancel := c.ctx()
	defer cancel()
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.bucket, Key: aws.String(c.key(k)),
		Range: aws.String(fmt.Sprintf("bytes=0-%d", n-1))})
	if err != nil {
		return nil, classify("get", k, err)
	}
	defer out.Body.Close()
	b := make([]byte, n)
	m, err := io.ReadFull(out.Body, b)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("%w: get %s: %v", ErrUnavailable, k, err)
	}
	return b[:m], nil
}

// put writes an object; ifAbsent makes it conditional (If-None-Match: *),
// failing with ErrExists when the key exists.
func (c *client) put(k string, data []byte, ifAbsent bool) error {
	c.n.Put.Add(1)
	ctx, cancel := c.ctx()
	defer cancel()
	in := &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String(c.key(k)),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}
	if ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := c.s3.PutObject(ctx, in); err != nil {
		return classify("put", k, err)
	}
	return nil
}

// head returns an object's LastModified (ErrNotFound if missing).
func (c *client) head(k string) (time.Time, error) {
	c.n.Head.Add(1)
	ctx, cancel := c.ctx()
	defer cancel()
	out, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.bucket, Key: aws.String(c.key(k))})
	if err != nil {
		return time.Time{}, classify("head", k, err)
	}
	return aws.ToTime(out.LastModified), nil
}

// del removes an object; a missing one is not an error.
func (c *client) del(k string) error {
	c.n.Delete.Add(1)
	ctx, cancel := c.ctx()
	defer cancel()
	_, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &c.bucket, Key: aws.String(c.key(k))})
	if err != nil && !errors.Is(classify("delete", k, err), store.ErrNotFound) {
		return classify("delete", k, err)
	}
	return nil
}

// object is one entry of a listing: the key relative to the prefix.
type object struct {
	key   string
	size  int64
	mtime time.Time
}

// list calls fn for every object under p (relative keys), page by page;
// with delim it lists the next level only, passing common prefixes as
// objects whose key ends in "/".
func (c *client) list(p string, delim bool, fn func(object) error) error {
	in := &s3.ListObjectsV2Input{Bucket: &c.bucket, Prefix: aws.String(c.key(p))}
	if delim {
		in.Delimiter = aws.String("/")
	}
	pg := s3.NewListObjectsV2Paginator(c.s3, in)
	for pg.HasMorePages() {
		c.n.List.Add(1)
		ctx, cancel := c.ctx()
		out, err := pg.NextPage(ctx)
		cancel()
		if err != nil {
			return classify("list", p, err)
		}
		for _, cp := range out.CommonPrefixes {
			if err := fn(object{key: strings.TrimPrefix(aws.ToString(cp.Prefix), c.prefix)}); err != nil {
				return err
			}
		}
		for _, o := range out.Contents {
			ob := object{key: strings.TrimPrefix(aws.ToString(o.Key), c.prefix),
				size: aws.ToInt64(o.Size), mtime: aws.ToTime(o.LastModified)}
			if err := fn(ob); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBucket asks for the bucket once: wrong credentials, a missing
// bucket or a store that does not answer give a clear error at Open.
func (c *client) checkBucket() error {
	ctx, cancel := c.ctx()
	defer cancel()
	_, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &c.bucket})
	if err == nil {
		return nil
	}
	err = classify("head bucket", c.bucket, err)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: bucket %s does not exist", store.ErrNoDatastore, c.bucket)
	}
	return err
}

// createBucket makes the bucket (Init, when it does not exist).
func (c *client) createBucket() error {
	c.n.Put.Add(1)
	ctx, cancel := c.ctx()
	defer cancel()
	if _, err := c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &c.bucket}); err != nil {
		return classify("create bucket", c.bucket, err)
	}
	return nil
}
