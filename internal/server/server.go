// Package server is ebb's HTTP API: JSON under /v1/, Prometheus metrics on
// /metrics, /healthz and /readyz, and the dashboard's page at /. Reads are open; every mutation needs the
// bearer token, compared in constant time. Request bodies are limited and
// decoded strictly: a bad body is a 400 with a message and changes nothing.
package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/dashboard"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// Backend is what the API serves; *daemon.Daemon implements it.
type Backend interface {
	Groups() []daemon.GroupView
	Group(name string) (daemon.GroupView, error)
	Instances(group string, all bool) ([]model.Instance, error)
	Activities(group string, limit int) (daemon.Activities, error)
	Explain(group string) (model.Decision, error)
	Scale(group string, n int) (daemon.ScaleResult, error)
	Suspend(group string, procs []string, on bool) (store.Suspended, error)
	Drain(ctx context.Context, group, id string) error
	Terminate(ctx context.Context, group, id string, req daemon.TerminateRequest) (model.Instance, error)
	Protect(group, id string) (model.Instance, error)
	Unprotect(group, id string) (model.Instance, error)
	Push(group string, t time.Time, values map[string]float64) error
	PushMany(t time.Time, values map[string]map[string]float64) error
	Sources() []source.Health
	Metrics() http.Handler
	Ready() error
	Token() string
	// Leader says who leads the replicas sharing the store (Self for a
	// daemon on a file).
	Leader() store.Leader
	// Registry serves the service registry's REST API (Eureka's) under
	// /eureka.
	Registry() http.Handler
	// RegistryStatus is the registry's instances, leases and
	// self-preservation, for GET /v1/registry.
	RegistryStatus() daemon.RegistryView
}

var _ Backend = (*daemon.Daemon)(nil)

const maxBody = 1 << 20

// maxPushManyBody limits POST /v1/signals alone: 50,000 groups of three
// signals take about 3 MiB of JSON.
const maxPushManyBody = 32 << 20

// Handler returns the API.
func Handler(b Backend) http.Handler {
	s := &server{b: b}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", b.Metrics())
	mux.HandleFunc("GET /v1/groups", s.groups)
	mux.HandleFunc("GET /v1/sources", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.b.Sources()) })
	mux.HandleFunc("GET /v1/groups/{group}", s.group)
	mux.HandleFunc("GET /v1/groups/{group}/instances", s.instances)
	mux.HandleFunc("GET /v1/groups/{group}/activities", s.activities)
	mux.HandleFunc("GET /v1/groups/{group}/explain", s.explain)
	mux.HandleFunc("POST /v1/groups/{group}/scale", s.auth(s.scale))
	mux.HandleFunc("POST /v1/groups/{group}/suspend", s.auth(s.suspend(true)))
	mux.HandleFunc("POST /v1/groups/{group}/resume", s.auth(s.suspend(false)))
	mux.HandleFunc("POST /v1/groups/{group}/instances/{id}/drain", s.auth(s.drain))
	mux.HandleFunc("POST /v1/groups/{group}/instances/{id}/terminate", s.auth(s.terminate))
	mux.HandleFunc("POST /v1/groups/{group}/instances/{id}/protect", s.auth(s.protect(s.b.Protect)))
	mux.HandleFunc("POST /v1/groups/{group}/instances/{id}/unprotect", s.auth(s.protect(s.b.Unprotect)))
	mux.HandleFunc("POST /v1/groups/{group}/signals", s.auth(s.push))
	mux.HandleFunc("POST /v1/signals", s.auth(s.pushMany))
	mux.HandleFunc("GET /v1/leader", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.b.Leader()) })
	// Eureka clients send no token: registering is open, like Eureka's
	// own server, and the API listens on loopback unless told otherwise.
	mux.Handle("/eureka/", b.Registry())
	mux.HandleFunc("GET /v1/registry", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.b.RegistryStatus()) })
	s.mountDashboard(mux)
	// The page and its assets: "/" and "/assets/…" only, so every other
	// path stays the API's (or another mount's) to answer.
	page := dashboard.Handler()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /assets/", page)
	return s.leading(mux)
}

