package ecs

import (
	"errors"

	"github.com/ebb-autoscaler/ebb/internal/awsconn"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Config is a group's ecs provider, the value under groups[].provider.ecs.
type Config struct {
	awsconn.AWS    `yaml:",inline"`
	awsconn.Limits `yaml:",inline"`
	Cluster        string `yaml:"cluster" doc:"The ECS cluster's name or ARN. Required."`
	Service        string `yaml:"service" default:"'{{.Group}}'" doc:"The service's name, a template of {{.Group}}."`
	Port           int    `yaml:"port" doc:"The container port ebb's probes and drains reach at a task's private IP (awsvpc network mode); 0: tasks have no address."`
}

// Validate reports every problem of the config.
func (c *Config) Validate() error {
	errs := []error{c.AWS.Validate(), c.Limits.Validate()}
	if c.Cluster == "" {
		errs = append(errs, config.Problem("cluster", "required"))
	}
	if c.Service == "" {
		errs = append(errs, config.Problem("service", "may not be empty"))
	} else if _, err := config.ParseTemplate("service", c.Service); err != nil {
		errs = append(errs, config.Problem("service", "%v", err))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, config.Problem("port", "must be 0 to 65535, not %d", c.Port))
	}
	return errors.Join(errs...)
}

// Kind is the ecs provider kind.
func Kind() provider.Kind {
	return provider.NewKind[Config, *Provider]("ecs",
		"An Amazon ECS service: ebb sets its desired count and stops the tasks it drained, the others protected from scale-in while the count drops.",
		open)
}
