package exec

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Provider runs a group's three commands. It holds no state about the
// group's instances (the commands' system does) and is safe for concurrent
// use; calls are not serialized, so a command must cope with another
// operation's run beside it, as it would with an operator's.
type Provider struct {
	group   string
	argv    map[op][]string // rendered for the group at open
	dir     string
	env     map[string]config.Secret
	timeout time.Duration
	tries   int
	clock   clock.Clock
	log     *slog.Logger

	mu   sync.Mutex // guards rand, which is not safe for concurrent use
	rand *rand.Rand
}

// Picking is the Provider of a group whose system chooses the instances a
// scale-in removes (picks: system): its Pick names the first instances the
// observe command listed.
type Picking struct {
	*Provider
}

var (
	_ provider.Capacity = (*Provider)(nil)
	_ provider.Capacity = (*Picking)(nil)
	_ provider.Picker   = (*Picking)(nil)
)

// The first retry waits up to backoffInitial, each next one up to twice as
// long, never more than backoffMax: full jitter over that ceiling.
const (
	backoffInitial = 500 * time.Millisecond
	backoffMax     = 10 * time.Second
)

func open(c *Config, deps provider.Deps) (provider.Capacity, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := &Provider{
		group:   deps.Group,
		argv:    make(map[op][]string, 3),
		dir:     c.Dir,
		env:     maps.Clone(c.Env),
		timeout: c.Timeout.D(),
		tries:   c.Tries,
		clock:   deps.Clock,
		log:     deps.Log,
		rand:    deps.Rand,
	}
	for o, argv := range map[op][]string{opObserve: c.Observe, opSetDesired: c.SetDesired, opRemove: c.Remove} {
		r, err := render(string(o), argv, deps.Group)
		if err != nil {
			return nil, err
		}
		p.argv[o] = r
	}
	if p.clock == nil {
		p.clock = clock.Real{}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.rand == nil {
		// No seed was given (tests, tools): jitter is still spread, just
		// the same every run.
		p.rand = rand.New(rand.NewPCG(1, 2))
	}
	if c.Picks == picksSystem {
		return &Picking{Provider: p}, nil
	}
	return p, nil
}

// Observe runs the observe command and returns the group's state as it
// printed it.
func (p *Provider) Observe(ctx context.Context) (provider.Observed, error) {
	var obs provider.Observed
	err := p.call(ctx, request{Op: opObserve}, func(out []byte) (err error) {
		obs, err = parseObserved(out)
		return err
	})
	if err != nil {
		return provider.Observed{}, err
	}
	return obs, nil
}

// SetDesired runs the set_desired command with desired n.
func (p *Provider) SetDesired(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("set desired %d: must be ≥ 0", n)
	}
	return p.call(ctx, request{Op: opSetDesired, Desired: &n}, parseDone)
}

// Remove runs the remove command with the victims' IDs, sorted and without
// repeats. No victims is success without a run.
func (p *Provider) Remove(ctx context.Context, victims []provider.Victim) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	ids := make([]string, 0, len(victims))
	for _, v := range victims {
		if v.ID == "" {
			return fmt.Errorf("remove: a victim without an id")
		}
		ids = append(ids, v.ID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil
	}
	return p.call(ctx, request{Op: opRemove, Victims: ids}, parseDone)
}

// Pick names the first n instances the observe command listed that are not
// already leaving: the ones the system removes next.
func (p *Picking) Pick(obs provider.Observed, n int) []string {
	var out []string
	for _, in := range obs.Instances {
		if len(out) == n {
			break
		}
		if !in.Leaving {
			out = append(out, in.ID)
		}
	}
	return out
}

// call runs op's command, retrying transient failures, and checks its
// stdout with check. An output that breaks the schema is not retried: the
// command would print the same again.
func (p *Provider) call(ctx context.Context, req request, check func(out []byte) error) error {
	argv := p.argv[req.Op]
	// The program, and its first argument when there is one: "kubectl
	// patch", "sh scale.sh". Arguments come from the config, never from
	// secrets.
	name := fmt.Sprintf("%s command %s", req.Op, strings.Join(argv[:min(2, len(argv))], " "))
	// An ended context must not act: not even the first run starts.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: not run: %w", name, err)
	}
	req.Version, req.Group = schemaVersion, p.group
	stdin, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: encode stdin: %w", name, err)
	}
	env, secrets, err := p.environ(req.Op)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r := runner{argv: argv, dir: p.dir, env: env, stdin: stdin, timeout: p.timeout, secrets: secrets}
	ceiling := newCeiling()
	for try := 1; ; try++ {
		out, err := r.run(ctx)
		if err == nil {
			if err := check(out); err != nil {
				// The output is the command's: keep the secrets out.
				return fmt.Errorf("%s: output: %s", name, redact(err.Error(), secrets))
			}
			return nil
		}
		if !isTransient(err) || try >= p.tries || ctx.Err() != nil {
			if try > 1 {
				return fmt.Errorf("%s: %w (run %d times)", name, err, try)
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		wait := p.jitter(ceiling.NextBackOff())
		p.log.Debug("command failed transiently; retrying",
			slog.String("group", p.group), slog.String("op", string(req.Op)),
			slog.Int("try", try), slog.Duration("wait", wait), slog.String("reason", err.Error()))
		if serr := p.clock.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%s: %w; then, waiting to run it again: %w", name, err, serr)
		}
	}
}

// jitter returns a random duration in [0, ceiling): full jitter.
func (p *Provider) jitter(ceiling time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Duration(p.rand.Float64() * float64(ceiling))
}

// environ returns ebb's environment with the schema's variables and the
// configured ones, sorted so every run gets the same, and the secret values
// to keep out of errors.
func (p *Provider) environ(o op) ([]string, []string, error) {
	env := append(os.Environ(), envGroup+"="+p.group, envOp+"="+string(o))
	var secrets []string
	for _, k := range slices.Sorted(maps.Keys(p.env)) {
		s := p.env[k]
		v, err := s.Reveal()
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %w", k, err)
		}
		env = append(env, k+"="+v)
		if v != "" {
			secrets = append(secrets, v)
		}
	}
	return env, secrets, nil
}
