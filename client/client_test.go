package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ln.Close()
	err = New(base, "").Groups(context.Background(), nil)
	var u *UnreachableError
	if !errors.As(err, &u) || u.Base != base {
		t.Fatalf("%v (%T), want an UnreachableError for %s", err, err, base)
	}
	if want := "cannot reach ebb at " + base + " (connection refused)"; err.Error() != want {
		t.Fatalf("%q, want %q", err, want)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatal("the dial error is not kept")
	}
}

func TestErrorAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error": "group \"nope\": not found"}`)
	}))
	defer srv.Close()
	err := New(srv.URL, "").Group(context.Background(), "nope", nil)
	var e *Error
	if !errors.As(err, &e) || e.Status != 404 {
		t.Fatalf("%v, want an Error with status 404", err)
	}
	if want := `group "nope": not found (404 Not Found)`; err.Error() != want {
		t.Fatalf("%q, want %q", err, want)
	}
}

func TestTerminateSendsTheRequest(t *testing.T) {
	var got struct {
		path, auth string
		body       TerminateRequest
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.auth = r.URL.Path, r.Header.Get("Authorization")
		json.NewDecoder(r.Body).Decode(&got.body)
		io.WriteString(w, `{"id": "web-1", "state": "terminating"}`)
	}))
	defer srv.Close()
	var raw json.RawMessage
	err := New(srv.URL, "tok").Terminate(context.Background(), "web", "web-1", TerminateRequest{Now: true}, &raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.path != "/v1/groups/web/instances/web-1/terminate" {
		t.Fatalf("path %s", got.path)
	}
	if got.auth != "Bearer tok" || got.body != (TerminateRequest{Now: true}) || string(raw) != `{"id": "web-1", "state": "terminating"}` {
		t.Fatalf("auth %q, body %+v, answer %s", got.auth, got.body, raw)
	}
}

func TestPushMany(t *testing.T) {
	var got struct {
		path, auth string
		body       map[string]any
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.auth = r.URL.Path, r.Header.Get("Authorization")
		got.body = nil
		json.NewDecoder(r.Body).Decode(&got.body)
		if _, bad := got.body["groups"].(map[string]any)["nope"]; bad {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error": "batch refused, none of its 2 samples applied: group nope: no such group; group web, signal mem: no such signal",
  "refused": [{"group": "nope", "reason": "no such group"}, {"group": "web", "signal": "mem", "reason": "no such signal"}]}`)
			return
		}
		io.WriteString(w, `{"groups": 2, "samples": 3}`)
	}))
	defer srv.Close()
	c := New(srv.URL, "tok")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	var ans PushManyAnswer
	err := c.PushMany(context.Background(), PushManyRequest{Time: t0, Groups: map[string]map[string]float64{
		"web": {"queue": 120, "cpu": 0.6}, "batch": {"backlog": 30},
	}}, &ans)
	if err != nil {
		t.Fatal(err)
	}
	wantBody := map[string]any{"time": "2026-03-01T12:00:00Z", "groups": map[string]any{
		"web": map[string]any{"queue": 120.0, "cpu": 0.6}, "batch": map[string]any{"backlog": 30.0},
	}}
	if got.path != "/v1/signals" || got.auth != "Bearer tok" || ans != (PushManyAnswer{Groups: 2, Samples: 3}) {
		t.Fatalf("path %s, auth %q, answer %+v", got.path, got.auth, ans)
	}
	if diff := cmp.Diff(wantBody, got.body); diff != "" {
		t.Fatalf("body (-want +got):\n%s", diff)
	}

	// No time: the field is left out, so ebb takes its own now.
	err = c.PushMany(context.Background(), PushManyRequest{Groups: map[string]map[string]float64{"nope": {"queue": 1}, "web": {"mem": 2}}}, nil)
	if _, ok := got.body["time"]; ok {
		t.Fatalf("body %v has a time", got.body)
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("%v, want an Error with status 400", err)
	}
	want := []RefusedSample{{Group: "nope", Reason: "no such group"}, {Group: "web", Signal: "mem", Reason: "no such signal"}}
	if diff := cmp.Diff(want, e.Refused); diff != "" {
		t.Fatalf("refused (-want +got):\n%s", diff)
	}
}
