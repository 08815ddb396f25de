package server

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// fakeBackend records what the handlers asked of it.
type fakeBackend struct {
	token      string
	scaled     int
	pushed     map[string]float64
	pushedMany map[string]map[string]float64
	procs      []string
	terminated daemon.TerminateRequest
	protected  map[string]bool
	leader     *store.Leader // nil: this one leads
}

func (f *fakeBackend) Leader() store.Leader {
	if f.leader != nil {
		return *f.leader
	}
	return store.Leader{Self: true}
}
func (*fakeBackend) Registry() http.Handler              { return http.NotFoundHandler() }
func (*fakeBackend) RegistryStatus() daemon.RegistryView { return daemon.RegistryView{} }

func (f *fakeBackend) Groups() []daemon.GroupView { return []daemon.GroupView{{Name: "web", Max: 5}} }
func (f *fakeBackend) Group(name string) (daemon.GroupView, error) {
	if name != "web" {
		return daemon.GroupView{}, fmt.Errorf("group %q: %w", name, daemon.ErrNotFound)
	}
	return daemon.GroupView{Name: "web", Max: 5}, nil
}
func (f *fakeBackend) Instances(group string, all bool) ([]model.Instance, error) {
	_, err := f.Group(group)
	return nil, err
}
func (f *fakeBackend) Activities(group string, limit int) (daemon.Activities, error) {
	_, err := f.Group(group)
	return daemon.Activities{}, err
}
func (f *fakeBackend) Explain(group string) (model.Decision, error) {
	return model.Decision{Group: group, Desired: 3, Decider: -1}, nil
}
func (f *fakeBackend) Scale(group string, n int) (daemon.ScaleResult, error) {
	if _, err := f.Group(group); err != nil {
		return daemon.ScaleResult{}, err
	}
	if n < 0 {
		return daemon.ScaleResult{}, fmt.Errorf("desired %d: must be ≥ 0: %w", n, daemon.ErrInvalid)
	}
	res := daemon.ScaleResult{Desired: min(n, 5), Asked: n}
	if n > 5 {
		res.Message = "clamped to max 5"
	}
	f.scaled = res.Desired
	return res, nil
}

// instance answers the fake's one instance, i-1 of web.
func (f *fakeBackend) instance(group, id string) (model.Instance, error) {
	if _, err := f.Group(group); err != nil {
		return model.Instance{}, err
	}
	if id != "i-1" {
		return model.Instance{}, fmt.Errorf("instance %q: %w", id, daemon.ErrNotFound)
	}
	return model.Instance{ID: id, Group: group, State: model.InService, Protected: f.protected[id]}, nil
}

func (f *fakeBackend) Terminate(ctx context.Context, group, id string, req daemon.TerminateRequest) (model.Instance, error) {
	in, err := f.instance(group, id)
	if err != nil {
		return in, err
	}
	f.terminated = req
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
	if f.protected == nil {
		f.protected = map[string]bool{}
	}
	f.protected[id] = true
	return f.instance(group, id)
}

func (f *fakeBackend) Unprotect(group, id string) (model.Instance, error) {
	if _, err := f.instance(group, id); err != nil {
		return model.Instance{}, err
	}
	delete(f.protected, id)
	return f.instance(group, id)
}
func (f *fakeBackend) Suspend(group string, procs []string, on bool) (store.Suspended, error) {
	f.procs = procs
	return store.Suspended{Launch: on}, nil
}
func (f *fakeBackend) Drain(ctx context.Context, group, id string) error { return nil }
func (f *fakeBackend) Push(group string, t time.Time, values map[string]float64) error {
	f.pushed = values
	return nil
}

// PushMany knows every group but nope, each with the signals queue, cpu
// and backlog, and keeps a batch only when every sample is one of them.
func (f *fakeBackend) PushMany(t time.Time, values map[string]map[string]float64) error {
	if len(values) == 0 {
		return fmt.Errorf("no groups: %w", daemon.ErrInvalid)
	}
	be := &daemon.BatchError{}
	for _, g := range slices.Sorted(maps.Keys(values)) {
		if g == "nope" {
			be.Total += len(values[g])
			be.Samples = append(be.Samples, daemon.SampleError{Group: g, Reason: "no such group"})
			continue
		}
		for _, sig := range slices.Sorted(maps.Keys(values[g])) {
			be.Total++
			switch {
			case sig != "queue" && sig != "cpu" && sig != "backlog":
				be.Samples = append(be.Samples, daemon.SampleError{Group: g, Signal: sig, Reason: "no such signal"})
			}
		}
	}
	if len(be.Samples) > 0 {
		return be
	}
	f.pushedMany = values
	return nil
}

