package readers

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/googleapis/gax-go/v2"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/backfillhq/backfill/internal/retry"
)

// OpenBucket opens the bucket that bucketURL names (SCHEME://BUCKET?QUERY,
// the query holding the options of the store's driver) with the store's
// SDK trying each request as p says: at most p.MaxRetries+1 attempts of
// an error that might pass, waiting p.MinBackoff before the first retry
// and twice as long before each further one, up to p.MaxBackoff.
//
// Left to themselves, the SDKs differ: Google's tries a request that
// cannot reach its store forever, Amazon's three times, Azure's four. This
// bounds Google's and Amazon's; Azure's client takes its retries from the
// context of each request instead, which StoreContext sets. Sources in a
// bucket are opened with no retries in the SDK (MaxRetries -1): their
// reads are tried again as Options.ObjectRetry says, above the SDK.
func OpenBucket(ctx context.Context, bucketURL string, p ObjectRetry) (*blob.Bucket, error) {
	b, err := blob.OpenBucket(ctx, bucketURL)
	if err != nil {
		return nil, err
	}
	p = p.withDefaults()
	var gcs *storage.Client
	if b.As(&gcs) {
		// gcsblob makes a client for each bucket, so this changes only
		// the requests of b.
		gcs.SetRetry(storage.WithMaxAttempts(p.MaxRetries+1),
			storage.WithBackoff(gax.Backoff{Initial: p.MinBackoff, Max: p.MaxBackoff, Multiplier: 2}))
		return b, nil
	}
	var s3c *s3.Client
	if b.As(&s3c) {
		nb, err := withS3Retries(ctx, s3c, bucketURL, p)
		b.Close()
		return nb, err
	}
	return b, nil
}

// StoreContext returns ctx carrying the retries of p for the SDKs that take
// them from the context of each request (Azure's); see OpenBucket.
func StoreContext(ctx context.Context, p ObjectRetry) context.Context {
	p = p.withDefaults()
	retries := int32(min(p.MaxRetries, 1<<30))
	if retries == 0 {
		retries = -1 // Azure's zero is its default, three
	}
	return policy.WithRetryOptions(ctx, policy.RetryOptions{MaxRetries: retries, RetryDelay: p.MinBackoff, MaxRetryDelay: p.MaxBackoff})
}

// withS3Retries opens the S3 bucket of bucketURL again, through a copy of
// client whose retryer tries each request as p says. The copy keeps what
// the URL set (endpoint, region, addressing, credentials): an S3 client's
// retryer cannot be changed once it is made.
func withS3Retries(ctx context.Context, client *s3.Client, bucketURL string, p ObjectRetry) (*blob.Bucket, error) {
	u, err := url.Parse(bucketURL)
	if err != nil {
		return nil, err
	}
	opts := s3blob.Options{RequestChecksumCalculation: client.Options().RequestChecksumCalculation}
	q := u.Query()
	// blob.OpenBucket has checked the value of ssetype.
	for _, t := range s3types.ServerSideEncryptionAes256.Values() {
		if strings.EqualFold(string(t), q.Get("ssetype")) {
			opts.EncryptionType = t
		}
	}
	opts.KMSEncryptionID = q.Get("kmskeyid")
	c := s3.New(client.Options(), func(o *s3.Options) {
		o.RetryMaxAttempts = 0
		o.Retryer = awsretry.NewStandard(func(so *awsretry.StandardOptions) {
			so.MaxAttempts = p.MaxRetries + 1
			so.MaxBackoff = p.MaxBackoff
			so.Backoff = doublingBackoff{p: retry.Policy(p)}
			so.RateLimiter = ratelimit.None
		})
	})
	return s3blob.OpenBucket(ctx, c, u.Host, &opts)
}

// doublingBackoff is the back-off of ObjectRetry for Amazon's SDK: min
// before the first retry, twice as long before each further one, up to
// max (see retry.Policy.Backoff).
type doublingBackoff struct{ p retry.Policy }

func (b doublingBackoff) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	if attempt < 1 {
		return 0, errors.New("backoff: attempt < 1")
	}
	return b.p.Backoff(attempt), nil
}

var _ awsretry.BackoffDelayer = doublingBackoff{}
