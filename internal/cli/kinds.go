package cli

import (
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// sourceKinds is every source kind this ebb is built with: the one place
// they are registered. A new kind is a package under internal/source and a
// line here.
func sourceKinds() []source.Kind {
	return []source.Kind{}
}

// configKinds is the registry as the config package sees it.
func configKinds() *config.Kinds { return source.Registry(sourceKinds()) }