func (f *fakeBackend) Metrics() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x 1\n") })
}
func (f *fakeBackend) Ready() error {
	return fmt.Errorf("%w: no decision made yet", daemon.ErrNotReady)
}
func (f *fakeBackend) Token() string { return f.token }

func (f *fakeBackend) Sources() []source.Health {
	return []source.Health{{Name: "prom", Kind: "prometheus", Calls: 3, Failures: 1, LastError: "query: 503 Service Unavailable", Failing: true}}
}

func TestAPI(t *testing.T) {
	fb := &fakeBackend{token: "s3cret"}
	srv := httptest.NewServer(Handler(fb))
	defer srv.Close()
	tests := []struct {
		name, method, path, token, body string
		code                            int
		want                            string
	}{
		{name: "groups", method: "GET", path: "/v1/groups", code: 200, want: `"name": "web"`},
		{name: "sources", method: "GET", path: "/v1/sources", code: 200, want: `"last_error": "query: 503 Service Unavailable"`},
		{name: "unknown group", method: "GET", path: "/v1/groups/nope", code: 404, want: `group \"nope\": not found`},
		{name: "instances of unknown", method: "GET", path: "/v1/groups/nope/instances", code: 404},
		{name: "bad limit", method: "GET", path: "/v1/groups/web/activities?limit=0", code: 400, want: "limit must be a whole number"},
		{name: "explain text", method: "GET", path: "/v1/groups/web/explain?format=text", code: 200, want: "web at "},
		{name: "not ready", method: "GET", path: "/readyz", code: 503, want: "not ready: no decision made yet"},
		{name: "metrics", method: "GET", path: "/metrics", code: 200, want: "x 1"},
		{name: "no token", method: "POST", path: "/v1/groups/web/scale", body: `{"desired": 3}`, code: 401},
		{name: "wrong token", method: "POST", path: "/v1/groups/web/scale", token: "guess", body: `{"desired": 3}`, code: 401},
		{name: "scale", method: "POST", path: "/v1/groups/web/scale", token: "s3cret", body: `{"desired": 3}`, code: 200, want: `"desired": 3`},
		{name: "unknown field", method: "POST", path: "/v1/groups/web/scale", token: "s3cret", body: `{"desird": 3}`, code: 400, want: "unknown field"},
		{name: "missing desired", method: "POST", path: "/v1/groups/web/scale", token: "s3cret", body: `{}`, code: 400, want: "desired is required"},
		{name: "negative", method: "POST", path: "/v1/groups/web/scale", token: "s3cret", body: `{"desired": -1}`, code: 400, want: "must be ≥ 0"},
		{name: "two values", method: "POST", path: "/v1/groups/web/scale", token: "s3cret", body: `{"desired": 3} {}`, code: 400, want: "data after the JSON value"},
		{name: "trailing word", method: "POST", path: "/v1/groups/web/scale", token: "s3cret", body: `{"desired":3} x`, code: 400, want: "data after the JSON value"},
		{name: "trailing bracket", method: "POST", path: "/v1/groups/web/scale", token: "s3cret", body: `{"desired":3}]`, code: 400, want: "data after the JSON value"},
		{name: "trailing brace", method: "POST", path: "/v1/groups/web/scale", token: "s3cret", body: `{"desired":3}}`, code: 400, want: "data after the JSON value"},
		{name: "trailing whitespace", method: "POST", path: "/v1/groups/web/scale", token: "s3cret", body: "{\"desired\":3}\n\t ", code: 200, want: `"desired": 3`},
		{name: "not json", method: "POST", path: "/v1/groups/web/signals", token: "s3cret", body: `queue=3`, code: 400, want: "invalid body"},
		{name: "too big", method: "POST", path: "/v1/groups/web/signals", token: "s3cret", body: `{"values": {"q": 1}, "pad": "` + strings.Repeat("x", 2<<20) + `"}`, code: 400},
		{name: "push", method: "POST", path: "/v1/groups/web/signals", token: "s3cret", body: `{"values": {"queue": 12}}`, code: 204},
		{name: "suspend without body", method: "POST", path: "/v1/groups/web/suspend", token: "s3cret", code: 200, want: `"launch": true`},
		{name: "drain", method: "POST", path: "/v1/groups/web/instances/i-1/drain", token: "s3cret", code: 202},
		{name: "wrong method", method: "DELETE", path: "/v1/groups/web", code: 405},
		{name: "scale clamped", method: "POST", path: "/v1/groups/web/scale", token: "s3cret", body: `{"desired": 12}`, code: 200, want: `"desired": 5,
  "asked": 12,
  "message": "clamped to max 5"`},
		{name: "terminate without body", method: "POST", path: "/v1/groups/web/instances/i-1/terminate", token: "s3cret", code: 200, want: `"state": "draining"`},
		{name: "terminate now", method: "POST", path: "/v1/groups/web/instances/i-1/terminate", token: "s3cret", body: `{"replace": true, "now": true}`, code: 200, want: `"state": "terminating"`},
		{name: "terminate without token", method: "POST", path: "/v1/groups/web/instances/i-1/terminate", code: 401},
		{name: "terminate bad body", method: "POST", path: "/v1/groups/web/instances/i-1/terminate", token: "s3cret", body: `{"replace": "yes"}`, code: 400, want: "invalid body"},
		{name: "terminate unknown instance", method: "POST", path: "/v1/groups/web/instances/i-9/terminate", token: "s3cret", code: 404, want: `instance \"i-9\": not found`},
		{name: "terminate unknown group", method: "POST", path: "/v1/groups/nope/instances/i-1/terminate", token: "s3cret", code: 404},
		{name: "protect", method: "POST", path: "/v1/groups/web/instances/i-1/protect", token: "s3cret", code: 200, want: `"protected": true`},
		{name: "protect without token", method: "POST", path: "/v1/groups/web/instances/i-1/protect", code: 401},
		{name: "protect unknown instance", method: "POST", path: "/v1/groups/web/instances/i-9/protect", token: "s3cret", code: 404},
		{name: "unprotect", method: "POST", path: "/v1/groups/web/instances/i-1/unprotect", token: "s3cret", code: 200, want: `"id": "i-1"`},
		{name: "unprotect without token", method: "POST", path: "/v1/groups/web/instances/i-1/unprotect", token: "wrong", code: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb.scaled = -99
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.want) {
				t.Fatalf("%d %s; want %d and %q", resp.StatusCode, body, tt.code, tt.want)
			}
			if tt.code >= 400 && fb.scaled != -99 {
				t.Fatalf("a refused request changed something: scaled to %d", fb.scaled)
			}
		})
	}
	if fb.pushed["queue"] != 12 {
		t.Fatalf("pushed %v", fb.pushed)
	}
	if want := (daemon.TerminateRequest{Replace: true, Now: true}); fb.terminated != want {
		t.Fatalf("terminate asked %+v, want %+v", fb.terminated, want)
	}
	if len(fb.protected) != 0 {
		t.Fatalf("still protected after unprotect: %v", fb.protected)
	}
}

