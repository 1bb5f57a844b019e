package importer

import (
	"context"
	"errors"
	"io"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// objectVersion is one version of an object in a bucket, as its store
// tells versions apart: the ETag (S3, Azure) or the generation (Google
// Cloud Storage). The zero value is unknown.
type objectVersion struct {
	etag       string
	generation int64
}

// errNoConditionalWrite is the error of a conditional write to a store
// whose driver offers none, or of an object whose version was not
// returned by its read.
var errNoConditionalWrite = errors.New("the store does not say which version of the object was read, or cannot write on condition that it is unchanged")

// readVersion reads the object key whole, and returns it with the
// version that was read. The version is unknown (zero) where the store's
// driver does not tell it.
func readVersion(ctx context.Context, b *blob.Bucket, key string) ([]byte, objectVersion, error) {
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, objectVersion{}, err
	}
	defer r.Close()
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, objectVersion{}, err
	}
	var (
		s3out s3.GetObjectOutput
		gcs   *storage.Reader
		az    azblobblob.DownloadStreamResponse
		v     objectVersion
	)
	switch {
	case r.As(&s3out):
		v.etag = aws.ToString(s3out.ETag)
	case r.As(&gcs):
		v.generation = gcs.Attrs.Generation
	case r.As(&az):
		if az.ETag != nil {
			v.etag = string(*az.ETag)
		}
	}
	return body, v, nil
}

// ifUnchanged is a blob.WriterOptions.BeforeWrite that makes the write
// replace the object only if it is still at version v: If-Match on S3
// and Azure, a generation match on Google Cloud Storage. The store
// refuses the write otherwise (see changedSince). It returns
// errNoConditionalWrite, and nothing is written, where the condition
// cannot be set.
func (v objectVersion) ifUnchanged(as func(any) bool) error {
	var (
		s3in *transfermanager.UploadObjectInput
		gcs  **storage.ObjectHandle
		az   *azblob.UploadStreamOptions
	)
	switch {
	case v.etag != "" && as(&s3in):
		s3in.IfMatch = aws.String(v.etag)
	case v.generation != 0 && as(&gcs):
		*gcs = (*gcs).If(storage.Conditions{GenerationMatch: v.generation})
	case v.etag != "" && as(&az):
		etag := azcore.ETag(v.etag)
		az.AccessConditions = &azblob.AccessConditions{ModifiedAccessConditions: &azblobblob.ModifiedAccessConditions{IfMatch: &etag}}
	default:
		return errNoConditionalWrite
	}
	return nil
}

// changedSince reports whether err is a store's refusal of a write made
// with ifUnchanged: the object was replaced or deleted since it was read
// (S3 also answers 409 ConditionalRequestConflict to a write that races
// another on the same key).
func changedSince(err error) bool {
	switch gcerrors.Code(err) {
	case gcerrors.FailedPrecondition, gcerrors.NotFound:
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ConditionalRequestConflict"
}
