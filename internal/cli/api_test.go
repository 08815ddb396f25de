package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/fleet"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/server"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// fakeBackend is a daemon with one group, web (max 5), and one instance,
// web-1; the group boom fails inside (500).
type fakeBackend struct {
	terminated *daemon.TerminateRequest
	protected  bool
	pushed     map[string]map[string]float64 // group → signal → value, by Push and PushMany
	pushedAt   time.Time
}

func (*fakeBackend) Leader() store.Leader                { return store.Leader{Self: true} }
func (*fakeBackend) Registry() http.Handler              { return http.NotFoundHandler() }
func (*fakeBackend) RegistryStatus() daemon.RegistryView { return daemon.RegistryView{} }

var _ server.Backend = (*fakeBackend)(nil)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func (f *fakeBackend) view() daemon.GroupView {
	return daemon.GroupView{Name: "web", Min: 1, Max: 5, Desired: 2,
		Fleet: &fleet.Status{Desired: 2, InService: 2, Conditions: []string{
			"3 launches failed in a row (last: exit status 1); next attempt after 12:01:00",
			"instance web-2: drain request failed 3 times (last: 503); next try after 12:01:00",
		}},
		Decision: &daemon.DecisionBrief{Time: t0, Current: 2, Desired: 2, Direction: model.Hold, Reason: "queue 2 items"},
		Conditions: []string{
			"signal queue: 2 reads failed in a row since 2026-03-01T11:59:00Z (last read 1m ago): get http://q/stats: 503 Service Unavailable",
			"3 launches failed in a row (last: exit status 1); next attempt after 12:01:00",
			"instance web-2: drain request failed 3 times (last: 503); next try after 12:01:00",
		},
	}
}
func (f *fakeBackend) Groups() []daemon.GroupView { return []daemon.GroupView{f.view()} }
func (f *fakeBackend) Group(name string) (daemon.GroupView, error) {
	switch name {
	case "web":
		return f.view(), nil
	case "boom":
		return daemon.GroupView{}, errors.New("store: disk on fire")
	}
	return daemon.GroupView{}, fmt.Errorf("group %q: %w", name, daemon.ErrNotFound)
}
func (f *fakeBackend) instance(group, id string) (model.Instance, error) {
	if _, err := f.Group(group); err != nil {
		return model.Instance{}, err
	}
	if id != "web-1" {
		return model.Instance{}, fmt.Errorf("instance %q: %w", id, daemon.ErrNotFound)
	}
	return model.Instance{ID: id, Group: group, State: model.InService, Protected: f.protected,
		LaunchedAt: t0, StateSince: t0, Condition: "health check failing: 503"}, nil
}
func (f *fakeBackend) Instances(group string, all bool) ([]model.Instance, error) {
	in, err := f.instance(group, "web-1")
	if err != nil {
		return nil, err
	}
	// web-2's condition is among the group's too.
	draining := model.Instance{ID: "web-2", Group: group, State: model.Draining, LaunchedAt: t0, StateSince: t0,
		Condition: "drain request failed 3 times (last: 503); next try after 12:01:00"}
	return []model.Instance{in, draining}, nil
}
func (f *fakeBackend) Activities(group string, limit int) (daemon.Activities, error) {
	if _, err := f.Group(group); err != nil {
		return daemon.Activities{}, err
	}
	return daemon.Activities{
		Decisions: []store.Entry{{Seq: 1, Time: t0, Decision: []byte(`{"current":1,"desired":2,"direction":"up","reason":"queue 2 items"}`)}},
		Intents:   []store.Intent{{Seq: 1, Group: "web", Kind: store.IntentLaunch, Instance: "web-1", Created: t0, Done: true, Result: "ok"}},
		Operator: []store.Event{
			{Seq: 2, Time: t0.Add(2 * time.Minute), Action: "suspend", Detail: "suspended launch"},
			{Seq: 1, Time: t0.Add(time.Minute), Action: "scale", Detail: "desired 2 → 5 (asked 12; clamped to max 5)"},
		},
	}, nil
}
func (f *fakeBackend) Explain(group string) (model.Decision, error) {
	if _, err := f.Group(group); err != nil {
		return model.Decision{}, err
	}
	return model.Decision{Group: group, Time: t0, Desired: 2, Decider: -1}, nil
}
func (f *fakeBackend) Scale(group string, n int) (daemon.ScaleResult, error) {
	if _, err := f.Group(group); err != nil {
		return daemon.ScaleResult{}, err
	}
	if n < 0 {
		return daemon.ScaleResult{}, fmt.Errorf("desired %d: must be ≥ 0: %w", n, daemon.ErrInvalid)
	}
	res := daemon.ScaleResult{Desired: min(max(n, 1), 5), Asked: n}
	if res.Desired != n {
		res.Message = fmt.Sprintf("clamped to max %d", res.Desired)
	}
	return res, nil
}
func (f *fakeBackend) Suspend(group string, procs []string, on bool) (store.Suspended, error) {
	if _, err := f.Group(group); err != nil {
		return store.Suspended{}, err
	}
	return store.Suspended{Launch: on}, nil
}
func (f *fakeBackend) Drain(ctx context.Context, group, id string) error {
	_, err := f.instance(group, id)
	return err
}
func (f *fakeBackend) Terminate(ctx context.Context, group, id string, req daemon.TerminateRequest) (model.Instance, error) {
	in, err := f.instance(group, id)
	if err != nil {
		return in, err
	}
	f.terminated = &req
	in.State = model.Draining
	if req.Now {
		in.State = model.Terminating
	}
	return in, nil
}
func (f *fakeBackend) Protect(group, id string) (model.Instance, error) {
	if _, err := f.instance(group, id); err != nil {
		return model.Instance{}, err
	}
	f.protected = true
	return f.instance(group, id)
}
func (f *fakeBackend) Unprotect(group, id string) (model.Instance, error) {
	if _, err := f.instance(group, id); err != nil {
		return model.Instance{}, err
	}
	f.protected = false
	return f.instance(group, id)
}