func TestMutationsRefusedWithoutAConfiguredToken(t *testing.T) {
	srv := httptest.NewServer(Handler(&fakeBackend{}))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/v1/groups/web/scale", strings.NewReader(`{"desired": 1}`))
	req.Header.Set("Authorization", "Bearer ")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}

// bodyRoutes are the routes that read a body.
var bodyRoutes = []string{
	"/v1/groups/web/scale",
	"/v1/groups/web/suspend",
	"/v1/groups/web/resume",
	"/v1/groups/web/signals",
	"/v1/groups/web/instances/i-1/terminate",
	"/v1/signals",
}

// No body, on any route that reads one, gets a 5xx or panics the server.
func FuzzBodies(f *testing.F) {
	seeds := []string{
		`{"desired": 3}`, `{"desired": 12}`, `{"desired": -1}`, `{"desired": 3} x`, `{"desired":3}]`, `{"desired": 1e400}`,
		`{"processes": ["launch"]}`, `{"processes": ["bogus"]}`, `{"processes": null}`,
		`{"values": {"queue": 12}}`, `{"values": {"queue": 1e400}}`, `{"time": "bad", "values": {}}`,
		`{"replace": true, "now": true}`, `{"replace": 1}`,
		`{"groups": {"web": {"queue": 120, "cpu": 0.6}}}`, `{"time": "2026-03-01T12:00:00Z", "groups": {"web": {"queue": 1}, "nope": {"x": 2}}}`,
		`{"groups": {"web": {}}}`, `{"groups": {"web": null}}`, `{"groups": {"web": {"queue": "1"}}}`, `{"groups": []}`, ``, ` `, `null`, `[]`, `{`,
	}
	for i := range bodyRoutes {
		for _, s := range seeds {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		h := Handler(&fakeBackend{token: "t"})
		path := bodyRoutes[int(route)%len(bodyRoutes)]
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q: status %d: %s", path, body, rec.Code, rec.Body)
		}
	})
}