// Headers of a replicated ebb's answers.
const (
	// LeaderHeader names the replica that leads, on every answer.
	LeaderHeader = "Ebb-Leader"
	// forwardedHeader marks a request a follower sent on to the leader, so
	// that it is never sent on twice.
	forwardedHeader = "Ebb-Forwarded-By"
)

// leading marks every answer with who leads and sends every request that
// changes something (scale, suspend, drain, push, …: every POST) to the
// leader when this ebb follows; reads are answered here, from the state
// the leader wrote.
func (s *server) leading(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := s.b.Leader()
		if l.ID != "" {
			w.Header().Set(LeaderHeader, l.ID)
		}
		if l.Self || r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if l.Starting {
			// Served here, it would reach the following daemon, which
			// acts on nothing: acknowledged and lost.
			w.Header().Set("Retry-After", "1")
			fail(w, http.StatusServiceUnavailable, "this ebb is taking the lead and not acting on it yet: retry shortly")
			return
		}
		if by := r.Header.Get(forwardedHeader); by != "" {
			fail(w, http.StatusServiceUnavailable, "forwarded by %s to this ebb, which does not lead (it follows %q): retry", by, l.ID)
			return
		}
		target, err := url.Parse(l.Addr)
		if l.Addr == "" || l.Expired || err != nil {
			w.Header().Set("Retry-After", "1")
			fail(w, http.StatusServiceUnavailable, "this ebb follows and no leader is reachable now (last known: %q at %q): retry shortly", l.ID, l.Addr)
			return
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.SetXForwarded()
				pr.Out.Header.Set(forwardedHeader, "follower")
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				w.Header().Set("Retry-After", "1")
				fail(w, http.StatusBadGateway, "this ebb follows; the leader %s at %s did not answer: %v", l.ID, l.Addr, err)
			},
		}
		proxy.ServeHTTP(w, r)
	})
}

type server struct{ b Backend }

// Error is the body of every error answer.
type Error struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, Error{Error: fmt.Sprintf(format, args...)})
}

// failErr maps the backend's errors to status codes.
func failErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, daemon.ErrNotFound):
		fail(w, http.StatusNotFound, "%v", err)
	case errors.Is(err, daemon.ErrInvalid):
		fail(w, http.StatusBadRequest, "%v", err)
	default:
		fail(w, http.StatusInternalServerError, "%v", err)
	}
}

// auth requires the bearer token.
func (s *server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		want := s.b.Token()
		if want == "" {
			fail(w, http.StatusForbidden, "mutations are disabled: no API token is configured (api.token_file or EBB_TOKEN)")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ebb"`)
			fail(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		next(w, r)
	}
}

// bodyRule says whether a request must have a body.
type bodyRule int

const (
	bodyRequired bodyRule = iota
	bodyOptional          // none leaves v as it is
)

// decode reads a JSON body strictly into v.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeBody(w, r, v, bodyRequired)
}

// decodeBody reads a JSON body strictly into v; with bodyOptional an empty
// body is no change.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, rule bodyRule) bool {
	return decodeLimited(w, r, v, rule, maxBody)
}

// decodeLimited is decodeBody with a body of at most limit bytes.
func decodeLimited(w http.ResponseWriter, r *http.Request, v any, rule bodyRule, limit int64) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if rule == bodyOptional && errors.Is(err, io.EOF) {
			return true
		}
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			fail(w, http.StatusBadRequest, "invalid body: larger than the route's limit of %d MiB", limit>>20)
			return false
		}
		fail(w, http.StatusBadRequest, "invalid body: %v", err)
		return false
	}
	// More would let a stray "]" or "}" through; only the end may follow.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		fail(w, http.StatusBadRequest, "invalid body: data after the JSON value")
		return false
	}
	return true
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Ready(); err != nil {
		fail(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	io.WriteString(w, "ok\n")
}

func (s *server) groups(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.b.Groups())
}