// pushProblem says what is wrong with a pushed sample: web has the pushed
// signals queue and cpu.
func pushProblem(group, signal string) string {
	switch {
	case group != "web":
		return "no such group"
	case signal != "queue" && signal != "cpu":
		return "no such signal"
	}
	return ""
}

func (f *fakeBackend) Push(group string, t time.Time, values map[string]float64) error {
	if _, err := f.Group(group); err != nil {
		return err
	}
	for name := range values {
		if why := pushProblem(group, name); why != "" {
			return fmt.Errorf("signal %s: %s: %w", name, why, daemon.ErrInvalid)
		}
	}
	f.pushed, f.pushedAt = map[string]map[string]float64{group: values}, t
	return nil
}

func (f *fakeBackend) PushMany(t time.Time, values map[string]map[string]float64) error {
	be := &daemon.BatchError{}
	for _, g := range slices.Sorted(maps.Keys(values)) {
		be.Total += len(values[g])
		if pushProblem(g, "queue") != "" {
			be.Samples = append(be.Samples, daemon.SampleError{Group: g, Reason: "no such group"})
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(values[g])) {
			if p := pushProblem(g, name); p != "" {
				be.Samples = append(be.Samples, daemon.SampleError{Group: g, Signal: name, Reason: p})
			}
		}
	}
	if len(be.Samples) > 0 {
		return be
	}
	f.pushed, f.pushedAt = values, t
	return nil
}

func (f *fakeBackend) Metrics() http.Handler { return http.NotFoundHandler() }
func (f *fakeBackend) Ready() error          { return nil }
func (f *fakeBackend) Token() string         { return "s3cret" }
func (f *fakeBackend) Sources() []source.Health {
	at := time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC)
	return []source.Health{
		{Name: "prom", Kind: "prometheus", Calls: 40, Failures: 3, LastOK: at.Add(-time.Minute),
			LastError: "query: 503 Service Unavailable", ErrorAt: at, Failing: true},
		{Name: "queue", Kind: "redis", Calls: 12, LastOK: at},
		{Name: "spare", Kind: "nats"},
	}
}

