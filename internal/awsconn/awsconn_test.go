package awsconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

func TestTransient(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		retry bool
	}{
		{name: "throttling", err: &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}, retry: true},
		{name: "request throttled", err: &smithy.GenericAPIError{Code: "RequestThrottled"}, retry: true},
		{name: "refused", err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}, retry: true},
		{name: "access denied", err: &smithy.GenericAPIError{Code: "AccessDenied"}},
		{name: "canceled", err: fmt.Errorf("call: %w", context.Canceled)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Transient(fmt.Errorf("get: %w", tt.err)); got != tt.retry {
				t.Fatalf("Transient(%v) = %v, want %v", tt.err, got, tt.retry)
			}
		})
	}
}

func TestCredentialsAreReadAtEachRequest(t *testing.T) {
	a := &AWS{Region: "eu-west-1", AccessKeyID: &config.Secret{Value: "AKID"}, SecretAccessKey: &config.Secret{Env: "EBB_TEST_AWS_SECRET"}}
	cfg, err := a.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("EBB_TEST_AWS_SECRET", "first")
	c, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || c.AccessKeyID != "AKID" || c.SecretAccessKey != "first" {
		t.Fatalf("= %+v, %v", c, err)
	}
	t.Setenv("EBB_TEST_AWS_SECRET", "rotated")
	if c, err = cfg.Credentials.Retrieve(context.Background()); err != nil || c.SecretAccessKey != "rotated" {
		t.Fatalf("after rotation = %+v, %v", c, err)
	}
}

func TestMissingSecretNamesItsOrigin(t *testing.T) {
	a := &AWS{Region: "eu-west-1", AccessKeyID: &config.Secret{Value: "AKID"}, SecretAccessKey: &config.Secret{Env: "EBB_TEST_AWS_UNSET"}}
	cfg, err := a.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Credentials.Retrieve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "secret_access_key: environment variable EBB_TEST_AWS_UNSET is not set") {
		t.Fatalf("err = %v", err)
	}
}
