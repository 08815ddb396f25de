package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// fakeAPI is a loopback server speaking the Kubernetes API's wire protocol
// for the few requests the provider makes on a Deployment "web" in
// "default" — discovery, the scale (with resourceVersions), a Pod list and
// Pod patches — and failing them as a test says.
type fakeAPI struct {
	mu       sync.Mutex
	replicas int
	rv       int
	requests []string // "METHOD PATH"
	// fault, when it returns true, has answered the request itself.
	fault func(w http.ResponseWriter, r *http.Request, n int) bool
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	n := len(f.requests)
	fault := f.fault
	f.mu.Unlock()
	if fault != nil && fault(w, r, n) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	const scalePath = "/apis/apps/v1/namespaces/default/deployments/web/scale"
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "GET" && r.URL.Path == "/apis/apps":
		io.WriteString(w, `{"kind":"APIGroup","apiVersion":"v1","name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}`)
	case r.Method == "GET" && r.URL.Path == "/apis/apps/v1":
		io.WriteString(w, `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1","resources":[
			{"name":"deployments","singularName":"deployment","namespaced":true,"kind":"Deployment","verbs":["get","list","update"]},
			{"name":"deployments/scale","singularName":"","namespaced":true,"group":"autoscaling","version":"v1","kind":"Scale","verbs":["get","patch","update"]}]}`)
	case r.Method == "GET" && r.URL.Path == scalePath:
		f.writeScale(w)
	case r.Method == "PUT" && r.URL.Path == scalePath:
		var sc struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
			Spec struct {
				Replicas int `json:"replicas"`
			} `json:"spec"`
		}
		if err := json.NewDecoder(r.Body).Decode(&sc); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if sc.Metadata.ResourceVersion != fmt.Sprint(f.rv) {
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the object has been modified","reason":"Conflict","code":409}`)
			return
		}
		f.replicas, f.rv = sc.Spec.Replicas, f.rv+1
		f.writeScale(w)
	case r.Method == "GET" && r.URL.Path == "/api/v1/namespaces/default/pods":
		io.WriteString(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[`+
			pod("web-a")+","+pod("web-b")+","+pod("web-c")+`]}`)
	case r.Method == "PATCH" && strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/default/pods/"):
		io.WriteString(w, pod(strings.TrimPrefix(r.URL.Path, "/api/v1/namespaces/default/pods/")))
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
	}
}

func pod(name string) string {
	return fmt.Sprintf(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":%q,"namespace":"default","uid":"uid-%s","creationTimestamp":"2026-01-01T00:00:00Z","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"x"}]},"status":{"phase":"Running","podIP":"10.0.0.1"}}`, name, name)
}

func (f *fakeAPI) writeScale(w http.ResponseWriter) {
	fmt.Fprintf(w, `{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"web","namespace":"default","resourceVersion":"%d"},"spec":{"replicas":%d},"status":{"replicas":%d,"selector":"app=web"}}`,
		f.rv, f.replicas, f.replicas)
}

func (f *fakeAPI) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