func (s *server) group(w http.ResponseWriter, r *http.Request) {
	g, err := s.b.Group(r.PathValue("group"))
	if err != nil {
		failErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *server) instances(w http.ResponseWriter, r *http.Request) {
	all := r.URL.Query().Get("all") == "true"
	insts, err := s.b.Instances(r.PathValue("group"), all)
	if err != nil {
		failErr(w, err)
		return
	}
	if insts == nil {
		insts = []model.Instance{}
	}
	writeJSON(w, http.StatusOK, insts)
}

func (s *server) activities(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if q := r.URL.Query().Get("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > 10000 {
			fail(w, http.StatusBadRequest, "limit must be a whole number from 1 to 10000, not %q", q)
			return
		}
		limit = n
	}
	a, err := s.b.Activities(r.PathValue("group"), limit)
	if err != nil {
		failErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// explain answers the latest decision: JSON, or text with ?format=text.
func (s *server) explain(w http.ResponseWriter, r *http.Request) {
	d, err := s.b.Explain(r.PathValue("group"))
	if err != nil {
		failErr(w, err)
		return
	}
	if r.URL.Query().Get("format") == "text" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		d.WriteText(w)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// ScaleRequest is the body of POST …/scale.
type ScaleRequest struct {
	Desired *int `json:"desired"`
}

func (s *server) scale(w http.ResponseWriter, r *http.Request) {
	var req ScaleRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Desired == nil {
		fail(w, http.StatusBadRequest, "invalid body: desired is required")
		return
	}
	got, err := s.b.Scale(r.PathValue("group"), *req.Desired)
	if err != nil {
		failErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, got)
}

// SuspendRequest is the body of POST …/suspend and …/resume.
type SuspendRequest struct {
	Processes []string `json:"processes"`
}

func (s *server) suspend(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req SuspendRequest
		if !decodeBody(w, r, &req, bodyOptional) {
			return
		}
		got, err := s.b.Suspend(r.PathValue("group"), req.Processes, on)
		if err != nil {
			failErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, got)
	}
}

func (s *server) drain(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	if err := s.b.Drain(ctx, r.PathValue("group"), r.PathValue("id")); err != nil {
		failErr(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"draining": r.PathValue("id")})
}

// terminate drains an instance and lowers desired by one, or keeps it
// ({"replace": true}); {"now": true} stops it now. The body is optional.
func (s *server) terminate(w http.ResponseWriter, r *http.Request) {
	var req daemon.TerminateRequest
	if !decodeBody(w, r, &req, bodyOptional) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	in, err := s.b.Terminate(ctx, r.PathValue("group"), r.PathValue("id"), req)
	if err != nil {
		failErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

// protect serves …/protect and …/unprotect with the backend's call.
func (s *server) protect(call func(group, id string) (model.Instance, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in, err := call(r.PathValue("group"), r.PathValue("id"))
		if err != nil {
			failErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, in)
	}
}

// PushRequest is the body of POST …/signals.
type PushRequest struct {
	Time   time.Time          `json:"time"`
	Values map[string]float64 `json:"values"`
}

func (s *server) push(w http.ResponseWriter, r *http.Request) {
	var req PushRequest
	if !decode(w, r, &req) {
		return
	}
	if err := s.b.Push(r.PathValue("group"), req.Time, req.Values); err != nil {
		failErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// PushManyRequest is the body of POST /v1/signals: many groups' values,
// all taken at Time (zero means now).
type PushManyRequest struct {
	Time   time.Time                     `json:"time"`
	Groups map[string]map[string]float64 `json:"groups"`
}

// PushManyAnswer is what POST /v1/signals answers when it kept the batch.
type PushManyAnswer struct {
	Groups  int `json:"groups"`
	Samples int `json:"samples"`
}

// RefusedAnswer is the 400 of a POST /v1/signals with bad samples: Error
// names the first few, Refused lists them all.
type RefusedAnswer struct {
	Error   string               `json:"error"`
	Refused []daemon.SampleError `json:"refused"`
}

func (s *server) pushMany(w http.ResponseWriter, r *http.Request) {
	var req PushManyRequest
	if !decodeLimited(w, r, &req, bodyRequired, maxPushManyBody) {
		return
	}
	if err := s.b.PushMany(req.Time, req.Groups); err != nil {
		var be *daemon.BatchError
		if errors.As(err, &be) {
			writeJSON(w, http.StatusBadRequest, RefusedAnswer{Error: err.Error(), Refused: be.Samples})
			return
		}
		failErr(w, err)
		return
	}
	n := 0
	for _, vals := range req.Groups {
		n += len(vals)
	}
	writeJSON(w, http.StatusOK, PushManyAnswer{Groups: len(req.Groups), Samples: n})
}
