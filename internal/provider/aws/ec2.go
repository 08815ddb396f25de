package aws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
)

// describeBatch is the most instance IDs one DescribeInstances takes.
const describeBatch = 1000

// ec2Info is what EC2 says of an instance.
type ec2Info struct {
	addr       string // PRIVATE_IP:port; empty without a private IP
	launchedAt time.Time
}

// instanceIDPattern finds the IDs an InvalidInstanceID.NotFound message
// names.
var instanceIDPattern = regexp.MustCompile(`\bi-[0-9a-f]+\b`)

// describeInstances reads the instances from EC2, describeBatch IDs a
// call. An ID EC2 does not know yet (an instance just launched: EC2's
// reads are eventually consistent) fails the whole call with
// InvalidInstanceID.NotFound naming it; the call is made again without the
// IDs named, and those instances are left out of the answer.
func (p *Provider) describeInstances(ctx context.Context, ids []string) (map[string]ec2Info, error) {
	out := map[string]ec2Info{}
	for batch := range slices.Chunk(ids, describeBatch) {
		for len(batch) > 0 {
			res, err := do(ctx, p, fmt.Sprintf("describe %d instances of %s", len(batch), p.group),
				func(ctx context.Context) (*ec2.DescribeInstancesOutput, error) {
					return p.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: batch})
				})
			if missing := notFoundIDs(err, batch); len(missing) > 0 {
				batch = slices.DeleteFunc(slices.Clone(batch), func(id string) bool { return slices.Contains(missing, id) })
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, r := range res.Reservations {
				for _, in := range r.Instances {
					info := ec2Info{launchedAt: awssdk.ToTime(in.LaunchTime)}
					if ip := awssdk.ToString(in.PrivateIpAddress); ip != "" {
						info.addr = net.JoinHostPort(ip, strconv.Itoa(p.port))
					}
					out[awssdk.ToString(in.InstanceId)] = info
				}
			}
			break
		}
	}
	return out, nil
}

// notFoundIDs returns the IDs of batch that err, an
// InvalidInstanceID.NotFound, says do not exist; none for another error.
func notFoundIDs(err error, batch []string) []string {
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidInstanceID.NotFound" {
		return nil
	}
	var out []string
	for _, id := range instanceIDPattern.FindAllString(api.ErrorMessage(), -1) {
		if slices.Contains(batch, id) {
			out = append(out, id)
		}
	}
	return out
}