// openFake opens a provider on a fakeAPI through a kubeconfig file, with a
// fake clock that sleeps at once and reports each sleep.
func openFake(t *testing.T, f *fakeAPI, timeout time.Duration) (provider.Capacity, <-chan time.Duration) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	text := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %q}}]\nusers: [{name: u, user: {token: not-a-secret}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n", srv.URL)
	if err := os.WriteFile(kc, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := config.Defaults(new(Config))
	if err != nil {
		t.Fatal(err)
	}
	c := d.(*Config)
	c.Kubeconfig, c.Timeout, c.ZoneLabel, c.QPS, c.Burst = kc, config.Duration(timeout), "", 1000, 1000
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	clk.SetInstant(true)
	sleeps := clk.Notify(100)
	return openProvider(t, c, "web", openOpts{clock: clk}), sleeps
}

func drain(ch <-chan time.Duration) []time.Duration {
	var out []time.Duration
	for {
		select {
		case d := <-ch:
			out = append(out, d)
		default:
			return out
		}
	}
}

// Failing answers are retried a bounded number of times, with backoff and
// full jitter, never sooner than a Retry-After asks; client-go's own
// retries (ten per Retry-After) do not add to them; what cannot succeed
// by retrying is not retried.
func TestFaults(t *testing.T) {
	status := func(code int, retryAfter string) func(w http.ResponseWriter, r *http.Request, n int) bool {
		return func(w http.ResponseWriter, r *http.Request, n int) bool {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(code)
			io.WriteString(w, http.StatusText(code))
			return true
		}
	}
	tests := []struct {
		name      string
		fault     func(w http.ResponseWriter, r *http.Request, n int) bool
		wantErr   string // "" for success
		wantCalls int
		// checkSleeps checks the waits between tries.
		checkSleeps func(t *testing.T, sleeps []time.Duration)
	}{
		{
			name: "500 every time", fault: status(500, ""),
			wantErr: "(4 tries)", wantCalls: 4,
			checkSleeps: func(t *testing.T, s []time.Duration) {
				if len(s) != 3 || s[0] > 200*time.Millisecond || s[1] > 400*time.Millisecond || s[2] > 800*time.Millisecond {
					t.Errorf("sleeps %v, want 3 within [0,200ms], [0,400ms], [0,800ms]", s)
				}
			},
		},
		{
			name: "429 with Retry-After every time", fault: status(429, "2"),
			wantErr: "(4 tries)", wantCalls: 4,
			checkSleeps: func(t *testing.T, s []time.Duration) {
				if diff := cmp.Diff([]time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}, s); diff != "" {
					t.Errorf("sleeps (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "503 with an hour's Retry-After is capped", fault: status(503, "3600"),
			wantErr: "(4 tries)", wantCalls: 4,
			checkSleeps: func(t *testing.T, s []time.Duration) {
				if diff := cmp.Diff([]time.Duration{maxRetryAfter, maxRetryAfter, maxRetryAfter}, s); diff != "" {
					t.Errorf("sleeps (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "429 twice, then answers",
			fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
				return n <= 2 && status(429, "1")(w, r, n)
			},
			wantCalls: 2 + 4, // two refusals; discovery (2), scale, pods
			checkSleeps: func(t *testing.T, s []time.Duration) {
				if diff := cmp.Diff([]time.Duration{time.Second, time.Second}, s); diff != "" {
					t.Errorf("sleeps (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "403 is not retried", fault: status(403, ""),
			wantErr: "Forbidden", wantCalls: 1,
			checkSleeps: func(t *testing.T, s []time.Duration) {
				if len(s) != 0 {
					t.Errorf("sleeps %v, want none", s)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{replicas: 3, rv: 1, fault: tt.fault}
			p, sleeps := openFake(t, f, 5*time.Second)
			_, err := p.Observe(t.Context())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("observe: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("observe: %v; want an error with %q", err, tt.wantErr)
			}
			if got := len(f.calls()); got != tt.wantCalls {
				t.Errorf("%d requests, want %d: %v", got, tt.wantCalls, f.calls())
			}
			tt.checkSleeps(t, drain(sleeps))
			if err != nil && strings.Contains(err.Error(), "not-a-secret") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

// A server that never answers costs each try its timeout, and the call
// ends after the bounded tries; a caller's deadline ends it sooner.
func TestHangingServer(t *testing.T) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	hang := func(w http.ResponseWriter, r *http.Request, n int) bool {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
		return true
	}
	f := &fakeAPI{fault: hang}
	p, _ := openFake(t, f, 100*time.Millisecond)
	start := time.Now()
	_, err := p.Observe(t.Context())
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "(4 tries)") {
		t.Errorf("observe: %v; want 4 tries ending in a deadline", err)
	}
	if n := len(f.calls()); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s; want about 4 × 100ms", d)
	}

	f = &fakeAPI{fault: hang}
	p, _ = openFake(t, f, time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := p.SetDesired(ctx, 4); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("set desired: %v; want the caller's deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s after a 200ms deadline", d)
	}
}

// A scale update whose answer is lost (a 500 after the write landed) is
// retried, conflicts with itself, and is taken as done: the replicas are
// lowered once for a victim, not twice.
func TestLostAnswerLowersOnce(t *testing.T) {
	f := &fakeAPI{replicas: 3, rv: 7}
	var puts atomic.Int32
	f.fault = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method != "PUT" {
			return false
		}
		if puts.Add(1) > 1 {
			return false
		}
		// Let the write land, then lose its answer.
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, r)
		w.WriteHeader(http.StatusInternalServerError)
		return true
	}
	p, _ := openFake(t, f, 5*time.Second)
	if err := p.Remove(t.Context(), []provider.Victim{{ID: "web-b"}}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	replicas := f.replicas
	f.mu.Unlock()
	if replicas != 2 {
		t.Errorf("replicas %d, want 2: %v", replicas, f.calls())
	}
	var patched []string
	for _, c := range f.calls() {
		if strings.HasPrefix(c, "PATCH ") {
			patched = append(patched, c)
		}
	}
	if diff := cmp.Diff([]string{"PATCH /api/v1/namespaces/default/pods/web-b"}, patched); diff != "" {
		t.Errorf("patches (-want +got):\n%s", diff)
	}
}
