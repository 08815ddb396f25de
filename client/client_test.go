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
