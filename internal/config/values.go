package config

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// scalar is implemented by config types that decode themselves from one YAML
// node. The decoder calls it instead of walking the type; a returned error is
// reported at the node's position.
type scalar interface {
	decodeNode(n *yaml.Node) error
	// schema is the JSON Schema fragment describing the accepted values.
	schema() map[string]any
}

// Duration is a time.Duration written like "30s", "5m" or "1h30m".
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return model.FormatDuration(time.Duration(d)) }

// MarshalText renders the duration as in a config file.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Duration) decodeNode(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a duration such as 30s or 5m")
	}
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("must be a duration such as 30s or 5m, not %q", n.Value)
	}
	if v < 0 {
		return fmt.Errorf("must not be negative")
	}
	*d = Duration(v)
	return nil
}

func (*Duration) schema() map[string]any {
	return map[string]any{
		"type":    "string",
		"pattern": `^0$|^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`,
	}
}

// MissingMode says what a policy does when a signal it reads is missing.
type MissingMode int

// Missing-data modes.
const (
	MissingHold     MissingMode = iota // recommend the current capacity
	MissingScaleOut                    // recommend one more than current
	MissingTreatAs                     // use Missing.Value for the signal
	MissingFallback                    // recommend Missing.Fallback
)

// Missing is the missing-data mode: "hold", "scale_out", {treat_as: X} or
// {fallback: N}.
type Missing struct {
	Mode     MissingMode
	Value    float64 // with MissingTreatAs
	Fallback int     // with MissingFallback
}

func (m Missing) String() string {
	switch m.Mode {
	case MissingScaleOut:
		return "scale_out"
	case MissingTreatAs:
		return "treat_as: " + model.FormatNum(m.Value)
	case MissingFallback:
		return "fallback: " + strconv.Itoa(m.Fallback)
	default:
		return "hold"
	}
}

func (m *Missing) decodeNode(n *yaml.Node) error {
	const want = "must be hold, scale_out, {treat_as: NUMBER} or {fallback: INSTANCES}"
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Value {
		case "hold":
			*m = Missing{Mode: MissingHold}
		case "scale_out":
			*m = Missing{Mode: MissingScaleOut}
		default:
			return fmt.Errorf("%s, not %q", want, n.Value)
		}
		return nil
	case yaml.MappingNode:
		if len(n.Content) != 2 {
			return fmt.Errorf("%s", want)
		}
		k, v := n.Content[0], n.Content[1]
		switch k.Value {
		case "treat_as":
			f, err := strconv.ParseFloat(v.Value, 64)
			if err != nil || v.Kind != yaml.ScalarNode || math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("treat_as must be a finite number, not %q", v.Value)
			}
			*m = Missing{Mode: MissingTreatAs, Value: f}
		case "fallback":
			i, err := strconv.Atoi(v.Value)
			if err != nil || v.Kind != yaml.ScalarNode || i < 0 {
				return fmt.Errorf("fallback must be a whole number of instances ≥ 0, not %q", v.Value)
			}
			*m = Missing{Mode: MissingFallback, Fallback: i}
		default:
			return fmt.Errorf("%s; unknown key %q", want, k.Value)
		}
		return nil
	}
	return fmt.Errorf("%s", want)
}

func (*Missing) schema() map[string]any {
	return map[string]any{
		"oneOf": []any{
			map[string]any{"type": "string", "enum": []any{"hold", "scale_out"}},
			map[string]any{"type": "object", "additionalProperties": false, "required": []any{"treat_as"},
				"properties": map[string]any{"treat_as": map[string]any{"type": "number"}}},
			map[string]any{"type": "object", "additionalProperties": false, "required": []any{"fallback"},
				"properties": map[string]any{"fallback": map[string]any{"type": "integer", "minimum": 0}}},
		},
	}
}

// MarshalText renders the mode as in a config file.
func (m Missing) MarshalText() ([]byte, error) { return []byte(m.String()), nil }
