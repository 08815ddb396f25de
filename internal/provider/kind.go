package provider

import (
	"fmt"
	"log/slog"
	"math/rand/v2"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
)

// Deps is what a provider may use besides its config.
type Deps struct {
	Group string // the group the provider serves
	Clock clock.Clock
	Log   *slog.Logger
	Rand  *rand.Rand // jitter, seeded by the daemon
}

// Kind is one kind of provider, as the composition root registers it: the
// name of its key under a group's provider, its typed config and how to
// open it. Build one with NewKind.
type Kind struct {
	config.Kind
	open func(cfg any, deps Deps) (any, error)
}

// NewKind describes a provider kind whose config is C (the value under
// groups[].provider.KIND: a struct tagged like the config package's types,
// with a Validate() error method returning config.Problem errors). open
// returns the provider: a Capacity, or an instance provider (Launcher,
// Terminator, Checker: the local provider), which the fleet tells apart by
// type assertion.
func NewKind[C, P any](name, doc string, open func(cfg *C, deps Deps) (P, error)) Kind {
	return Kind{
		Kind: config.Kind{Name: name, Doc: doc, Conn: new(C)},
		open: func(cfg any, deps Deps) (any, error) {
			c, ok := cfg.(*C)
			if !ok {
				return nil, fmt.Errorf("provider %s: config is %T, not %T", name, cfg, c)
			}
			return open(c, deps)
		},
	}
}

// Open opens a provider from its decoded, validated config.
func (k Kind) Open(cfg any, deps Deps) (any, error) {
	p, err := k.open(cfg, deps)
	if err != nil {
		return nil, fmt.Errorf("group %s: provider %s: %w", deps.Group, k.Name, err)
	}
	return p, nil
}