// fakeAPI serves the fake backend over real HTTP.
func fakeAPI(t *testing.T) (*fakeBackend, string) {
	t.Helper()
	fb := &fakeBackend{}
	srv := httptest.NewServer(server.Handler(fb))
	t.Cleanup(srv.Close)
	return fb, srv.URL
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestExitCodes(t *testing.T) {
	_, base := fakeAPI(t)
	down := closedPort(t)
	api := []string{"--api", base, "--token", "s3cret"}
	badBatch := write(t, "bad.json", `{"groups": {"web": {"queue": 1, "mem": 2}, "nope": {"queue": 3}}}`)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // the whole of it, when set
		want   string // in stderr
	}{
		{name: "done", args: append([]string{"status", "web"}, api...), code: 0},
		{name: "API 404", args: append([]string{"scale", "nope", "--desired", "3"}, api...), code: 1,
			stderr: "ebb: group \"nope\": not found (404 Not Found)\n"},
		{name: "API 400", args: append([]string{"scale", "web", "--desired", "-1"}, api...), code: 1, want: "must be ≥ 0: invalid request (400 Bad Request)"},
		{name: "API 401", args: []string{"scale", "web", "--desired", "3", "--api", base, "--token", "guess"}, code: 1, want: "a valid bearer token is required (401 Unauthorized)"},
		{name: "API 500", args: append([]string{"activities", "boom"}, api...), code: 1, stderr: "ebb: store: disk on fire (500 Internal Server Error)\n"},
		{name: "unknown flag", args: append([]string{"status", "--bogus"}, api...), code: 2, want: "unknown flag: --bogus"},
		{name: "missing argument", args: append([]string{"terminate", "web"}, api...), code: 2, want: "accepts 2 arg(s), received 1"},
		{name: "too many arguments", args: append([]string{"status", "web", "api"}, api...), code: 2, want: "accepts at most 1 arg(s)"},
		{name: "no --desired", args: append([]string{"scale", "web"}, api...), code: 2, want: "pass --desired N"},
		{name: "bad --api", args: []string{"status", "--api", "127.0.0.1:7070"}, code: 2, want: `--api "127.0.0.1:7070": want a URL such as http://127.0.0.1:7070`},
		{name: "unknown command", args: []string{"stauts"}, code: 2, want: `unknown command "stauts"`},
		{name: "unreachable", args: []string{"status", "--api", down}, code: 3,
			stderr: "ebb: cannot reach ebb at " + down + " (connection refused); is ebb run running? set --api or EBB_API\n"},
		{name: "unreachable change", args: []string{"terminate", "web", "web-1", "--api", down}, code: 3, want: "ebb: cannot reach ebb at " + down + " (connection refused)"},
		{name: "push not a number", args: append([]string{"push", "web", "queue=abc", "cpu=0.6"}, api...), code: 2, stderr: "ebb: queue=abc: not a number\n"},
		{name: "push without values", args: append([]string{"push", "web"}, api...), code: 2, want: "pass GROUP SIGNAL=VALUE... (or --file FILE)"},
		{name: "push bad --time", args: append([]string{"push", "web", "queue=1", "--time", "noon"}, api...), code: 2, want: `--time "noon": want RFC3339`},
		{name: "push --file missing", args: append([]string{"push", "--file", "/nonexistent/batch.json"}, api...), code: 2, want: "no such file or directory"},
		{name: "push API 404", args: append([]string{"push", "nope", "queue=1"}, api...), code: 1, stderr: "ebb: group \"nope\": not found (404 Not Found)\n"},
		{name: "push API 400", args: append([]string{"push", "web", "mem=1"}, api...), code: 1, want: `signal mem: no such signal: invalid request (400 Bad Request)`},
		{name: "push batch refused", args: append([]string{"push", "--file", badBatch}, api...), code: 1,
			stderr: "ebb: batch refused, none of its 3 samples applied: group nope: no such group; group web, signal mem: no such signal (400 Bad Request)\n"},
		{name: "push unreachable", args: []string{"push", "web", "queue=1", "--api", down}, code: 3, want: "ebb: cannot reach ebb at " + down},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := run(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, errs)
			}
			if tt.stderr != "" && errs != tt.stderr {
				t.Fatalf("stderr %q, want %q", errs, tt.stderr)
			}
			if !strings.Contains(errs, tt.want) {
				t.Fatalf("stderr %q lacks %q", errs, tt.want)
			}
			for _, bad := range []string{"ebb: ebb", "ebb api", `Get "`, `Post "`, "dial tcp"} {
				if strings.Contains(errs, bad) {
					t.Fatalf("stderr %q has %q", errs, bad)
				}
			}
		})
	}
}

