package exec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// schemaVersion is the version of the JSON exchanged with the commands.
const schemaVersion = 1

// op is one of the three operations, as named in the schema.
type op string

const (
	opObserve    op = "observe"
	opSetDesired op = "set_desired"
	opRemove     op = "remove"
)

// request is what every command reads on stdin.
type request struct {
	Version int      `json:"version"`
	Group   string   `json:"group"`
	Op      op       `json:"op"`
	Desired *int     `json:"desired,omitempty"` // set_desired only
	Victims []string `json:"victims,omitempty"` // remove only
}

// observed is what the observe command prints.
type observed struct {
	Version   *int       `json:"version"`
	Desired   *int       `json:"desired"`
	Instances []instance `json:"instances"`
	Min       *int       `json:"min"`
	Max       *int       `json:"max"`
}

type instance struct {
	ID         string `json:"id"`
	Addr       string `json:"addr"`
	Zone       string `json:"zone"`
	Ready      bool   `json:"ready"`
	Leaving    bool   `json:"leaving"`
	LaunchedAt string `json:"launched_at"`
	Protected  bool   `json:"protected"`
}

// done is what set_desired and remove may print (or print nothing).
type done struct {
	Version *int `json:"version"`
}

// strict decodes out as exactly one JSON object with no unknown fields
// into v.
func strict(out []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(out))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON value")
	}
	return nil
}

// jsonProblem rewords encoding/json's errors to name the field.
func jsonProblem(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		f := te.Field
		if f == "" {
			f = "the output"
		}
		return fmt.Errorf("%s: a JSON %s where %s is wanted", f, te.Value, jsonType(te.Type.Kind().String()))
	case errors.As(err, &se):
		return fmt.Errorf("not JSON: %v (at byte %d)", se, se.Offset)
	case errors.Is(err, io.EOF):
		return errors.New("empty, want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("not JSON: it ends early")
	}
	// Unknown fields: "json: unknown field \"x\"".
	return errors.New(trimJSON(err.Error()))
}

func jsonType(kind string) string {
	switch kind {
	case "int", "int64", "ptr":
		return "an integer"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "struct":
		return "an object"
	}
	return kind
}

func trimJSON(s string) string {
	if len(s) > 6 && s[:6] == "json: " {
		return s[6:]
	}
	return s
}

func checkVersion(v *int) error {
	if v == nil {
		return fmt.Errorf("version: missing, want %d", schemaVersion)
	}
	if *v != schemaVersion {
		return fmt.Errorf("version: %d, want %d (this ebb speaks schema version %d)", *v, schemaVersion, schemaVersion)
	}
	return nil
}

// parseObserved checks the observe command's output against schema
// version 1 and returns every problem found.
func parseObserved(out []byte) (provider.Observed, error) {
	var o observed
	if err := strict(out, &o); err != nil {
		return provider.Observed{}, err
	}
	var errs []error
	if err := checkVersion(o.Version); err != nil {
		return provider.Observed{}, err // the rest means something else in another version
	}
	obs := provider.Observed{Min: -1, Max: -1, Instances: make([]provider.Instance, 0, len(o.Instances))}
	switch {
	case o.Desired == nil:
		errs = append(errs, errors.New("desired: missing"))
	case *o.Desired < 0:
		errs = append(errs, fmt.Errorf("desired: %d, want ≥ 0", *o.Desired))
	default:
		obs.Desired = *o.Desired
	}
	for _, b := range []struct {
		key string
		v   *int
		to  *int
	}{{"min", o.Min, &obs.Min}, {"max", o.Max, &obs.Max}} {
		if b.v == nil {
			continue
		}
		if *b.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %d, want ≥ 0 or no %s", b.key, *b.v, b.key))
			continue
		}
		*b.to = *b.v
	}
	if obs.Min >= 0 && obs.Max >= 0 && obs.Min > obs.Max {
		errs = append(errs, fmt.Errorf("min: %d is above max %d", obs.Min, obs.Max))
	}
	seen := make(map[string]int, len(o.Instances))
	for i, in := range o.Instances {
		at := fmt.Sprintf("instances[%d]", i)
		if in.ID == "" {
			errs = append(errs, fmt.Errorf("%s.id: missing", at))
		} else if j, dup := seen[in.ID]; dup {
			errs = append(errs, fmt.Errorf("%s.id: %q is also instances[%d].id", at, in.ID, j))
		} else {
			seen[in.ID] = i
		}
		var launched time.Time
		if in.LaunchedAt == "" {
			errs = append(errs, fmt.Errorf("%s.launched_at: missing", at))
		} else if t, err := time.Parse(time.RFC3339, in.LaunchedAt); err != nil || t.IsZero() {
			errs = append(errs, fmt.Errorf("%s.launched_at: %q is not an RFC 3339 time", at, in.LaunchedAt))
		} else {
			launched = t
		}
		obs.Instances = append(obs.Instances, provider.Instance{
			ID: in.ID, Addr: in.Addr, Zone: in.Zone, Ready: in.Ready, Leaving: in.Leaving,
			LaunchedAt: launched, Protected: in.Protected,
		})
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return provider.Observed{}, errors.New(strings.Join(msgs, "; "))
	}
	return obs, nil
}

// parseDone checks what set_desired or remove printed: nothing, or
// {"version": 1}.
func parseDone(out []byte) error {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil
	}
	var d done
	if err := strict(out, &d); err != nil {
		return err
	}
	return checkVersion(d.Version)
}
