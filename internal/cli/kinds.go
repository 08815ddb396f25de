package cli

import (
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/aws"
	"github.com/ebb-autoscaler/ebb/internal/provider/ecs"
	pexec "github.com/ebb-autoscaler/ebb/internal/provider/exec"
	"github.com/ebb-autoscaler/ebb/internal/provider/kubernetes"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/cloudwatch"
	"github.com/ebb-autoscaler/ebb/internal/source/exec"
	"github.com/ebb-autoscaler/ebb/internal/source/httpjson"
	"github.com/ebb-autoscaler/ebb/internal/source/kafka"
	"github.com/ebb-autoscaler/ebb/internal/source/nats"
	"github.com/ebb-autoscaler/ebb/internal/source/postgres"
	"github.com/ebb-autoscaler/ebb/internal/source/prometheus"
	"github.com/ebb-autoscaler/ebb/internal/source/rabbitmq"
	"github.com/ebb-autoscaler/ebb/internal/source/redis"
	"github.com/ebb-autoscaler/ebb/internal/source/scrape"
	"github.com/ebb-autoscaler/ebb/internal/source/sqs"
)

// sourceKinds is every source kind this ebb is built with: the one place
// they are registered. A new kind is a package under internal/source and a
// line here.
func sourceKinds() []source.Kind {
	return []source.Kind{
		scrape.Kind(),
		httpjson.Kind(),
		prometheus.Kind(),
		exec.Kind(),
		kafka.Kind(),
		sqs.Kind(),
		cloudwatch.Kind(),
		postgres.Kind(),
		rabbitmq.Kind(),
		redis.Kind(),
		nats.Kind(),
	}
}

// providerKinds is every provider kind this ebb is built with beside
// local: the one place they are registered.
func providerKinds() []provider.Kind {
	return []provider.Kind{
		kubernetes.Kind(),
		aws.Kind(),
		ecs.Kind(),
		pexec.Kind(),
	}
}

// configKinds is the registry as the config package sees it.
func configKinds() *config.Kinds { return kindsOf(sourceKinds(), providerKinds()) }

// kindsOf is a registry of the given kinds as the config package sees it.
func kindsOf(sources []source.Kind, providers []provider.Kind) *config.Kinds {
	k := source.Registry(sources)
	for _, p := range providers {
		k.Providers = append(k.Providers, p.Kind)
	}
	return k
}