// --json prints what the API answered, byte for byte.
func TestJSONPrintsTheAnswer(t *testing.T) {
	_, base := fakeAPI(t)
	batch := write(t, "batch.json", `{"groups": {"web": {"queue": 12, "cpu": 0.5}}}`)
	tests := []struct {
		args         []string
		method, path string
		body         string
	}{
		{args: []string{"status"}, method: "GET", path: "/v1/groups"},
		{args: []string{"status", "--sources"}, method: "GET", path: "/v1/sources"},
		{args: []string{"status", "web"}, method: "GET", path: "/v1/groups/web"},
		{args: []string{"instances", "web"}, method: "GET", path: "/v1/groups/web/instances?all=false"},
		{args: []string{"activities", "web", "--limit", "3"}, method: "GET", path: "/v1/groups/web/activities?limit=3"},
		{args: []string{"explain", "web"}, method: "GET", path: "/v1/groups/web/explain"},
		{args: []string{"scale", "web", "--desired", "12"}, method: "POST", path: "/v1/groups/web/scale", body: `{"desired":12}`},
		{args: []string{"suspend", "web", "launch"}, method: "POST", path: "/v1/groups/web/suspend", body: `{"processes":["launch"]}`},
		{args: []string{"resume", "web"}, method: "POST", path: "/v1/groups/web/resume"},
		{args: []string{"drain", "web", "web-1"}, method: "POST", path: "/v1/groups/web/instances/web-1/drain"},
		{args: []string{"terminate", "web", "web-1", "--now"}, method: "POST", path: "/v1/groups/web/instances/web-1/terminate", body: `{"now":true}`},
		{args: []string{"protect", "web", "web-1"}, method: "POST", path: "/v1/groups/web/instances/web-1/protect"},
		{args: []string{"unprotect", "web", "web-1"}, method: "POST", path: "/v1/groups/web/instances/web-1/unprotect"},
		{args: []string{"push", "web", "queue=12"}, method: "POST", path: "/v1/groups/web/signals", body: `{"values":{"queue":12}}`},
		{args: []string{"push", "--file", batch}, method: "POST", path: "/v1/signals", body: `{"groups":{"web":{"queue":12,"cpu":0.5}}}`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer s3cret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code, out, errs := run(t, append(tt.args, "--json", "--api", base, "--token", "s3cret")...)
			if code != 0 || out != string(want) {
				t.Fatalf("exit %d, stdout:\n%s\nwant the API's answer:\n%s%s", code, out, want, errs)
			}
		})
	}
	if _, out, _ := run(t, "status", "web", "--json", "--api", base); !strings.HasPrefix(out, "{") {
		t.Fatalf("ebb status web --json is not one object:\n%s", out)
	}
}