func TestPushMany(t *testing.T) {
	fb := &fakeBackend{token: "s3cret"}
	srv := httptest.NewServer(Handler(fb))
	defer srv.Close()
	post := func(token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/v1/signals", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := `{"groups": {"web": {"queue": 120, "cpu": 0.6}}}`
	// 50,000 groups of three signals: over the 1 MiB other routes take.
	var big strings.Builder
	big.WriteString(`{"groups": {"web": {"queue": 1}`)
	for i := range 50000 {
		fmt.Fprintf(&big, `, "group-%05d": {"queue": 12345.678, "cpu": 0.61, "backlog": 30}`, i)
	}
	big.WriteString("}}")
	tests := []struct {
		name, token, body string
		code              int
		want              string
	}{
		{name: "no token", body: good, code: 401},
		{name: "wrong token", token: "guess", body: good, code: 401},
		{name: "bad samples", token: "s3cret", body: `{"groups": {"web": {"queue": 1, "mem": 2}, "nope": {"queue": 3}}}`, code: 400,
			want: `{
  "error": "batch refused, none of its 3 samples applied: group nope: no such group; group web, signal mem: no such signal",
  "refused": [
    {
      "group": "nope",
      "reason": "no such group"
    },
    {
      "group": "web",
      "signal": "mem",
      "reason": "no such signal"
    }
  ]
}
`},
		{name: "no groups", token: "s3cret", body: `{"groups": {}}`, code: 400, want: "no groups: invalid request"},
		{name: "unknown field", token: "s3cret", body: `{"values": {"queue": 1}}`, code: 400, want: `unknown field \"values\"`},
		{name: "not a number", token: "s3cret", body: `{"groups": {"web": {"queue": "1"}}}`, code: 400, want: "invalid body"},
		{name: "over 32 MiB", token: "s3cret", body: `{"groups": {}, "pad": "` + strings.Repeat("x", 33<<20) + `"}`, code: 400,
			want: "invalid body: larger than the route's limit of 32 MiB"},
		{name: "50,000 groups", token: "s3cret", body: big.String(), code: 200, want: `"samples": 150001`},
		{name: "push", token: "s3cret", body: `{"time": "2026-03-01T12:00:00Z", "groups": {"web": {"queue": 120, "cpu": 0.6}}}`, code: 200,
			want: "{\n  \"groups\": 1,\n  \"samples\": 2\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb.pushedMany = nil
			code, body := post(tt.token, tt.body)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Fatalf("%d %s; want %d and %q", code, body, tt.code, tt.want)
			}
			if code >= 400 && fb.pushedMany != nil {
				t.Fatalf("a refused batch was kept: %v", fb.pushedMany)
			}
		})
	}
	if want := map[string]map[string]float64{"web": {"queue": 120, "cpu": 0.6}}; !maps.EqualFunc(fb.pushedMany, want, maps.Equal) {
		t.Fatalf("pushed %v, want %v", fb.pushedMany, want)
	}
}

// A replica that won the lead but whose leading daemon is not serving yet
// refuses changes (503, retry) instead of handing them to its following
// daemon, which would acknowledge and lose them; reads are served.
func TestTakingTheLeadRefusesChanges(t *testing.T) {
	b := &fakeBackend{token: "tok", leader: &store.Leader{ID: "r2", Starting: true}}
	srv := httptest.NewServer(Handler(b))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/v1/groups/web/scale", strings.NewReader(`{"desired": 3}`))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || b.scaled != 0 {
		t.Errorf("scale while taking the lead: %d, Retry-After %q, scaled %d; want 503 with Retry-After, nothing scaled",
			resp.StatusCode, resp.Header.Get("Retry-After"), b.scaled)
	}
	resp, err = http.Get(srv.URL + "/v1/groups")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a read while taking the lead: %d, want 200", resp.StatusCode)
	}
}
