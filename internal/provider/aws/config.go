package aws

import (
	"errors"
	"net/url"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/awsconn"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Config is a group's aws provider, the value under groups[].provider.aws.
type Config struct {
	awsconn.AWS      `yaml:",inline"`
	awsconn.Limits   `yaml:",inline"`
	AutoScalingGroup string `yaml:"auto_scaling_group" default:"'{{.Group}}'" doc:"The Auto Scaling group's name, a template of {{.Group}}."`
	LifecycleHook    *Hook  `yaml:"lifecycle_hook" doc:"A terminate lifecycle hook ebb answers: instances the group terminates on its own (AZ rebalance, a user's terminate) wait in Terminating:Wait while ebb drains them. Absent: no hook."`
	ECSCluster       string `yaml:"ecs_cluster" doc:"The ECS cluster the instances are container instances of: a drain sets them DRAINING and waits until their tasks are gone. Empty: not ECS."`
	ECSEndpoint      string `yaml:"ecs_endpoint" doc:"The ECS API's URL, with ecs_cluster, for an emulator or a VPC endpoint; endpoint when empty (endpoint names the Auto Scaling API)."`
	Port             int    `yaml:"port" default:"0" doc:"The instance port ebb's probes and drains reach, as PRIVATE_IP:PORT; each observe then also reads the instances from EC2 (DescribeInstances) for their private IP and launch time. 0: instances have no address and no EC2 call is made."`
	EC2Endpoint      string `yaml:"ec2_endpoint" doc:"The EC2 API's URL, with port, for an emulator or a VPC endpoint; endpoint when empty."`
}

// Hook is the terminate lifecycle hook ebb answers.
type Hook struct {
	Name             string          `yaml:"name" default:"ebb-drain" doc:"The hook's name."`
	Create           bool            `yaml:"create" default:"false" doc:"Create the hook (PutLifecycleHook) when the group lacks it; false: it must exist."`
	HeartbeatTimeout config.Duration `yaml:"heartbeat_timeout" default:"300s" doc:"With create: how long an instance waits without a heartbeat, 30s to 7200s. ebb heartbeats while it drains."`
	DefaultResult    string          `yaml:"default_result" default:"CONTINUE" enum:"CONTINUE,ABANDON" doc:"With create: what the group does when the heartbeat timeout passes: CONTINUE or ABANDON (both terminate the instance; ABANDON skips later hooks)."`
}

// Validate reports every problem of the config.
func (c *Config) Validate() error {
	errs := []error{c.AWS.Validate(), c.Limits.Validate()}
	if c.AutoScalingGroup == "" {
		errs = append(errs, config.Problem("auto_scaling_group", "may not be empty"))
	} else if _, err := config.ParseTemplate("auto_scaling_group", c.AutoScalingGroup); err != nil {
		errs = append(errs, config.Problem("auto_scaling_group", "%v", err))
	}
	if c.ECSEndpoint != "" {
		if !httpURL(c.ECSEndpoint) {
			errs = append(errs, config.Problem("ecs_endpoint", "%q is not an http(s) URL", c.ECSEndpoint))
		}
		if c.ECSCluster == "" {
			errs = append(errs, config.Problem("ecs_endpoint", "applies only with ecs_cluster"))
		}
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, config.Problem("port", "must be 0 to 65535, not %d", c.Port))
	}
	if c.EC2Endpoint != "" {
		if !httpURL(c.EC2Endpoint) {
			errs = append(errs, config.Problem("ec2_endpoint", "%q is not an http(s) URL", c.EC2Endpoint))
		}
		if c.Port == 0 {
			errs = append(errs, config.Problem("ec2_endpoint", "applies only with port"))
		}
	}
	if h := c.LifecycleHook; h != nil {
		errs = append(errs, config.Under("lifecycle_hook", h.Validate()))
	}
	return errors.Join(errs...)
}

// httpURL reports whether s is an http(s) URL with a host.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Validate checks the hook's settings against what Auto Scaling accepts.
func (h *Hook) Validate() error {
	var errs []error
	if h.Name == "" || len(h.Name) > 255 {
		errs = append(errs, config.Problem("name", "must be 1 to 255 characters"))
	}
	if d := h.HeartbeatTimeout.D(); d < 30*time.Second || d > 7200*time.Second || d%time.Second != 0 {
		errs = append(errs, config.Problem("heartbeat_timeout", "must be whole seconds from 30s to 7200s, not %s", h.HeartbeatTimeout))
	}
	if h.DefaultResult != "CONTINUE" && h.DefaultResult != "ABANDON" {
		errs = append(errs, config.Problem("default_result", "must be CONTINUE or ABANDON, not %q", h.DefaultResult))
	}
	return errors.Join(errs...)
}

// Kind is the aws provider kind.
func Kind() provider.Kind {
	return provider.NewKind[Config, *Provider]("aws",
		"An EC2 Auto Scaling group: ebb sets its desired capacity, terminates the instances it drained, protects the ones it keeps and answers its terminate lifecycle hook.",
		open)
}
