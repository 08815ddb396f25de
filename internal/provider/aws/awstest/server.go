// Package awstest is a small, stateful stand-in for the AWS Auto Scaling,
// EC2 and ECS APIs, for tests: an HTTP server on loopback speaking their
// wire protocols (Auto Scaling's query protocol with XML answers, EC2's
// own query protocol, ECS's JSON 1.1) for the calls ebb makes, so the real
// aws-sdk-go-v2 clients talk to it. No AWS emulator covers those services
// here.
//
// It holds Auto Scaling groups (instances with lifecycle states and
// scale-in protection, desired/min/max, terminate lifecycle hooks and their
// waiting actions; EC2's DescribeInstances reads the same instances, with
// a private IP and launch time each) and ECS clusters (container instances with task counts,
// services with a desired count and tasks, tasks with scale-in
// protection). It does nothing on its own: Converge plays the controllers
// (launch up to desired, finish terminations), or ScheduleAfter has the
// ECS service scheduler act right after a given call. Faults are injected per action: Throttle answers the next
// N calls with a throttling error, Hang holds them until the client gives
// up. Every call is logged with its parameters.
package awstest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Call is one request the server answered (or refused).
type Call struct {
	Action string
	Params url.Values     // Auto Scaling and EC2: the form body
	JSON   map[string]any // ECS: the decoded body
}

// Server is the fake AWS endpoint. All three APIs share its URL.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	now      time.Time
	groups   map[string]*Group
	clusters map[string]*Cluster
	calls    []Call
	throttle map[string]int // action → calls left to throttle
	hang     map[string]bool
	fail     map[string]int    // action → calls left to answer 500
	schedule map[string]bool   // ECS action → play the scheduler after it
	refuse   map[string]string // ECS task ID → UpdateTaskProtection failure reason
	next     int               // ID counter
}

// New starts a server on loopback. Stop it with Stop.
func New() *Server {
	s := &Server{
		now:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		groups:   map[string]*Group{},
		clusters: map[string]*Cluster{},
		throttle: map[string]int{},
		hang:     map[string]bool{},
		fail:     map[string]int{},
		schedule: map[string]bool{},
		refuse:   map[string]string{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the endpoint to give the SDK clients.
func (s *Server) URL() string { return s.srv.URL }

// Stop closes the server.
func (s *Server) Stop() { s.srv.Close() }

// Throttle makes the next n calls of action fail with the API's
// throttling error: HTTP 400 Throttling (Auto Scaling),
// ThrottlingException (ECS); HTTP 503 RequestLimitExceeded (EC2).
func (s *Server) Throttle(action string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle[action] = n
}

// Fail makes the next n calls of action fail with HTTP 500.
func (s *Server) Fail(action string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[action] = n
}

// Hang makes calls of action wait until the client gives up.
func (s *Server) Hang(action string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang[action] = on
}

// Calls returns the calls of action so far ("" for all).
func (s *Server) Calls(action string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if action == "" || c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// Advance moves the server's clock (launch and creation times).
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.now.Add(d)
}

func (s *Server) id(prefix string) string {
	s.next++
	return fmt.Sprintf("%s%017x", prefix, s.next)
}

// apiError is an error answer.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func validation(format string, args ...any) *apiError {
	return &apiError{status: 400, code: "ValidationError", msg: fmt.Sprintf(format, args...)}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		action, ok := strings.CutPrefix(target, ecsTarget)
		if !ok {
			http.Error(w, "unknown target "+target, 400)
			return
		}
		s.serveECS(w, r, action, body)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "not a query request", 400)
		return
	}
	switch form.Get("Version") {
	case "2011-01-01":
		s.serveASG(w, r, form)
	case ec2Version:
		s.serveEC2(w, r, form)
	default:
		http.Error(w, "not an Auto Scaling or EC2 query request", 400)
	}
}

// fault applies an injected fault to action, logging the call: the error
// to answer with (throttle, the API's own, when throttled), or ok to go on. A hung call returns when the
// client gives up.
func (s *Server) fault(r *http.Request, c Call, throttle apiError) (*apiError, bool) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	hang := s.hang[c.Action]
	var e *apiError
	switch {
	case s.throttle[c.Action] > 0:
		s.throttle[c.Action]--
		e = &throttle
	case s.fail[c.Action] > 0:
		s.fail[c.Action]--
		e = &apiError{status: 500, code: "InternalFailure", msg: "internal failure"}
	}
	s.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return nil, false
	}
	return e, e == nil
}
