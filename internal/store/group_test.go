package store

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/google/go-cmp/cmp"
)

func TestGroupState(t *testing.T) {
	full := GroupState{
		Desired:   3,
		LastScale: t0,
		LastUp:    t0.Add(-time.Minute),
		Suspended: Suspended{Launch: true},
		Engine:    json.RawMessage(`{"window":[1,2]}`),
	}
	tests := []struct {
		name      string
		put       *GroupState // nil: nothing stored
		group     string
		want      GroupState
		wantFound bool
		wantErr   string
	}{
		{name: "absent", group: "web"},
		{name: "round trip", put: &full, group: "web", want: full, wantFound: true},
		{name: "zero state is still found", put: &GroupState{}, group: "web", wantFound: true},
		{name: "invalid engine memory", put: &GroupState{Engine: json.RawMessage(`{`)}, group: "web", wantErr: "engine memory is not valid JSON"},
		{name: "empty group", put: &GroupState{}, group: "", wantErr: "put state of group : group name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			if tt.put != nil {
				err := s.Update(func(tx *Tx) error { return tx.PutGroupState(tt.group, *tt.put) })
				checkErr(t, err, tt.wantErr)
			}
			mustView(t, s, func(tx *Tx) error {
				got, found, err := tx.GroupState(tt.group)
				if err != nil {
					t.Fatal(err)
				}
				if found != tt.wantFound {
					t.Errorf("found = %v, want %v", found, tt.wantFound)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("state (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

// The JSON is the file format: a renamed tag would lose state on upgrade.
func TestGroupStateJSON(t *testing.T) {
	tests := []struct {
		name string
		st   GroupState
		want string
	}{
		{name: "zero", want: `{"desired":0,"suspended":{"launch":false,"terminate":false}}`},
		{
			name: "full",
			st: GroupState{
				Desired: 2, LastScale: t0, LastUp: t0, LastDown: t0,
				Suspended: Suspended{Launch: true, Terminate: true},
				Engine:    json.RawMessage(`{"a":1}`),
			},
			want: `{"desired":2,"last_scale":"2025-03-01T12:00:00Z","last_up":"2025-03-01T12:00:00Z","last_down":"2025-03-01T12:00:00Z","suspended":{"launch":true,"terminate":true},"engine":{"a":1}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.st)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGroups(t *testing.T) {
	tests := []struct {
		name  string
		setup func(tx *Tx) error
		want  []string
	}{
		{name: "empty store", setup: func(*Tx) error { return nil }},
		{
			name: "state or instance counts; journal, signals and deleted instances do not",
			setup: func(tx *Tx) error {
				return firstErr(
					tx.PutGroupState("web", GroupState{Desired: 1}),
					tx.PutInstance(model.Instance{ID: "i-1", Group: "api"}),
					appendDecision(tx, "journal-only"),
					tx.AppendSamples("signals-only", t0, map[string]float64{"cpu": 1}),
					tx.PutInstance(model.Instance{ID: "i-1", Group: "deleted"}),
					tx.DeleteInstance("deleted", "i-1"),
					tx.PutGroupState("Zeta", GroupState{}),
				)
			},
			want: []string{"Zeta", "api", "web"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			mustUpdate(t, s, tt.setup)
			mustView(t, s, func(tx *Tx) error {
				got, err := tx.Groups()
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("groups (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

func appendDecision(tx *Tx, group string) error {
	_, err := tx.AppendDecision(group, t0, json.RawMessage(`{}`))
	return err
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestPutInstance(t *testing.T) {
	full := model.Instance{
		ID: "i-1", Group: "web", Zone: "a", Addr: "127.0.0.1:8080",
		State: model.InService, Protected: true,
		Process:    &model.Process{PID: 42, StartTime: 7},
		LaunchedAt: t0, ReadyAt: t0.Add(time.Second), StateSince: t0.Add(time.Second),
		HeartbeatAt: t0.Add(2 * time.Second), Reason: "ready",
	}
	tests := []struct {
		name    string
		inst    model.Instance
		wantErr string
	}{
		{name: "every field round trips", inst: full},
		{name: "empty group", inst: model.Instance{ID: "i-1"}, wantErr: `put instance "i-1" in group "": group name is empty`},
		{name: "empty id", inst: model.Instance{Group: "web"}, wantErr: `put instance "" in group "web": instance id is empty`},
		{name: "both empty", inst: model.Instance{}, wantErr: "group name is empty\ninstance id is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			err := s.Update(func(tx *Tx) error { return tx.PutInstance(tt.inst) })
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			mustView(t, s, func(tx *Tx) error {
				got, found, err := tx.Instance(tt.inst.Group, tt.inst.ID)
				if err != nil || !found {
					t.Fatalf("Instance: found=%v err=%v", found, err)
				}
				if diff := cmp.Diff(tt.inst, got); diff != "" {
					t.Errorf("instance (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

func TestInstance(t *testing.T) {
	s := openTemp(t, Options{})
	inst := model.Instance{ID: "i-1", Group: "web", State: model.Pending, LaunchedAt: t0}
	mustUpdate(t, s, func(tx *Tx) error { return tx.PutInstance(inst) })
	tests := []struct {
		name      string
		group, id string
		want      model.Instance
		wantFound bool
	}{
		{name: "present", group: "web", id: "i-1", want: inst, wantFound: true},
		{name: "other id", group: "web", id: "i-2"},
		{name: "other group", group: "api", id: "i-1"},
		{name: "empty id", group: "web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustView(t, s, func(tx *Tx) error {
				got, found, err := tx.Instance(tt.group, tt.id)
				if err != nil {
					t.Fatal(err)
				}
				if found != tt.wantFound {
					t.Errorf("found = %v, want %v", found, tt.wantFound)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("instance (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

func TestInstances(t *testing.T) {
	tests := []struct {
		name    string
		put     []model.Instance
		group   string
		wantIDs []string
	}{
		{name: "unknown group", group: "web"},
		{
			name: "by launch time, then id; other groups left out",
			put: []model.Instance{
				{ID: "c", Group: "web", LaunchedAt: t0},
				{ID: "a", Group: "web", LaunchedAt: t0.Add(time.Minute)},
				{ID: "b", Group: "web", LaunchedAt: t0},
				{ID: "z", Group: "web", LaunchedAt: t0.Add(-time.Hour)},
				{ID: "x", Group: "api", LaunchedAt: t0},
			},
			group:   "web",
			wantIDs: []string{"z", "b", "c", "a"},
		},
		{
			name: "replacing keeps one record",
			put: []model.Instance{
				{ID: "a", Group: "web", State: model.Pending, LaunchedAt: t0},
				{ID: "a", Group: "web", State: model.InService, LaunchedAt: t0},
			},
			group:   "web",
			wantIDs: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			mustUpdate(t, s, func(tx *Tx) error {
				for _, inst := range tt.put {
					if err := tx.PutInstance(inst); err != nil {
						return err
					}
				}
				return nil
			})
			mustView(t, s, func(tx *Tx) error {
				got, err := tx.Instances(tt.group)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, inst := range got {
					ids = append(ids, inst.ID)
				}
				if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
					t.Errorf("ids (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

func TestDeleteInstance(t *testing.T) {
	tests := []struct {
		name      string
		group, id string
		wantIDs   []string
	}{
		{name: "present", group: "web", id: "a", wantIDs: []string{"b"}},
		{name: "absent id is not an error", group: "web", id: "nope", wantIDs: []string{"a", "b"}},
		{name: "absent group is not an error", group: "api", id: "a", wantIDs: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			mustUpdate(t, s, func(tx *Tx) error {
				return firstErr(
					tx.PutInstance(model.Instance{ID: "a", Group: "web", LaunchedAt: t0}),
					tx.PutInstance(model.Instance{ID: "b", Group: "web", LaunchedAt: t0}),
				)
			})
			mustUpdate(t, s, func(tx *Tx) error { return tx.DeleteInstance(tt.group, tt.id) })
			mustView(t, s, func(tx *Tx) error {
				got, err := tx.Instances("web")
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, inst := range got {
					ids = append(ids, inst.ID)
				}
				if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
					t.Errorf("ids (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

// Stored is what a read returns after PutInstance, to the time zone and
// the monotonic reading: the same whether it found the record decodes as
// itself or decoded it.
func TestStoredIsTheDecodedRecord(t *testing.T) {
	// Every field is of a kind decodesAsItself knows about.
	known := map[reflect.Type]bool{
		reflect.TypeFor[string](): true, reflect.TypeFor[model.InstanceState](): true, reflect.TypeFor[bool](): true,
		reflect.TypeFor[time.Time](): true, reflect.TypeFor[*model.Process](): true,
	}
	for f := range reflect.TypeFor[model.Instance]().Fields() {
		if !known[f.Type] {
			t.Fatalf("model.Instance.%s is a %s: teach decodesAsItself how it decodes", f.Name, f.Type)
		}
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	base := model.Instance{ID: "w-1", Group: "w", Zone: "a", Addr: "10.0.0.1:80", State: model.Draining, Protected: true,
		Process: &model.Process{PID: 42, StartTime: 1 << 60}, LaunchedAt: t0, ReadyAt: t0.Add(time.Minute),
		StateSince: t0.Add(90*time.Second + 7), Reason: "scale-in: <oldest> & more", Condition: "drain failed"}
	for _, tc := range []struct {
		name   string
		change func(*model.Instance)
		itself bool
	}{
		{"UTC, as a fake clock's", func(*model.Instance) {}, true},
		{"zero times, no process", func(in *model.Instance) {
			in.LaunchedAt, in.ReadyAt, in.StateSince, in.HeartbeatAt, in.Process = time.Time{}, time.Time{}, time.Time{}, time.Time{}, nil
		}, true},
		{"the real clock's reading", func(in *model.Instance) { in.HeartbeatAt = time.Now() /* only Now carries one */ }, false},
		{"a zone", func(in *model.Instance) { in.StateSince = t0.In(paris) }, false},
		{"a zone at UTC's offset", func(in *model.Instance) { in.ReadyAt = t0.In(time.FixedZone("UTC", 0)) }, false},
		{"invalid UTF-8", func(in *model.Instance) { in.Reason = "exit \xff\xfe" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			in.Process = &model.Process{PID: 42, StartTime: 1 << 60}
			tc.change(&in)
			if got := decodesAsItself(in); got != tc.itself {
				t.Fatalf("decodesAsItself = %v, want %v", got, tc.itself)
			}
			v, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var want model.Instance
			if err := json.Unmarshal(v, &want); err != nil {
				t.Fatal(err)
			}
			got, err := Stored(in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) { // to the unexported fields of time.Time
				t.Fatalf("Stored = %#v\nwant    %#v", got, want)
			}
			if in.Process != nil && got.Process == in.Process {
				t.Fatal("Stored shares the process with its argument")
			}
		})
	}
}

// The store writes an instance's times as text rather than through
// time.Time's MarshalJSON: what it writes must decode exactly as the
// instance's own JSON does.
func TestInstanceEncoding(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	times := []time.Time{{}, t0, t0.Add(7), time.Now(), t0.In(paris), t0.In(time.FixedZone("", -3*3600-1800))}
	strs := []string{"", "w-1", "<b>&", "exit \xff\xfe", "\u2028\u2029", "tab\tnl\n\x00", "日本語"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		s := func() string { return strs[r.IntN(len(strs))] }
		tm := func() time.Time { return times[r.IntN(len(times))] }
		in := model.Instance{ID: s(), Group: s(), Zone: s(), Addr: s(), State: model.InstanceState(s()), Protected: r.IntN(2) == 0,
			LaunchedAt: tm(), ReadyAt: tm(), StateSince: tm(), HeartbeatAt: tm(), Reason: s(), Condition: s()}
		if r.IntN(2) == 0 {
			in.Process = &model.Process{PID: r.IntN(1 << 20), StartTime: r.Uint64()}
		}
		decode := func(v []byte, err error) model.Instance {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			var out model.Instance
			if err := json.Unmarshal(v, &out); err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got, want := decode(encodeInstance(in)), decode(json.Marshal(in)); !reflect.DeepEqual(got, want) {
			t.Fatalf("%#v\nstored as %#v\nits JSON  %#v", in, got, want)
		}
	}
	// A time JSON cannot hold is refused as its JSON refuses it.
	far := model.Instance{ID: "w-1", Group: "w", LaunchedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := encodeInstance(far); err == nil {
		t.Error("an instance launched in the year 10000 was encoded")
	}
}

// The fields that write a record's times as text shadow the record's
// times, with the same names and options.
func TestTextTimesShadowTimes(t *testing.T) {
	for _, c := range []struct{ record, written reflect.Type }{
		{reflect.TypeFor[model.Instance](), reflect.TypeFor[instanceJSON]()},
		{reflect.TypeFor[Intent](), reflect.TypeFor[intentJSON]()},
	} {
		shadowed := 0
		for f := range c.written.Fields() {
			if f.Anonymous {
				continue
			}
			orig, ok := c.record.FieldByName(f.Name)
			if !ok || orig.Tag != f.Tag || orig.Type != reflect.TypeFor[time.Time]() || f.Type != reflect.TypeFor[textTime]() {
				t.Errorf("%s.%s (%s) shadows no time of %s with the same tag", c.written.Name(), f.Name, f.Tag, c.record)
			}
			shadowed++
		}
		for f := range c.record.Fields() {
			if f.Type == reflect.TypeFor[time.Time]() {
				shadowed--
			}
		}
		if shadowed != 0 {
			t.Errorf("%s leaves a time of %s to time.Time's JSON", c.written.Name(), c.record)
		}
	}
}

// What the store writes of an intent decodes exactly as its own JSON.
func TestIntentEncoding(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	times := []time.Time{{}, t0, t0.Add(7), time.Now(), t0.In(paris)}
	strs := []string{"", "w", "<b>&", "exit \xff", "日本語"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		s := func() string { return strs[r.IntN(len(strs))] }
		in := Intent{Seq: r.Uint64(), Group: s(), Instance: s(), Kind: IntentKind(s()), Created: times[r.IntN(len(times))],
			Done: r.IntN(2) == 0, DoneAt: times[r.IntN(len(times))], Result: s()}
		var got, want Intent
		v, err := encodeIntent(in)
		if err != nil {
			t.Fatal(err)
		}
		w, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(json.Unmarshal(v, &got), json.Unmarshal(w, &want)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%#v\nstored as %#v\nits JSON  %#v", in, got, want)
		}
	}
}