func TestAPICommandsOutput(t *testing.T) {
	fb, base := fakeAPI(t)
	tests := []struct {
		args  []string
		want  string
		exact bool // the whole of stdout
	}{
		{args: []string{"scale", "web", "--desired", "12"}, want: "web: desired 5 (asked 12; clamped to max 5)\n"},
		{args: []string{"scale", "web", "--desired", "3"}, want: "web: desired 3\n"},
		{args: []string{"status"}, want: `GROUP  MIN  MAX  DESIRED  READY  LAUNCHING  DRAINING  SUSPENDED  LAST DECISION
web    1    5    2        2      0          0         -          queue 2 items
web: signal queue: 2 reads failed in a row since 2026-03-01T11:59:00Z (last read 1m ago): get http://q/stats: 503 Service Unavailable
web: 3 launches failed in a row (last: exit status 1); next attempt after 12:01:00
web: instance web-2: drain request failed 3 times (last: 503); next try after 12:01:00

SOURCE  KIND        STATE    CALLS  FAILED  LAST OK               LAST ERROR
prom    prometheus  failing  40     3       2026-03-01T11:58:00Z  2026-03-01T11:59:00Z query: 503 Service Unavailable
queue   redis       ok       12     0       2026-03-01T11:59:00Z  -
spare   nats        unused   0      0       -                     -
`, exact: true},
		{args: []string{"activities", "web"}, want: `decisions (newest first):
  2026-03-01T12:00:00Z  1 → 2  up  queue 2 items
actions (newest first):
  2026-03-01T12:00:00Z  launch  web-1  ok
operator (newest first):
  2026-03-01T12:02:00Z  suspend  -  suspended launch
  2026-03-01T12:01:00Z  scale    -  desired 2 → 5 (asked 12; clamped to max 5)
`},
		{args: []string{"terminate", "web", "web-1"}, want: "web: terminating web-1 (draining); desired lowered by one\n"},
		{args: []string{"terminate", "web", "web-1", "--replace", "--now"}, want: "web: terminating web-1 (terminating); a replacement launches\n"},
		{args: []string{"protect", "web", "web-1"}, want: "web: web-1 protected from scale-in\n"},
		{args: []string{"instances", "web"}, want: "in_service (protected)"},
		{args: []string{"unprotect", "web", "web-1"}, want: "web: web-1 no longer protected\n"},
		{args: []string{"push", "web", "queue=120", "cpu=0.6"}, want: "web: pushed queue=120 cpu=0.6\n", exact: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := run(t, append(tt.args, "--api", base, "--token", "s3cret")...)
			if code != 0 || !strings.Contains(out, tt.want) || (tt.exact && out != tt.want) {
				t.Fatalf("exit %d, stdout:\n%s\nwant:\n%s%s", code, out, tt.want, errs)
			}
		})
	}
	if want := (daemon.TerminateRequest{Replace: true, Now: true}); fb.terminated == nil || *fb.terminated != want {
		t.Fatalf("terminate asked %+v, want %+v", fb.terminated, want)
	}
	if fb.protected {
		t.Fatal("still protected after unprotect")
	}
}

// Against a real daemon: ebb scale says when it clamped, and scale,
// suspend and resume are in ebb activities, newest first, with their effect.
func TestOperatorActionsInActivities(t *testing.T) {
	dir := t.TempDir()
	path := write(t, "ebb.yaml", fmt.Sprintf(`store: {path: %s/ebb.db}
api: {listen: "127.0.0.1:0"}
groups:
  - name: web
    capacity: {min: 1, max: 10}
    interval: 1h
    signals: {want: {stale: 1h}}
    policies: [{queue: {signal: want, per_instance: 1}}]
`, dir))
	d := startDaemon(t, path, "s3cret")
	defer d.stop()
	api := []string{"--api", d.c.Base, "--token", "s3cret"}
	steps := []struct {
		args []string
		want string
	}{
		{args: []string{"scale", "web", "--desired", "12"}, want: "web: desired 10 (asked 12; clamped to max 10)\n"},
		{args: []string{"scale", "web", "--desired", "3"}, want: "web: desired 3\n"},
		{args: []string{"suspend", "web", "launch"}, want: "web: suspended: launch\n"},
		{args: []string{"resume", "web"}, want: "web: suspended: -\n"},
	}
	for _, s := range steps {
		if code, out, errs := run(t, append(s.args, api...)...); code != 0 || out != s.want {
			t.Fatalf("ebb %s: exit %d, stdout %q, want %q; %s", strings.Join(s.args, " "), code, out, s.want, errs)
		}
	}
	code, out, errs := run(t, append([]string{"activities", "web"}, api...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	_, operator, ok := strings.Cut(out, "operator (newest first):\n")
	if !ok {
		t.Fatalf("no operator section:\n%s", out)
	}
	lines := strings.Split(strings.TrimRight(operator, "\n"), "\n")
	// The first decision may run between the steps, so the values scaled
	// from are not checked.
	wants := []string{"resume   -  resumed all", "suspend  -  suspended launch", "→ 3", "→ 10 (asked 12; clamped to max 10)"}
	if len(lines) != len(wants) {
		t.Fatalf("%d operator lines, want %d:\n%s", len(lines), len(wants), operator)
	}
	for i, want := range wants {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q lacks %q", i, lines[i], want)
		}
	}
}
