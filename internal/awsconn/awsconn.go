// Package awsconn is the connection config the AWS kinds share (the sqs
// and cloudwatch sources, the aws and ecs providers): region, endpoint and
// credentials, and which SDK errors a retry may cure. It keeps the AWS SDK
// in the leaf packages that need it.
package awsconn

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// AWS is where an AWS API is and who calls it. Kinds embed it inline.
type AWS struct {
	Region          string         `yaml:"region" doc:"The AWS region, e.g. eu-west-1. Required."`
	Endpoint        string         `yaml:"endpoint" doc:"The service's URL, for an emulator or a VPC endpoint; AWS's own for the region when empty."`
	AccessKeyID     *config.Secret `yaml:"access_key_id" doc:"Access key ID, with secret_access_key; the SDK's default chain (environment, shared files, instance role) when both are absent."`
	SecretAccessKey *config.Secret `yaml:"secret_access_key" doc:"Secret access key, with access_key_id."`
}

// Validate checks the region, the endpoint and that the keys go together.
func (a *AWS) Validate() error {
	var errs []error
	if a.Region == "" {
		errs = append(errs, config.Problem("region", "required"))
	}
	if a.Endpoint != "" {
		if u, err := url.Parse(a.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, config.Problem("endpoint", "%q is not an http(s) URL", a.Endpoint))
		}
	}
	switch {
	case a.AccessKeyID.IsSet() != a.SecretAccessKey.IsSet():
		errs = append(errs, config.Problem("access_key_id", "access_key_id and secret_access_key go together"))
	case a.AccessKeyID.IsSet():
		errs = append(errs, config.Under("access_key_id", a.AccessKeyID.Validate()),
			config.Under("secret_access_key", a.SecretAccessKey.Validate()))
	}
	return errors.Join(errs...)
}

// Config is the SDK config for a: the default credential chain unless keys
// are given, which are then revealed at each request, never kept. The SDK
// makes one attempt per call: the caller owns the retries (the source
// framework, a provider, with their own backoff bounded by their tries and
// timeout), so the two do not multiply.
func (a *AWS) Config(ctx context.Context) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(a.Region),
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if a.AccessKeyID.IsSet() {
		opts = append(opts, awsconfig.WithCredentialsProvider(aws.CredentialsProviderFunc(a.credentials)))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	if a.AccessKeyID.IsSet() {
		// Uncached, unlike what LoadDefaultConfig makes of it: a rotated
		// key file is read at the next request.
		cfg.Credentials = aws.CredentialsProviderFunc(a.credentials)
	}
	return cfg, nil
}

func (a *AWS) credentials(context.Context) (aws.Credentials, error) {
	id, err := a.AccessKeyID.Reveal()
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("access_key_id: %w", err)
	}
	secret, err := a.SecretAccessKey.Reveal()
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("secret_access_key: %w", err)
	}
	return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, Source: "ebb config"}, nil
}

// EndpointURL is the endpoint override for a service client's options, or
// nil for AWS's own.
func (a *AWS) EndpointURL() *string {
	if a.Endpoint == "" {
		return nil
	}
	return aws.String(a.Endpoint)
}

// Transient reports whether the SDK's own rules say a retry may cure err:
// throttling, 5xx, connection errors, timeouts. A canceled call is not.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() ||
		retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool()
}
