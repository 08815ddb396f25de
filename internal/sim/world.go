package sim

import (
	"errors"

	"github.com/ebb-autoscaler/ebb/internal/config"
	simprov "github.com/ebb-autoscaler/ebb/internal/provider/sim"
	"github.com/ebb-autoscaler/ebb/internal/sim/workload"
)

// World is what a simulated group runs against: the workload its
// instances serve and how the system that runs them behaves. A file of
// this shape is what `ebb simulate --workload FILE` reads:
//
//	workload:
//	  queue: {service: {dist: lognormal, mean: 20s, cv: 1}, per_worker: 4, max_wait: 2m}
//	system: {boot_jitter: 0.3, launch_failure: 0.02, throttle: 0.01}
type World struct {
	Workload workload.Config `yaml:"workload" doc:"The workload model: one of service, queue, streaming or olap, and optionally a backend. Required."`
	System   System          `yaml:"system" doc:"How the simulated system launches instances and answers calls; every fault is off by default."`
}

// Validate checks the workload and the system.
func (w *World) Validate() error {
	return errors.Join(config.Under("workload", w.Workload.Validate()), config.Under("system", w.System.Validate()))
}

// System is how the simulated system behaves (internal/provider/sim),
// as a file writes it. Instances boot in the group's
// lifecycle.launch.boot on average.
type System struct {
	BootJitter    float64 `yaml:"boot_jitter" default:"0" doc:"How much boot times spread: the coefficient of variation of a lognormal around lifecycle.launch.boot, 0 to 5 (0: every boot takes exactly that)."`
	LaunchFailure float64 `yaml:"launch_failure" default:"0" doc:"The probability that a launch never becomes ready; the system notices at the end of its boot and launches another, as an Auto Scaling group does. [0, 1)."`
	MaxBooting    int     `yaml:"max_booting" default:"0" doc:"At most this many instances boot at once; more wait (0: no bound)."`
	Throttle      float64 `yaml:"throttle" default:"0" doc:"The probability that a call to the system's API is refused (Rate exceeded); the fleet retries it. [0, 1)."`
}

// Validate checks the settings.
func (s *System) Validate() error {
	var errs []error
	if !(s.BootJitter >= 0 && s.BootJitter <= 5) {
		errs = append(errs, config.Problem("boot_jitter", "must be 0 to 5, not %g", s.BootJitter))
	}
	if !(s.LaunchFailure >= 0 && s.LaunchFailure < 1) {
		errs = append(errs, config.Problem("launch_failure", "must be a probability in [0, 1), not %g", s.LaunchFailure))
	}
	if s.MaxBooting < 0 {
		errs = append(errs, config.Problem("max_booting", "must be ≥ 0, not %d", s.MaxBooting))
	}
	if !(s.Throttle >= 0 && s.Throttle < 1) {
		errs = append(errs, config.Problem("throttle", "must be a probability in [0, 1), not %g", s.Throttle))
	}
	return errors.Join(errs...)
}

// Infra is the system's settings as the simulated provider takes them;
// its Boot is left to the group's lifecycle.launch.boot.
func (s System) Infra() simprov.Infra {
	return simprov.Infra{BootJitter: s.BootJitter, LaunchFailure: s.LaunchFailure, MaxBooting: s.MaxBooting, Throttle: s.Throttle}
}

// LoadWorld reads a world file: strictly decoded (unknown keys are
// errors), defaults applied, every problem reported with its line.
func LoadWorld(name string, data []byte) (World, error) {
	var w World
	if err := config.Decode(name, data, &w); err != nil {
		return World{}, err
	}
	return w, nil
}
