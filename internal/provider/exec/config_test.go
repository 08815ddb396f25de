package exec

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

func TestValidate(t *testing.T) {
	ok := func() *Config {
		return &Config{
			Observe:    []string{"/srv/bin/group", "observe", "{{.Group}}"},
			SetDesired: []string{"/srv/bin/group", "scale"},
			Remove:     []string{"/srv/bin/group", "remove"},
			Picks:      picksEbb, Timeout: config.Duration(30 * time.Second), Tries: 3,
			Env: map[string]config.Secret{"TOKEN": {Env: "GROUP_TOKEN"}},
		}
	}
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // the problems, as "key: message"
	}{
		{name: "valid", change: func(*Config) {}},
		{name: "no commands", change: func(c *Config) { c.Observe, c.SetDesired, c.Remove = nil, nil, []string{""} },
			want: []string{
				"observe: required: the program and its arguments",
				"set_desired: required: the program and its arguments",
				"remove: required: the program and its arguments",
			}},
		{name: "instance fields", change: func(c *Config) { c.Remove = []string{"rm", "{{.ID}}"} },
			want: []string{`remove[1]: may use only {{.Group}}: template: remove[1]:1:2: executing "remove[1]" at <.ID>: can't evaluate field ID in type exec.groupOnly`}},
		{name: "bad template", change: func(c *Config) { c.Observe = []string{"{{.Group"} },
			want: []string{`observe[0]: invalid template: template: observe[0]:1: unclosed action`}},
		{name: "reserved and bad env", change: func(c *Config) {
			c.Env = map[string]config.Secret{"EBB_OP": {Value: "x"}, "A=B": {Value: "x"}, "T": {Env: "X", File: "/f"}}
		}, want: []string{
			`env: "A=B" is not a variable name`,
			"env.EBB_OP: set by ebb for every run; choose another name",
			"env.T: exactly one of value, env and file, not 2",
		}},
		{name: "limits and picks", change: func(c *Config) { c.Timeout, c.Tries, c.Picks = 0, 11, "random" },
			want: []string{
				`picks: must be ebb or system, not "random"`,
				"timeout: must be > 0, not 0s",
				"tries: must be 1 to 10, not 11",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.change(c)
			var got []string
			for _, e := range flatten(c.Validate()) {
				var ke *config.KeyError
				if !errors.As(e, &ke) {
					t.Errorf("%v is not a config.Problem", e)
				}
				got = append(got, e.Error())
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// TestOpenRenders checks that the kind renders the commands for the group
// and opens the Picker only for picks: system.
func TestOpenRenders(t *testing.T) {
	c := &Config{
		Observe: []string{"obs", "{{.Group}}"}, SetDesired: []string{"set", "--group={{.Group}}"}, Remove: []string{"rm"},
		Picks: picksEbb, Timeout: config.Duration(time.Second), Tries: 1,
	}
	p, err := Kind().Open(c, provider.Deps{Group: "web"})
	if err != nil {
		t.Fatal(err)
	}
	pp, ok := p.(*Provider)
	if !ok {
		t.Fatalf("picks: ebb opened a %T", p)
	}
	want := map[op][]string{opObserve: {"obs", "web"}, opSetDesired: {"set", "--group=web"}, opRemove: {"rm"}}
	if d := cmp.Diff(want, pp.argv); d != "" {
		t.Errorf("rendered commands (-want +got):\n%s", d)
	}
	c.Picks = picksSystem
	if p, err = Kind().Open(c, provider.Deps{Group: "web"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(provider.Picker); !ok {
		t.Errorf("picks: system opened a %T, not a Picker", p)
	}
	if _, err := Kind().Open(&Config{}, provider.Deps{Group: "web"}); err == nil {
		t.Error("opened an empty config")
	}
}

// TestPick checks that Pick names the first listed instances that are not
// leaving.
func TestPick(t *testing.T) {
	obs := provider.Observed{Instances: []provider.Instance{{ID: "c"}, {ID: "b", Leaving: true}, {ID: "a"}, {ID: "d"}}}
	p := &Picking{}
	for n, want := range map[int][]string{0: nil, 1: {"c"}, 2: {"c", "a"}, 5: {"c", "a", "d"}} {
		if d := cmp.Diff(want, p.Pick(obs, n)); d != "" {
			t.Errorf("pick %d (-want +got):\n%s", n, d)
		}
	}
}

// FuzzParseObserved checks that any output either fails with an error or
// gives a state that keeps the schema's promises.
func FuzzParseObserved(f *testing.F) {
	f.Add([]byte(`{"version": 1, "desired": 2, "instances": [{"id": "a", "addr": "10.0.0.1:80", "zone": "z", "ready": true, "leaving": false, "launched_at": "2026-01-01T00:00:00Z", "protected": true}], "min": 1, "max": 9}`))
	f.Add([]byte(`{"version": 1, "desired": 0}`))
	f.Add([]byte(`{"version": 2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, out []byte) {
		obs, err := parseObserved(out)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		if obs.Desired < 0 || obs.Min < -1 || obs.Max < -1 || (obs.Min >= 0 && obs.Max >= 0 && obs.Min > obs.Max) {
			t.Fatalf("out of range: %+v", obs)
		}
		seen := map[string]bool{}
		for _, in := range obs.Instances {
			if in.ID == "" || seen[in.ID] || in.LaunchedAt.IsZero() {
				t.Fatalf("instance %+v: want a unique ID and a launch time", in)
			}
			seen[in.ID] = true
		}
	})
}
