package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Job is a taken job, as POST /v1/take returns it.
type Job struct {
	ID         string    `json:"id"`
	ServiceMS  int64     `json:"service_ms"`
	EnqueuedAt time.Time `json:"enqueued_at"`
}

// SubmitRequest is the body of POST /v1/jobs.
type SubmitRequest struct {
	ServiceMS *int64 `json:"service_ms"`
}

// SubmitResponse is the body of a 201 from POST /v1/jobs.
type SubmitResponse struct {
	ID string `json:"id"`
}

// DoneRequest is the body of POST /v1/done.
type DoneRequest struct {
	ID     string `json:"id"`
	Worker string `json:"worker"`
}

// ReleaseResponse is the body of a 200 from POST /v1/release.
type ReleaseResponse struct {
	Released []string `json:"released"`
}

// ErrorResponse is the body of every 4xx and 5xx the queue sends.
type ErrorResponse struct {
	Error string `json:"error"`
}

var workerID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// CheckWorkerID reports whether id can name a worker: 1 to 64 letters,
// digits, '.', '_' or '-'.
func CheckWorkerID(id string) error {
	if !workerID.MatchString(id) {
		return fmt.Errorf("%q is not a worker id: want 1 to 64 of A-Z a-z 0-9 . _ -", id)
	}
	return nil
}

// Handler serves the queue's HTTP API. Long polls last up to MaxWait, so a
// server in front of it needs a WriteTimeout above that, or none.
func (q *Queue) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", q.handleSubmit)
	mux.HandleFunc("POST /v1/take", q.handleTake)
	mux.HandleFunc("POST /v1/done", q.handleDone)
	mux.HandleFunc("POST /v1/release", q.handleRelease)
	mux.HandleFunc("GET /v1/stats", q.handleStats)
	return mux
}

func (q *Queue) handleSubmit(w http.ResponseWriter, r *http.Request) {
	var req SubmitRequest
	if err := errors.Join(query(r, nil), decodeBody(w, r, &req)); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch {
	case req.ServiceMS == nil:
		writeError(w, http.StatusBadRequest, errors.New("service_ms: required"))
		return
	case *req.ServiceMS < 0 || *req.ServiceMS > MaxServiceMS:
		writeError(w, http.StatusBadRequest, fmt.Errorf("service_ms: %d is not between 0 and %d", *req.ServiceMS, MaxServiceMS))
		return
	}
	id, err := q.submit(*req.ServiceMS)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusCreated, SubmitResponse{ID: id})
}

func (q *Queue) handleTake(w http.ResponseWriter, r *http.Request) {
	v, err := queryAndEmptyBody(w, r, "worker", "wait")
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	worker, errW := workerParam(v)
	var wait time.Duration
	var errD error
	if s := v.Get("wait"); s != "" {
		wait, errD = time.ParseDuration(s)
		if errD != nil || wait < 0 || wait > MaxWait {
			errD = fmt.Errorf("wait: %q is not a duration between 0s and %s", s, MaxWait)
		}
	}
	if err := errors.Join(errW, errD); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	j, ok := q.take(r.Context(), worker, wait)
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, j)
	if err := http.NewResponseController(w).Flush(); err != nil {
		q.requeue(j.ID, worker)
	}
}

func (q *Queue) handleDone(w http.ResponseWriter, r *http.Request) {
	var req DoneRequest
	if err := errors.Join(query(r, nil), decodeBody(w, r, &req)); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var errs []error
	if req.ID == "" {
		errs = append(errs, errors.New("id: required"))
	}
	if err := CheckWorkerID(req.Worker); err != nil {
		errs = append(errs, fmt.Errorf("worker: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := q.done(req.ID, req.Worker); err != nil {
		writeError(w, http.StatusConflict, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (q *Queue) handleRelease(w http.ResponseWriter, r *http.Request) {
	v, err := queryAndEmptyBody(w, r, "worker")
	if err == nil {
		_, err = workerParam(v)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, ReleaseResponse{Released: q.release(v.Get("worker"))})
}

func (q *Queue) handleStats(w http.ResponseWriter, r *http.Request) {
	if err := query(r, nil); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, q.Stats())
}

func workerParam(v url.Values) (string, error) {
	if len(v["worker"]) > 1 {
		return "", errors.New("worker: given more than once")
	}
	id := v.Get("worker")
	if id == "" {
		return "", errors.New("worker: required")
	}
	if err := CheckWorkerID(id); err != nil {
		return "", fmt.Errorf("worker: %w", err)
	}
	return id, nil
}

// query parses the query string and rejects parameters not in allowed.
func query(r *http.Request, allowed []string) error {
	_, err := queryValues(r, allowed)
	return err
}

func queryValues(r *http.Request, allowed []string) (url.Values, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	var unknown []string
	for k := range v {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, fmt.Sprintf("%q", k))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("query: unknown parameter %s", strings.Join(unknown, ", "))
	}
	return v, nil
}

// queryAndEmptyBody parses the query of a request that takes no body, and
// checks it has none.
func queryAndEmptyBody(w http.ResponseWriter, r *http.Request, allowed ...string) (url.Values, error) {
	v, err := queryValues(r, allowed)
	n, errB := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if errB == nil && n > 0 {
		errB = errors.New("body: want none")
	} else if errB != nil {
		errB = fmt.Errorf("body: %w", errB)
	}
	return v, errors.Join(err, errB)
}

// decodeBody strictly decodes one JSON value of at most MaxBodyBytes.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, errT := dec.Token(); errT != io.EOF {
			err = errors.New("trailing data after the JSON value")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return fmt.Errorf("body: larger than %d bytes", MaxBodyBytes)
	case errors.Is(err, io.EOF):
		return errors.New("body: empty, want a JSON object")
	}
	return fmt.Errorf("body: %w", err)
}

func writeError(w http.ResponseWriter, status int, err error) {
	// errors.Join separates with newlines; one line reads better in JSON.
	writeJSON(w, status, ErrorResponse{Error: strings.ReplaceAll(err.Error(), "\n", "; ")})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client is gone; nothing to do
}
